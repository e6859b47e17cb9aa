version 1.1

workflow test_floor {
  input {
    Int i1
  }

  Int i2 = i1 - 1
  Float f1 = i1
  Float f2 = i1 - 0.1

  output {
    Array[Boolean] all_true = [floor(f1) == i1, floor(f2) == i2]
  }
}
