version 1.0

workflow v1_0 {
  input {
    Array[File] files
  }
  scatter (f in files) {
    call count_words { input: f = f }
  }
  output {
    Array[Int] words = count_words.n
  }
}

task count_words {
  input {
    File f
  }
  command <<<
    wc -w < "~{f}" | tr -d ' '
  >>>
  output {
    Int n = read_int(stdout())
  }
}
