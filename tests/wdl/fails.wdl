version 1.0

workflow fails {
  call ok
  call fail { input: after = ok.done }
}

task ok {
  command <<<
    echo fine
  >>>
  output {
    String done = read_string(stdout())
  }
}

task fail {
  input {
    String after
  }
  command <<<
    for i in $(seq 1 30); do echo "noise line $i" >&2; done
    echo "about to fail on purpose" >&2
    exit 3
  >>>
}
