version 1.2

workflow v1_2 {
  input {
    Directory data
    Array[String] names = ["a", "b"]
  }
  scatter (name in names) {
    call greet { input: who = name, data = data }
  }
  output {
    Array[String] greetings = greet.greeting
    Array[Directory] dirs = greet.dir
  }
}

task greet {
  input {
    env String who
    Directory data
  }
  env String salutation = "Hi"

  command <<<
    set -euo pipefail
    mkdir -p "out_$who"
    find "~{data}" -type f | wc -l | tr -d ' ' > "out_$who/files"
    echo "$salutation $who $FROM_CONFIG"
  >>>

  output {
    String greeting = read_string(stdout())
    Directory dir = "out_" + who
  }

  requirements {
    container: "ubuntu:22.04"
  }
}
