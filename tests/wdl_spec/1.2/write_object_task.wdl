version 1.2

task write_object {
  input {
    Object obj
  }

  command <<<
    cut -f 1 ~{write_object(obj)}
  >>>

  output {
    Array[String] results = read_lines(stdout())
  }
}
