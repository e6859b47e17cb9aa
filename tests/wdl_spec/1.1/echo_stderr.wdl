version 1.1

task echo_stderr {
  command <<< >&2 printf "hello world" >>>

  output {
    File message = read_string(stderr())
  }
}
