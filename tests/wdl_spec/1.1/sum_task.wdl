version 1.1

task sum {
  input {
    Array[String]+ ints
  }

  command <<<
  printf ~{sep(" ", ints)} | awk '{tot=0; for(i=1;i<=NF;i++) tot+=$i; print tot}'
  >>>

  output {
    Int total = read_int(stdout())
  }
}
