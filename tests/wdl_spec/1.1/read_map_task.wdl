version 1.1

task read_map {
  command <<<
    printf "key1\tvalue1\n" >> map_file
    printf "key2\tvalue2\n" >> map_file
  >>>

  output {
    Map[String, String] mapping = read_map(stdout())
  }
}
