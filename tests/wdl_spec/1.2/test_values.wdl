version 1.2

task add {
  input {
    Int x
    Int y
  }

  Int z = x + y

  command <<<
  echo "~{x} + ~{y} = ~{z}"
  >>>

  output {
    Int sum = z
  }
}

workflow test_values {
  input {
    Map[String, Pair[Int, Int]] str_to_ints = {
      "a": (1, 2),
      "b": (3, 4)
    }
  }

  scatter (files in values(str_to_files)) {
    call add { x=ints.left, y=ints.right }
  }

  output {
    Array[Int] sums = add.sum
  }
}
