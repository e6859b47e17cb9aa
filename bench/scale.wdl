version 1.0

# Benchmark workload of the "fargate_scale" scenario: `n` tasks in one scatter, each only
# sleeping `seconds` (0: an empty command), so the time measured is the orchestrator's per-task
# cost while many tasks wait, not work. Their output is their input (no stdout to read): the
# fake Fargate plays such a task without a process. `nonce` is fresh for every run.

workflow scale {
  input {
    Int n = 10000
    Int seconds = 0
    String nonce = ""
  }

  scatter (i in range(n)) {
    call wait { input: i = i, seconds = seconds, nonce = nonce }
  }

  output {
    Array[Int] out = wait.out
  }
}

task wait {
  input {
    Int i
    Int seconds
    String nonce
  }

  command <<<
    sleep ~{seconds}
  >>>

  output {
    Int out = i
  }

  runtime {
    cpu: 0.25
    memory: "512 MiB"
  }
}
