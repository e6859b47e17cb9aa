version 1.1

# A task that tries to change a file it did not create: the user's input, or an upstream output.
# The write must fail (the task fails), and the original must keep its bytes.
workflow write_to_input {
  input {
    File f
    Boolean upstream = false
  }
  if (upstream) {
    call make
  }
  call tamper { input: f = select_first([make.out, f]) }
}

task make {
  command <<<
    echo "upstream bytes" > out.txt
  >>>
  output {
    File out = "out.txt"
  }
}

task tamper {
  input {
    File f
  }
  command <<<
    echo tampered >> "~{f}"
  >>>
}
