version 1.0

workflow sized {
  input {
    Float cpu = 1
    String memory = "2 GiB"
    Boolean gpu = false
  }
  call big { input: cpu = cpu, memory = memory, gpu = gpu }
}

task big {
  input {
    Float cpu
    String memory
    Boolean gpu
  }
  command <<<
    echo ok
  >>>
  runtime {
    docker: "ubuntu:22.04"
    cpu: cpu
    memory: memory
    gpu: gpu
    disks: "local-disk 50 SSD"
  }
}
