version 1.0

# Each task asks for every cpu of the host: they must run one at a time.
workflow greedy {
  input {
    String log
    Int cpu
    Float seconds = 0.4
  }
  scatter (i in range(3)) {
    call hog { input: i = i, log = log, cpu = cpu, seconds = seconds }
  }
}

task hog {
  input {
    Int i
    String log
    Int cpu
    Float seconds
  }
  command <<<
    echo "t~{i} $(date +%s.%N)" >> "~{log}"
    sleep ~{seconds}
    echo "t~{i} $(date +%s.%N)" >> "~{log}"
  >>>
  runtime {
    cpu: cpu
  }
}
