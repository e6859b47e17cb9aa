"""Real ``miniwdl run`` workflows through the ``aws_fargate`` backend, against moto, with the fake
Fargate harness running each task and sending its ECS events to the real status handler."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fargate_env import FargateEnv
from local_mode import WDL_DIR

from chalicelib.states import State

pytestmark = pytest.mark.e2e
FARGATE_WDL = WDL_DIR / "fargate"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    for name in ("one", "sub/two", "sub/three"):
        (data / f"{name}.txt").write_text(name)
    return data


def test_scatter_with_directory_and_env_runs_each_task_on_fargate(
    fargate: FargateEnv, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # as miniwdl run sets it outside pytest
    code, result = fargate.run(FARGATE_WDL / "scatter_dir_env.wdl", f"data={data_dir}")
    assert code == 0, result
    assert result["outputs"]["scatter_dir_env.lines"] == ["hello a 3", "hello b 3", "hello c 3"]
    tasks = fargate.tasks()
    assert len(tasks) == 3 and all(t.state == State.COMPLETE for t in tasks)
    assert all(t.version == 4 for t in tasks)  # PROVISIONING, PENDING, RUNNING, STOPPED
    for task in tasks:
        assert task.log_stream == f"task/task/{task.task_id}"
        assert (
            f'stream: "{task.log_stream}"'
            in (Path(task.stderr or "").parent / "task.log").read_text()
        )
    counters = fargate.backend_launcher.counters
    assert counters.run_task == 3
    assert counters.register_task_definition == 1  # one image
    assert counters.describe_tasks == 0  # no event lost: nothing polled
    for task in fargate.harness.tasks.values():
        request = task.request
        assert request["capacityProviderStrategy"] == [{"capacityProvider": "FARGATE", "weight": 1}]
        assert len(request["clientToken"]) <= 64
        assert (request["overrides"]["cpu"], request["overrides"]["memory"]) == ("512", "1024")
        assert request["startedBy"] == "miniwdl-fargate/task/run-fargate"


def test_failing_task_is_an_executor_error_with_its_exit_code(fargate: FargateEnv) -> None:
    code, result = fargate.run(WDL_DIR / "fails.wdl")
    assert code == 3
    assert result["cause"]["error"] == "CommandFailed" and result["cause"]["exit_status"] == 3
    failed = [t for t in fargate.tasks() if t.state == State.EXECUTOR_ERROR]
    assert len(failed) == 1 and failed[0].exit_code == 3 and failed[0].call_id == "call-fail"
    assert "about to fail on purpose" in Path(failed[0].stderr or "").read_text()


def test_max_retries_and_return_codes(fargate: FargateEnv, tmp_path: Path) -> None:
    marker = fargate.efs_root / "first-attempt-done"
    code, result = fargate.run(WDL_DIR / "retries.wdl", f"marker={marker}")
    assert code == 0, result
    assert result["outputs"] == {"retries.attempts": 2, "retries.tolerated_code": 3}
    flaky = sorted((t for t in fargate.tasks() if "flaky" in t.call_id), key=lambda t: t.attempt)
    assert [(t.attempt, t.state) for t in flaky] == [(1, State.EXECUTOR_ERROR), (2, State.COMPLETE)]


def test_spot_interruption_is_retried_within_the_preemptible_budget(fargate: FargateEnv) -> None:
    fargate.faults.spot_interrupt_first_attempt = True
    code, result = fargate.run(FARGATE_WDL / "preemptible.wdl")
    assert code == 0, result
    assert result["outputs"]["preemptible.out"] == [0, 1, 2]
    assert fargate.harness.spot_interruptions == 3
    by_call: dict[str, list] = {}
    for task in fargate.tasks():
        by_call.setdefault(task.call_id, []).append(task)
    for attempts in by_call.values():
        states = sorted(t.state.value for t in attempts)
        assert states == ["COMPLETE", "PREEMPTED"]
    spot = [t.spot for t in fargate.harness.tasks.values()]
    assert spot.count(True) == 6  # preemptible: 5, so the retry is on Spot again


def test_throttling_and_capacity_failures_are_absorbed(fargate: FargateEnv) -> None:
    fargate.faults.throttle_rate = 0.3
    fargate.faults.capacity_rate = 0.3
    code, result = fargate.run(FARGATE_WDL / "preemptible.wdl")
    assert code == 0, result
    assert fargate.harness.injected_throttles > 0 and fargate.harness.injected_capacity_failures > 0
    assert all(t.state == State.COMPLETE for t in fargate.tasks())
    assert len(fargate.tasks()) == 3  # throttled and refused launches started nothing


def test_duplicated_and_reordered_events_change_nothing(
    fargate: FargateEnv, data_dir: Path
) -> None:
    fargate.faults.duplicate_rate = 0.5
    fargate.faults.reorder_rate = 0.5
    code, result = fargate.run(FARGATE_WDL / "scatter_dir_env.wdl", f"data={data_dir}")
    assert code == 0, result
    tasks = fargate.tasks()
    assert all(t.state == State.COMPLETE and t.version == 4 for t in tasks)
    assert fargate.harness.delivered > 4 * len(tasks)


def test_a_lost_stopped_event_is_recovered_by_reconciliation(
    fargate: FargateEnv, data_dir: Path
) -> None:
    fargate.faults.lose_stopped = lambda env: env.get("MINIWDL_FARGATE_CALL_ID", "").endswith("-b")
    code, result = fargate.run(FARGATE_WDL / "scatter_dir_env.wdl", f"data={data_dir}")
    assert code == 0, result
    assert fargate.harness.lost_events == 1
    assert fargate.backend_launcher.counters.describe_tasks >= 1
    assert all(t.state == State.COMPLETE for t in fargate.tasks())


def test_cancel_mid_run_leaves_no_task_running(fargate: FargateEnv) -> None:
    import os
    import signal
    import threading
    import time

    def cancel_when_running() -> None:
        deadline = time.monotonic() + 30
        while len(fargate.harness.running()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=cancel_when_running, daemon=True).start()
    code, _result = fargate.run(WDL_DIR / "slow.wdl")
    assert code != 0
    assert fargate.harness.running() == []
    assert all(t.last_status == "STOPPED" for t in fargate.harness.tasks.values())
    assert fargate.backend_launcher.counters.stop_task >= 2
    assert {t.state for t in fargate.tasks()} == {State.CANCELED}


def test_without_a_store_it_polls_describe_tasks_in_batches(
    fargate: FargateEnv, data_dir: Path
) -> None:
    import time

    started = time.monotonic()
    code, result = fargate.run(
        FARGATE_WDL / "scatter_dir_env.wdl",
        f"data={data_dir}",
        MINIWDL__MINIWDL_FARGATE__RUN_ID="",
        MINIWDL__MINIWDL_FARGATE__HOME="",
    )
    elapsed = time.monotonic() - started
    assert code == 0, result
    calls = fargate.backend_launcher.counters.describe_tasks
    assert 1 <= calls <= elapsed / 1.0 + 2  # at most about one call a second, for all tasks


def test_requests_beyond_fargate_fail_clearly(fargate: FargateEnv) -> None:
    code, result = fargate.run(FARGATE_WDL / "sized.wdl", "cpu=32")
    assert code != 0
    message = _message(result)
    assert "call-big" in message and "32 vCPU" in message and "16 vCPU" in message
    code, result = fargate.run(FARGATE_WDL / "sized.wdl", "memory=200 GiB")
    assert code != 0 and "120 GiB" in _message(result)
    code, result = fargate.run(FARGATE_WDL / "sized.wdl", "gpu=true")
    assert code != 0 and "GPU" in _message(result)
    assert fargate.harness.tasks == {}


def test_sizes_and_disks_reach_run_task(fargate: FargateEnv) -> None:
    code, result = fargate.run(FARGATE_WDL / "sized.wdl", "cpu=3", "memory=10 GiB")
    assert code == 0, result
    (task,) = fargate.harness.tasks.values()
    overrides = task.request["overrides"]
    assert (overrides["cpu"], overrides["memory"]) == ("4096", "10240")
    assert overrides["ephemeralStorage"] == {"sizeInGiB": 50}


def test_missing_efs_mount_is_a_clear_error(fargate: FargateEnv, tmp_path: Path) -> None:
    mounts = tmp_path / "no-efs"
    mounts.write_text("/dev/vda / ext4 rw 0 0\n")
    code, result = fargate.run(
        FARGATE_WDL / "sized.wdl", MINIWDL__AWS_FARGATE__MOUNTS_FILE=str(mounts)
    )
    assert code != 0
    assert "is not on EFS" in _message(result) and "mount" in _message(result)
    assert fargate.harness.tasks == {}


def _message(result: dict) -> str:
    parts = []
    while isinstance(result, dict):
        parts.append(str(result.get("message", "")))
        result = result.get("cause")
    return " ".join(parts)
