version 1.1

workflow circular {
  Int i = j + 1
  Int j = i - 2
}
