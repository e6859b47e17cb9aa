version 1.2

workflow test_transpose {
  # input array is 2 rows * 3 columns
  Array[Array[Int]] input_array = [[0, 1, 2], [3, 4, 5]]
  # output array is 3 rows * 2 columns
  Array[Array[Int]] expected_output_array = [[0, 3], [1, 4], [2, 5]]

  output {
    Array[Array[Int]] out = transpose(input_array) 
    Array[Array[Int]] expected = expected_output_array
    Boolean is_true = out == expected
  }
}
