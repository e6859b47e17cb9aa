version 1.0

workflow stubborn {
  call ignore_term
}

task ignore_term {
  command <<<
    trap '' TERM
    sleep 300 &
    wait
  >>>
}
