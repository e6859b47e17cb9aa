version 1.2

task test_gpu {
  command <<<
  lspci -nn | grep ' \[03..\]: ' | wc -l
  >>>

  output {
    Boolean at_least_one_gpu = read_int(stdout()) >= 1
  }

  requirements {
    container: "archlinux:latest"
    gpu: true
  }
}
