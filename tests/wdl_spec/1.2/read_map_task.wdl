version 1.2

task read_map {
  command <<<
    printf "key1\tvalue1\n"
    printf "key2\tvalue2\n"
  >>>

  output {
    Map[String, String] mapping = read_map(stdout())
  }
}
