"""Out of memory, end to end: a task that really exceeds its memory is killed (exit 137), its
record says why (ECS's ``OutOfMemoryError`` container reason), and miniwdl's retry asks for twice
the memory and succeeds; in the local mode and through the fake Fargate harness, which reports
the kill as Fargate does."""

from __future__ import annotations

from pathlib import Path

import pytest
from fargate_env import FargateEnv
from local_mode import LocalMode

from chalicelib import memory_cgroup
from chalicelib.out_of_memory import ECS_OOM_REASON
from chalicelib.states import State

pytestmark = pytest.mark.skipif(
    memory_cgroup.host_root() is None, reason="memory cgroups are not writable here"
)


def grow_wdl(memory: str, cpu: str, retries: int) -> str:
    return f"""
version 1.1
task grow {{
  input {{ Int mib }}
  command <<<
    python3 -c "import sys; x = b'x' * (~{{mib}} << 20); print(len(x) >> 20)"
  >>>
  output {{ Int got = read_int(stdout()) }}
  runtime {{ cpu: {cpu}  memory: "{memory}"  maxRetries: {retries} }}
}}
workflow w {{ call grow }}
"""


def test_a_local_task_out_of_memory_is_retried_with_twice_the_memory(tmp_path: Path) -> None:
    local = LocalMode(tmp_path)
    wdl = tmp_path / "grow.wdl"
    wdl.write_text(grow_wdl("64 MiB", "1", retries=2))
    done = local.cli("run", str(wdl), "grow.mib=100")
    assert done.code == 0, done.err
    run_id = done.json()["run_id"]
    assert done.json()["outputs"] == {"w.grow.got": 100}
    attempts = sorted(local.store().list_tasks(run_id), key=lambda t: t.attempt)
    assert [(t.attempt, t.memory, t.exit_code) for t in attempts] == [
        (1, "64", 137),
        (2, "128", 0),
    ]
    assert attempts[0].container_reason == ECS_OOM_REASON
    assert attempts[0].state == State.EXECUTOR_ERROR and attempts[1].state == State.COMPLETE
    log = (Path(done.json()["dir"]) / "workflow.log").read_text()
    assert "task ran out of memory" in log and "retrying with more memory" in log


def test_without_retries_the_runs_error_says_it_ran_out_of_memory(tmp_path: Path) -> None:
    local = LocalMode(tmp_path)
    wdl = tmp_path / "grow.wdl"
    wdl.write_text(grow_wdl("64 MiB", "1", retries=0))
    done = local.cli("run", str(wdl), "grow.mib=100")
    assert done.code != 0
    ((run,), _) = local.store().list_runs()
    assert run.state == State.EXECUTOR_ERROR and run.error is not None
    assert run.error["message"].startswith(
        "call-grow ran out of memory: killed for exceeding its 64 MiB"
    )
    assert "ran out of memory" in done.err
    (attempt,) = local.store().list_tasks(run.run_id)
    assert (attempt.exit_code, attempt.container_reason) == (137, ECS_OOM_REASON)


def test_a_fargate_task_out_of_memory_is_retried_at_the_next_size(
    fargate: FargateEnv, tmp_path: Path
) -> None:
    wdl = tmp_path / "grow.wdl"
    # 0.25 vCPU and 512 MiB, Fargate's smallest size; the task needs 700 MiB
    wdl.write_text(grow_wdl("512 MiB", "0.25", retries=1))
    code, result = fargate.run(wdl, "grow.mib=700")
    assert code == 0, result
    assert result["outputs"] == {"w.grow.got": 700}
    attempts = sorted(fargate.tasks(), key=lambda t: t.attempt)
    assert [(t.attempt, t.cpu, t.memory, t.exit_code) for t in attempts] == [
        (1, "256", "512", 137),
        (2, "256", "1024", 0),
    ]
    first = attempts[0]
    assert first.container_reason == ECS_OOM_REASON
    assert first.stopped_reason == "Essential container in task exited"
