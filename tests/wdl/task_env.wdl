version 1.2

# What a task's environment holds: the WDL 1.2 env declaration, the project's identity variables,
# a minimal set from the host, and nothing of the orchestrator's own (PYTHONPATH, MINIWDL__*).
task task_env {
  input {
    env String GREETING = "hi"
  }
  command <<<
    env | sort > env.txt
  >>>
  output {
    File listing = "env.txt"
  }
}
