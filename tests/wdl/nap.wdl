version 1.0

workflow nap {
  call sleep_a_minute
}

task sleep_a_minute {
  command <<<
    sleep 60
  >>>
}
