version 1.0

# Benchmark workload: one trivial task, so the time measured is a run's fixed cost. `nonce` is
# fresh for every run: no call-cache hit can make it fast.

workflow one_task {
  input {
    String nonce
  }

  call echo_nonce { input: nonce = nonce }

  output {
    String out = echo_nonce.out
  }
}

task echo_nonce {
  input {
    String nonce
  }

  command <<<
    echo '~{nonce}'
  >>>

  output {
    String out = read_string(stdout())
  }
}
