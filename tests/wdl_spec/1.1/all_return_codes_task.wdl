version 1.1

task multi_return_code_task {
  command <<<
  exit 42
  >>>

  runtime {
    return_codes: "*"
  }
}
