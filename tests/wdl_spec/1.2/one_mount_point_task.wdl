version 1.2

task one_mount_point {
  command <<<
    findmnt -bno size /mnt/outputs
  >>>

  output {
    Boolean at_least_ten_gb = read_int(stdout()) >= (10 * 1024 * 1024 * 1024)
  }

  requirements {
    disks: "/mnt/outputs 10 GiB"
  }
}
