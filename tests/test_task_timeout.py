"""A task's ``runtime.timeout`` (``task_timeout``): parsed as a duration, counted from the
container's start, and enforced by stopping the attempt, in the local mode and on (fake) Fargate."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fargate_env import FargateEnv
from local_mode import LocalMode
from WDL import Error as wdl_error
from WDL import Value

from chalicelib.states import State
from chalicelib.task_timeout import timeout_reason, timeout_seconds


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (Value.Int(90), 90.0),
        (Value.Float(0.5), 0.5),
        (Value.String("90m"), 5400.0),
        (Value.String("12h"), 43200.0),
        (Value.String("2d"), 172800.0),
    ],
)
def test_a_timeout_is_seconds_or_a_duration(value: Value.Base, seconds: float) -> None:
    assert timeout_seconds(value) == seconds


@pytest.mark.parametrize(
    "value",
    [Value.String("soon"), Value.Int(0), Value.Int(-5), Value.String(""), Value.Boolean(True)],
)
def test_a_bad_timeout_is_the_tasks_error(value: Value.Base) -> None:
    with pytest.raises(wdl_error.RuntimeError, match=r"runtime\.timeout"):
        timeout_seconds(value)


def test_the_clock_starts_when_the_container_starts() -> None:
    launched = 1_000_000.0
    # 10 s of image pull: the container started at launch + 10
    started = "1970-01-12T13:46:50Z"  # 1_000_010
    assert timeout_reason(60, started_at=started, launched_at=launched, now=launched + 65) is None
    reason = timeout_reason(60, started_at=started, launched_at=launched, now=launched + 71)
    assert reason == "timed out: ran 61s, past its runtime.timeout of 1m"
    # not known to have started yet: counted from the launch
    assert timeout_reason(60, started_at=None, launched_at=launched, now=launched + 61)
    assert timeout_reason(60, started_at=None, launched_at=launched, now=launched + 59) is None


def slow_wdl(timeout: str, seconds: int, retries: int = 0) -> str:
    return f"""
version 1.1
task slow {{
  command <<< sleep {seconds}; echo done >>>
  output {{ String out = read_string(stdout()) }}
  runtime {{ timeout: {timeout}  maxRetries: {retries} }}
}}
workflow w {{ call slow }}
"""


def test_a_local_task_past_its_timeout_is_stopped_and_fails_the_run(tmp_path: Path) -> None:
    local = LocalMode(tmp_path)
    wdl = tmp_path / "slow.wdl"
    wdl.write_text(slow_wdl('"2s"', 60, retries=1))
    began = time.monotonic()
    done = local.cli("run", str(wdl))
    assert done.code != 0 and time.monotonic() - began < 30
    ((run,), _) = local.store().list_runs()
    assert run.state == State.EXECUTOR_ERROR and run.error is not None
    assert "call-slow timed out" in run.error["message"]
    attempts = sorted(local.store().list_tasks(run.run_id), key=lambda t: t.attempt)
    assert [t.attempt for t in attempts] == [1, 2]  # retried within maxRetries
    for attempt in attempts:
        assert attempt.state == State.CANCELED
        reason = attempt.stopped_reason or ""
        assert reason.startswith("timed out: ran ") and "past its runtime.timeout of 2s" in reason


def test_a_local_task_within_its_timeout_completes(tmp_path: Path) -> None:
    local = LocalMode(tmp_path)
    wdl = tmp_path / "quick.wdl"
    wdl.write_text(slow_wdl("30", 0))
    done = local.cli("run", str(wdl))
    assert done.code == 0, done.err
    assert done.json()["outputs"] == {"w.slow.out": "done"}


def test_a_fargate_task_past_its_timeout_is_stopped(fargate: FargateEnv, tmp_path: Path) -> None:
    wdl = tmp_path / "slow.wdl"
    wdl.write_text(slow_wdl("2", 60))
    began = time.monotonic()
    code, result = fargate.run(wdl)
    assert code != 0 and time.monotonic() - began < 30
    assert "timed out" in str(result)
    (attempt,) = fargate.tasks()
    assert attempt.state == State.CANCELED
    assert (attempt.stopped_reason or "").startswith("timed out")
    assert fargate.harness.running() == []
