version 1.0

workflow preemptible {
  scatter (i in range(3)) {
    call work { input: i = i }
  }
  output {
    Array[Int] out = work.out
  }
}

task work {
  input {
    Int i
  }
  command <<<
    sleep 0.3
    echo ~{i}
  >>>
  output {
    Int out = read_int(stdout())
  }
  runtime {
    docker: "ubuntu:22.04"
    preemptible: 5
  }
}
