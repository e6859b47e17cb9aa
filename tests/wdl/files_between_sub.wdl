version 1.2

# The subworkflow of files_between.wdl: its File output reaches the parent's next task.

workflow nested {
  input {
    File seed
  }
  call copy_it { input: f = seed }
  output {
    File copied = copy_it.out
  }
}

task copy_it {
  input {
    File f
  }
  command <<<
    cat "~{f}" > copied.txt
    echo "sub bytes" >> copied.txt
  >>>
  output {
    File out = "copied.txt"
  }
}
