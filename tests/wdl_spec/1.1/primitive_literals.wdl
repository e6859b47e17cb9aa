version 1.1

task write_file_task {
  command <<<
  printf "hello" > hello.txt
  >>>

  output {
    File x = "hello.txt"
  }
}

workflow primitive_literals {
  call write_file_task

  output {
    Boolean b = true 
    Int i = 0
    Float f = 27.3
    String s = "hello, world"
    File x = write_file_task.x
  }  
}
