"""Reliability under faults (issue 11): a failed store read, a lost or undeliverable event, a full
disk, a killed task leader, a killed orchestrator and agent, a relative --home, a corrupt store."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from local_mode import REPO, WDL_DIR, LocalMode, leftover_processes

from chalicelib import ecs_events
from chalicelib.launcher import TaskSpec
from chalicelib.local_launcher import LocalLauncher
from chalicelib.local_mode import LocalHome
from chalicelib.records import RunRecord, TaskRecord, utc_now
from chalicelib.states import State
from chalicelib.status import handle_ecs_event
from chalicelib.task_watcher import TaskWatcher, WatchError


def _eventually(check: Callable[[], Any], timeout: float = 20.0, what: str = "it") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


class FlakySource:
    """A task source whose reads fail ``failures`` times (then answer), or always."""

    def __init__(self, record: TaskRecord, failures: int | None) -> None:
        self.record = record
        self.failures = failures
        self.calls = 0

    def get_tasks(self, task_ids: Sequence[str]) -> list[TaskRecord]:
        self.calls += 1
        if self.failures is None or self.calls <= self.failures:
            raise RuntimeError("DynamoDB left 3 keys unread")
        return [self.record]

    def wait_for_change(self, seen: int, timeout: float) -> int:
        time.sleep(timeout)
        return seen + 1

    def ended_since(self, seen: int) -> None:
        return None


def _done(task_id: str = "t1") -> TaskRecord:
    return TaskRecord(task_id=task_id, run_id="r", state=State.COMPLETE, updated_at=utc_now())


def test_the_watcher_survives_failed_reads() -> None:
    source = FlakySource(_done(), failures=3)
    watcher = TaskWatcher(source, interval=0.01, check_on_register=False)
    record = watcher.wait("t1", timeout=10)
    assert record is not None and record.state == State.COMPLETE
    assert source.calls == 4


def test_persistent_read_failures_end_the_wait_with_an_error() -> None:
    watcher = TaskWatcher(FlakySource(_done(), failures=None), interval=0.01, give_up_after=0.3)
    started = time.monotonic()
    with pytest.raises(WatchError, match="could not be read"):
        watcher.wait("t1")
    assert time.monotonic() - started < 10


@pytest.fixture
def home(tmp_path: Path) -> LocalHome:
    return LocalHome(str(tmp_path / "home"))


def _running_run(home: LocalHome, run_id: str = "run-1") -> None:
    now = utc_now()
    home.control_plane().store.create_run(
        RunRecord(
            run_id=run_id,
            state=State.RUNNING,
            created_at=now,
            updated_at=now,
            workflow_name="w",
            workflow_key="k",
            inputs_key="k",
        )
    )


def _task_spec(command: list[str], run_id: str = "run-1") -> TaskSpec:
    return TaskSpec(
        run_id=run_id,
        role=ecs_events.ROLE_TASK,
        command=command,
        environment={ecs_events.ENV_RUN_ID: run_id, ecs_events.ENV_CALL_ID: "call-x"},
    )


def test_a_stop_that_could_not_be_delivered_is_repaired_by_the_sweep(home: LocalHome) -> None:
    _running_run(home)
    plane = home.control_plane()

    def handler_down_for_stops(event: dict[str, Any]) -> None:
        if event["detail"]["lastStatus"] == "STOPPED":
            raise sqlite3.OperationalError("database or disk is full")
        handle_ecs_event(event, plane)

    launcher = LocalLauncher(home.tasks_dir, handler_down_for_stops, delivery_seconds=0.3)
    arn = launcher.run_task(_task_spec(["sh", "-c", "exit 3"]))
    task_id = ecs_events.task_id_of(arn)
    state_file = Path(home.tasks_dir) / f"{task_id}.json"
    _eventually(lambda: "stopped" in json.loads(state_file.read_text()), what="the kept stop")
    assert plane.store.get_task(task_id).state == State.RUNNING  # type: ignore[union-attr]
    report = home.sweep(plane, quiet_seconds=0)
    assert report.repaired == (arn,)
    task = plane.store.get_task(task_id)
    assert task is not None and task.state == State.EXECUTOR_ERROR and task.exit_code == 3
    assert not state_file.exists()  # delivered now: nothing left to sweep
    assert home.sweep(plane, quiet_seconds=0).repaired == ()


def test_event_delivery_rides_out_a_full_disk(home: LocalHome) -> None:
    _running_run(home)
    plane = home.control_plane()
    full_until = time.monotonic() + 1.5

    def handler_on_a_full_disk(event: dict[str, Any]) -> None:
        if time.monotonic() < full_until:
            raise sqlite3.OperationalError("database or disk is full")
        handle_ecs_event(event, plane)

    launcher = LocalLauncher(home.tasks_dir, handler_on_a_full_disk)
    arn = launcher.run_task(_task_spec(["true"]))
    task_id = ecs_events.task_id_of(arn)
    task = _eventually(
        lambda: (t := plane.store.get_task(task_id)) and t.state == State.COMPLETE and t,
        what="the task's end once the disk has room",
    )
    assert task.exit_code == 0


def test_killing_a_tasks_leader_ends_its_children(home: LocalHome, tmp_path: Path) -> None:
    stopped = threading.Event()
    launcher = LocalLauncher(
        home.tasks_dir,
        lambda e: e["detail"]["lastStatus"] == "STOPPED" and stopped.set(),  # type: ignore[func-returns-value]
    )
    child_file = tmp_path / "child"
    arn = launcher.run_task(_task_spec(["sh", "-c", f"sleep 300 & echo $! > {child_file}; wait"]))
    child = int(_eventually(lambda: child_file.exists() and child_file.read_text().strip()))
    state = json.loads((Path(home.tasks_dir) / f"{ecs_events.task_id_of(arn)}.json").read_text())
    os.kill(state["pid"], signal.SIGKILL)
    assert stopped.wait(10)
    _eventually(lambda: not _alive(child), what="the leader's child to end")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.e2e
def test_a_killed_orchestrator_and_agent_end_the_run_through_the_sweep(tmp_path: Path) -> None:
    local = LocalMode(tmp_path)
    submitted = local.cli("submit", str(WDL_DIR / "slow.wdl"))
    assert submitted.code == 0, submitted.err
    run_id = submitted.out.strip()
    store = local.store()
    _eventually(
        lambda: (
            (r := store.get_run(run_id)) and r.state == State.RUNNING and store.list_tasks(run_id)
        ),
        what="the run and its task to start",
    )
    states = [json.loads(p.read_text()) for p in Path(local.home.tasks_dir).glob("*.json")]
    (orchestrator,) = [s for s in states if s.get("agent")]
    os.kill(orchestrator["watcher_pid"], signal.SIGKILL)  # the agent: no STOPPED will come
    os.killpg(orchestrator["pid"], signal.SIGKILL)
    # `status` sweeps: once the run's record has been quiet a few seconds, the dead processes
    # are found and reported stopped through the handler.
    _eventually(
        lambda: local.cli("status", run_id).json()["state"] == "SYSTEM_ERROR",
        timeout=40,
        what="the sweep to end the run",
    )
    run = store.get_run(run_id)
    assert run is not None
    assert "without reporting an outcome" in str((run.error or {}).get("message"))
    _eventually(
        lambda: all(t.state != State.RUNNING for t in store.list_tasks(run_id)),
        what="the run's task to be stopped",
    )
    _eventually(lambda: not leftover_processes(local.home.root, run_id), what="no process left")


@pytest.mark.e2e
def test_a_relative_home_is_one_home(tmp_path: Path) -> None:
    local = LocalMode(tmp_path)
    result = local.cli("--home", "h0", "run", str(REPO / "examples" / "hello.wdl"))
    assert result.code == 0, result.err
    run_id = result.json()["run_id"]
    status = local.cli("--home", "h0", "status", run_id)
    assert status.code == 0 and status.json()["tasks"]["done"] == 4
    notes = (tmp_path / "h0" / "notifications.jsonl").read_text().splitlines()
    assert sum(json.loads(n)["detail-type"] == "WDL Task State Change" for n in notes) == 12
    assert not list(tmp_path.glob("h0/work/_requests/*/h0"))


def test_a_corrupt_store_is_a_one_line_error(tmp_path: Path) -> None:
    local = LocalMode(tmp_path)
    Path(local.home.root).mkdir(parents=True)
    Path(local.home.store_path).write_bytes(b"this is not a database" * 100)
    for command in (["list"], ["status", "x"]):
        result = local.cli(*command)
        assert result.code == 2
        assert result.err.count("\n") == 1 and "mv " in result.err, result.err
        assert "Traceback" not in result.err


def test_a_local_home_is_absolute_whatever_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    home = LocalHome("h0")
    monkeypatch.chdir("/")
    assert home.root == str(tmp_path / "h0")
    assert home.store_path == str(tmp_path / "h0" / "state.sqlite3")
