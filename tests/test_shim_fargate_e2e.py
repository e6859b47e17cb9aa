"""The shim under the ``aws_fargate`` backend with the fake Fargate: every task's command runs
through it (the RunTask override says so) with the run's own tags, a task that really allocates
160 MiB and burns 1 s of CPU gets its figures on its record, and a failing command keeps its
exit code."""

from __future__ import annotations

from pathlib import Path

import pytest
from fargate_env import FargateEnv

from chalicelib import memory_cgroup, shim
from chalicelib.fargate import ENV_RUN_TAGS
from chalicelib.states import State

pytestmark = pytest.mark.e2e

WDL = """
version 1.1
task burn {
  input { Int code = 0 }
  command <<<
    python3 - <<'PY'
    import time
    block = bytearray(160 * 1024 * 1024)
    for i in range(0, len(block), 4096):
        block[i] = 1
    start = time.process_time()
    while time.process_time() - start < 1.0:
        pass
    time.sleep(0.3)
    PY
    echo burned >&2
    exit ~{code}
  >>>
  runtime { docker: "ubuntu:22.04"  cpu: 1  memory: "2 GiB" }
}
"""


def test_fargate_tasks_run_through_the_shim_and_their_usage_is_recorded(
    fargate: FargateEnv, tmp_path: Path
) -> None:
    wdl = tmp_path / "burn.wdl"
    wdl.write_text(WDL)
    # the orchestrator passes the run's own tags on like this (``fargate.ENV_RUN_TAGS``)
    code, result = fargate.run(wdl, "code=0", **{ENV_RUN_TAGS: '{"team": "genomics"}'})
    assert code == 0, result
    (task,) = fargate.tasks()
    assert task.state == State.COMPLETE and task.usage is not None
    # a container's memory cgroup is its own where the harness can make one (as on Fargate);
    # else the containers are host processes sharing a cgroup, and /proc is sampled
    root = memory_cgroup.host_root()
    assert task.usage["memory_source"] == (f"cgroup{root.version}" if root else "proc")
    assert 160 <= task.usage["peak_memory_mib"] <= 260
    assert 0.9 <= task.usage["cpu_seconds"] <= 1.8
    (launched,) = fargate.harness.tasks.values()
    command = launched.request["overrides"]["containerOverrides"][0]["command"][0]
    assert f"/_platform/shim-{shim.DIGEST}.sh" in command and " container " in command
    tags = {t["key"]: t["value"] for t in launched.request["tags"]}
    assert tags["team"] == "genomics" and tags["miniwdl-fargate:call"] == task.call_id

    # a failing command keeps its exit code and its output through the shim
    code, result = fargate.run(wdl, "code=7")
    assert code != 0 and result["cause"]["exit_status"] == 7
    (failed,) = [t for t in fargate.tasks() if t.state == State.EXECUTOR_ERROR]
    assert failed.exit_code == 7 and failed.usage is not None and failed.usage["exit_code"] == 7
    assert Path(failed.stderr or "").read_text().strip().endswith("burned")
