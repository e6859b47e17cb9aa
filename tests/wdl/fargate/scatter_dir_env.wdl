version 1.2

workflow scatter_dir_env {
  input {
    Directory data
    Array[String] names = ["a", "b", "c"]
  }
  scatter (name in names) {
    call count { input: who = name, data = data }
  }
  output {
    Array[String] lines = count.line
  }
}

task count {
  input {
    env String who
    Directory data
  }
  env String greeting = "hello"

  command <<<
    set -euo pipefail
    test ! -L "~{data}"
    n=$(find "~{data}" -type f | wc -l | tr -d ' ')
    echo "$greeting $who $n"
  >>>

  output {
    String line = read_string(stdout())
  }

  requirements {
    container: "ubuntu:22.04"
    cpu: 0.5
    memory: "1 GiB"
  }
}
