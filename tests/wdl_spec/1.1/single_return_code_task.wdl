version 1.1

task single_return_code {
  command <<<
  exit 1
  >>>

  runtime {
    return_codes: 1
  }
}
