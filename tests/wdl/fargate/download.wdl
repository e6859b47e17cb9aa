version 1.0

# One https:// input (miniwdl downloads it with its aria2c task first) and one task on an image
# from Docker Hub.
workflow download {
  input {
    File page
  }
  call count { input: page = page }
  output {
    Int lines = count.lines
  }
}

task count {
  input {
    File page
  }
  command <<<
    wc -l < "~{page}"
  >>>
  output {
    Int lines = read_int(stdout())
  }
  runtime {
    docker: "ubuntu:22.04"
  }
}
