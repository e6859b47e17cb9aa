version 1.2

task double {
  input {
    Int n
  }

  command <<< >>>

  output {
    Int d = 2 * n
  }
}

workflow test_range {
  input {
    Int i
  }

  Array[Int] indexes = range(i)
  scatter (idx in indexes) {
    call double { n = idx }
  }

  output {
    Array[Int] result = double.d
  }
}
