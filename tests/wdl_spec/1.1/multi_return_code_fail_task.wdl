version 1.1

task multi_return_code {
  command <<<
  exit 42
  >>>

  runtime {
    return_codes: [1, 2, 5, 10]
  }
}
