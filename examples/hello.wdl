version 1.1

# A scatter and a gather with a File output: the demo of `make demo`.
workflow hello {
  input {
    Array[String] names = ["Ada", "Grace", "Barbara"]
    String greeting = "Hello"
  }

  scatter (name in names) {
    call say_hello { input: name = name, greeting = greeting }
  }

  call gather { input: lines = say_hello.line }

  output {
    File greetings = gather.greetings
    Int count = gather.count
  }
}

task say_hello {
  input {
    String name
    String greeting
  }
  command <<<
    echo "~{greeting}, ~{name}!"
  >>>
  output {
    String line = read_string(stdout())
  }
}

task gather {
  input {
    Array[String] lines
  }
  command <<<
    cat "~{write_lines(lines)}" > greetings.txt
    wc -l < greetings.txt | tr -d ' '
  >>>
  output {
    File greetings = "greetings.txt"
    Int count = read_int(stdout())
  }
}
