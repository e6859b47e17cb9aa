version 1.2

task write_objects {
  input {
    Array[Object] obj_array
  }

  command <<<
    cut -f 1 ~{write_objects(obj_array)}
  >>>

  output {
    Array[String] results = read_lines(stdout())
  }
}
