version 1.1

workflow v1_1 {
  input {
    Array[File] files
  }
  scatter (i in range(length(files))) {
    call name_of { input: f = files[i], shard = i }
  }
  output {
    Array[String] names = name_of.name
  }
}

task name_of {
  input {
    File f
    Int shard
  }
  command <<<
    echo "shard ~{shard}: $MESSAGE" >&2
    basename "~{f}"
  >>>
  output {
    String name = read_string(stdout())
  }
}
