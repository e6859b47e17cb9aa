version 1.1

task echo_stdout {
  command <<< printf "hello world" >>>

  output {
    File message = read_string(stdout())
  }
}
