version 1.1

task serde_map_json {
  input {
    Map[String, Float] read_quality_scores
  }

  command <<<
    python <<CODE
    import json
    import sys
    with open("~{write_json(read_quality_scores)}") as j:
      d = json.load(j)
      for key in d.keys():
        d[key] += 33
      json.dump(d, sys.stdout)
    CODE
  >>>

  output {
    Map[String, Float] ascii_values = read_json(stdout())
  }

  runtime {
    container: "python:latest"
  }
}
