version 1.2

import "test_allow_nested_inputs.wdl"

workflow multi_nested_inputs { 
  call test_allow_nested_inputs

  hints {
    allow_nested_inputs: false
  }

  output {
    String greeting = test_allow_nested_inputs.greeting
  }
}
