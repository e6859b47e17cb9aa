version 1.2

workflow circular {
  Int i = j + 1
  Int j = i - 2
}
