version 1.1

# A scatter and a gather that passes Files between tasks: the demo of `make demo`. Each
# say_hello writes its greeting to a file; gather reads every one of those files.
workflow hello {
  input {
    Array[String] names = ["Ada", "Grace", "Barbara"]
    String greeting = "Hello"
  }

  scatter (name in names) {
    call say_hello { input: name = name, greeting = greeting }
  }

  call gather { input: files = say_hello.greeting_file }

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
    echo "~{greeting}, ~{name}!" | tee greeting.txt
  >>>
  output {
    File greeting_file = "greeting.txt"
  }
}

task gather {
  input {
    Array[File] files
  }
  command <<<
    cat ~{sep(" ", quote(files))} > greetings.txt
    wc -l < greetings.txt | tr -d ' '
  >>>
  output {
    File greetings = "greetings.txt"
    Int count = read_int(stdout())
  }
}
