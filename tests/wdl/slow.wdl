version 1.0

workflow slow {
  scatter (i in range(2)) {
    call nap { input: i = i }
  }
}

task nap {
  input {
    Int i
  }
  command <<<
    # a child that would outlive a shell killed alone
    sleep 300 &
    wait
  >>>
}
