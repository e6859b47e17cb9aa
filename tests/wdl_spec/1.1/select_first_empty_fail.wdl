version 1.1

workflow select_first_empty_fail {
  select_first([])  # error! array is empty
}
