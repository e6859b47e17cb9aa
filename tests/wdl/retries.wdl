version 1.1

workflow retries {
  input {
    String marker
  }
  call flaky { input: marker = marker }
  call tolerated
  output {
    Int attempts = flaky.attempts
    Int tolerated_code = tolerated.code
  }
}

task flaky {
  input {
    String marker
  }
  command <<<
    if [ ! -e "~{marker}" ]; then
      echo 1 > "~{marker}"
      echo "first attempt fails" >&2
      exit 1
    fi
    echo 2
  >>>
  output {
    Int attempts = read_int(stdout())
  }
  runtime {
    maxRetries: 1
  }
}

task tolerated {
  command <<<
    echo 3
    exit 3
  >>>
  output {
    Int code = read_int(stdout())
  }
  runtime {
    returnCodes: [0, 3]
  }
}
