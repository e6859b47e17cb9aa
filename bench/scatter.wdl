version 1.0

# Benchmark workload: `n` trivial tasks in one scatter, so the time measured is per-task
# overhead (scheduling, launching, bookkeeping), not work.

workflow many {
  input {
    Int n = 200
  }

  scatter (i in range(n)) {
    call echo_int { input: i = i }
  }

  output {
    Array[Int] out = echo_int.out
  }
}

task echo_int {
  input {
    Int i
  }

  command <<<
    echo ~{i}
  >>>

  output {
    Int out = read_int(stdout())
  }
}
