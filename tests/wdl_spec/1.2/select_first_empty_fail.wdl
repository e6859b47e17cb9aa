version 1.2

workflow select_first_empty_fail {
  select_first([])  # error! array is empty
}
