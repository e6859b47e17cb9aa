version 1.0

# Benchmark workload: `n` trivial tasks in one scatter, so the time measured is per-task
# overhead (scheduling, launching, bookkeeping), not work. `nonce` is fresh for every run: no
# call-cache hit can make it fast.

workflow many {
  input {
    Int n = 200
    String nonce = ""
  }

  scatter (i in range(n)) {
    call echo_int { input: i = i, nonce = nonce }
  }

  output {
    Array[Int] out = echo_int.out
  }
}

task echo_int {
  input {
    Int i
    String nonce
  }

  command <<<
    echo ~{i} # ~{nonce}
  >>>

  output {
    Int out = read_int(stdout())
  }
}
