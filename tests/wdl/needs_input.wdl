version 1.0

workflow needs_input {
  input {
    String who
    Int times = 1
  }
  call say { input: who = who, times = times }
}

task say {
  input {
    String who
    Int times
  }
  command <<<
    for i in $(seq 1 ~{times}); do echo "~{who}"; done
  >>>
}
