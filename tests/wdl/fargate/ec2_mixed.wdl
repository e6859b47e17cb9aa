version 1.0

# One task that fits Fargate, one GPU task and one 64-vCPU task (issue 14): the first runs on
# Fargate, the other two on EC2 capacity providers; a File passes from the first to the others.
workflow ec2_mixed {
  input {
    Int gpu_preemptible = 0
  }
  call small
  call basecall { input: reads = small.reads, preemptible_tries = gpu_preemptible }
  call align { input: reads = small.reads }
  output {
    String gpus = basecall.gpus
    Int aligned = align.lines
  }
}

task small {
  command <<<
    printf 'r1\nr2\nr3\n' > reads.txt
  >>>
  output {
    File reads = "reads.txt"
  }
  runtime {
    docker: "ubuntu:22.04"
    cpu: 1
    memory: "2 GiB"
  }
}

task basecall {
  input {
    File reads
    Int preemptible_tries
  }
  command <<<
    test -s ~{reads} && echo "${NVIDIA_VISIBLE_DEVICES:-none}"
  >>>
  output {
    String gpus = read_string(stdout())
  }
  runtime {
    docker: "ubuntu:22.04"
    cpu: 4
    memory: "16 GiB"
    gpu: true
    gpuType: "nvidia-l4"
    preemptible: preemptible_tries
  }
}

task align {
  input {
    File reads
  }
  command <<<
    wc -l < ~{reads}
  >>>
  output {
    Int lines = read_int(stdout())
  }
  runtime {
    docker: "ubuntu:22.04"
    cpu: 64
    memory: "100 GiB"
  }
}
