"""The local launcher: real child processes, reported as ECS would report Fargate tasks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from local_mode import REPO, leftover_processes

from chalicelib import ecs_events
from chalicelib.launcher import TaskSpec
from chalicelib.local_launcher import LocalLauncher
from chalicelib.local_mode import ENV_HOME, LocalHome
from chalicelib.states import State


class Events:
    """Collects the events a launcher emits, and waits for them."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.cv = threading.Condition()

    def __call__(self, event: dict[str, Any]) -> None:
        with self.cv:
            self.items.append(event)
            self.cv.notify_all()

    def wait_stopped(self, task_arn: str, timeout: float = 20) -> dict[str, Any]:
        with self.cv:
            ok = self.cv.wait_for(lambda: self.stopped(task_arn) is not None, timeout)
        assert ok, f"no STOPPED event for {task_arn}: {self.items}"
        stopped = self.stopped(task_arn)
        assert stopped is not None
        return stopped

    def stopped(self, task_arn: str) -> dict[str, Any] | None:
        return next(
            (
                e
                for e in self.items
                if e["detail"]["taskArn"] == task_arn and e["detail"]["lastStatus"] == "STOPPED"
            ),
            None,
        )

    def of(self, task_arn: str) -> list[dict[str, Any]]:
        return [e for e in self.items if e["detail"]["taskArn"] == task_arn]


def spec(command: list[str], run_id: str = "run-1", **kw: Any) -> TaskSpec:
    env = {ecs_events.ENV_RUN_ID: run_id, ecs_events.ENV_CALL_ID: "call-x"}
    env.update(kw.pop("environment", {}))
    return TaskSpec(
        run_id=run_id, role=ecs_events.ROLE_TASK, command=command, environment=env, **kw
    )


def test_exit_code_and_event_sequence(tmp_path: Path) -> None:
    events = Events()
    launcher = LocalLauncher(str(tmp_path / "tasks"), events)
    arn = launcher.run_task(spec(["sh", "-c", "echo out; exit 7"], log_path=str(tmp_path / "log")))
    stopped = events.wait_stopped(arn)
    sequence = [(e["detail"]["lastStatus"], e["detail"]["version"]) for e in events.of(arn)]
    assert sequence == [("PROVISIONING", 1), ("RUNNING", 2), ("STOPPED", 3)]
    parsed = ecs_events.parse_task_event(stopped)
    assert parsed is not None
    assert (parsed.run_id, parsed.call_id, parsed.exit_code) == ("run-1", "call-x", 7)
    assert parsed.stop_code == "EssentialContainerExited"
    assert ecs_events.task_state(parsed) == State.EXECUTOR_ERROR
    assert (tmp_path / "log").read_text() == "out\n"
    # a stopped task leaves no state behind, once its STOPPED event was taken
    deadline = time.monotonic() + 5
    while os.listdir(tmp_path / "tasks") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert os.listdir(tmp_path / "tasks") == []


def test_a_command_that_cannot_start_is_task_failed_to_start(tmp_path: Path) -> None:
    events = Events()
    launcher = LocalLauncher(str(tmp_path), events)
    arn = launcher.run_task(spec([str(tmp_path / "no-such-program")]))
    parsed = ecs_events.parse_task_event(events.wait_stopped(arn))
    assert parsed is not None
    assert parsed.stop_code == "TaskFailedToStart" and parsed.exit_code is None
    assert "CannotStartContainerError" in (parsed.stopped_reason or "")
    assert ecs_events.task_state(parsed) == State.SYSTEM_ERROR


def test_stop_kills_the_whole_process_group(tmp_path: Path) -> None:
    events = Events()
    launcher = LocalLauncher(str(tmp_path), events)
    command = ["sh", "-c", "sleep 300 & sleep 300 & wait"]
    arn = launcher.run_task(spec(command, run_id="run-group"))
    _wait_for(lambda: len(leftover_processes("/nonexistent", "run-group")) >= 3)
    launcher.stop_task(arn, "the user asked")
    parsed = ecs_events.parse_task_event(events.wait_stopped(arn))
    assert parsed is not None
    assert parsed.stop_code == ecs_events.USER_STOP_CODE
    assert parsed.stopped_reason == "the user asked"
    assert ecs_events.task_state(parsed) == State.CANCELED
    _wait_for(lambda: not leftover_processes("/nonexistent", "run-group"))
    launcher.stop_task(arn, "again")  # stopping a stopped task is a no-op
    assert len(events.of(arn)) == 3


def test_stop_escalates_to_sigkill_after_the_grace_period(tmp_path: Path) -> None:
    events = Events()
    launcher = LocalLauncher(str(tmp_path), events, stop_grace_seconds=0.3)
    ready = tmp_path / "ready"
    command = ["sh", "-c", f"trap '' TERM; touch {ready}; while :; do sleep 0.05; done"]
    arn = launcher.run_task(spec(command))
    _wait_for(ready.exists)
    started = time.monotonic()
    launcher.stop_task(arn, "stop")
    parsed = ecs_events.parse_task_event(events.wait_stopped(arn))
    assert parsed is not None and parsed.exit_code == 128 + signal.SIGKILL
    assert time.monotonic() - started >= 0.3


def test_a_task_whose_watcher_died_is_stopped_and_reported(tmp_path: Path) -> None:
    """The detached agent watches the task; if it is killed, stopping the task still kills the
    process and reports STOPPED, as ECS would for a task whose orchestrator vanished."""
    home = LocalHome(str(tmp_path / "home"))
    detached = LocalLauncher(home.tasks_dir, lambda e: None, detach=True)
    ready = tmp_path / "ready"
    command = ["sh", "-c", f"touch {ready}; sleep 300"]
    arn = detached.run_task(
        spec(command, run_id="run-orphan", environment={ENV_HOME: home.root}, cwd=str(tmp_path))
    )
    _wait_for(ready.exists)
    agent = _agent_pid(home.tasks_dir, ecs_events.task_id_of(arn))
    os.kill(agent, signal.SIGKILL)
    _wait_for(lambda: not _alive(agent))

    events = Events()
    stopper = LocalLauncher(home.tasks_dir, events, stop_grace_seconds=1)
    stopper.stop_task(arn, "its orchestrator is gone")
    parsed = ecs_events.parse_task_event(events.wait_stopped(arn))
    assert parsed is not None
    assert parsed.stop_code == ecs_events.USER_STOP_CODE
    assert parsed.version > 2  # after the agent's PROVISIONING and RUNNING
    _wait_for(lambda: not leftover_processes("/nonexistent", "run-orphan"))


def test_detached_agent_reports_to_the_local_store(tmp_path: Path) -> None:
    home = LocalHome(str(tmp_path / "home"))
    plane = home.control_plane()
    from chalicelib.records import RunRecord, utc_now

    now = utc_now()
    plane.store.create_run(
        RunRecord(
            run_id="run-d",
            state=State.QUEUED,
            created_at=now,
            updated_at=now,
            workflow_name="w",
            workflow_key="k",
            inputs_key="i",
        )
    )
    orchestrator = TaskSpec(
        run_id="run-d",
        role=ecs_events.ROLE_ORCHESTRATOR,
        command=["sh", "-c", "exit 0"],
        environment={ENV_HOME: home.root, ecs_events.ENV_RUN_ID: "run-d"},
    )
    LocalLauncher(home.tasks_dir, lambda e: None, detach=True).run_task(orchestrator)

    def ended() -> bool:
        run = plane.store.get_run("run-d")
        return run is not None and run.state == State.SYSTEM_ERROR

    _wait_for(ended)  # it stopped without reporting an outcome
    run = plane.store.get_run("run-d")
    assert run is not None and run.orchestrator_version == 3
    assert "without reporting an outcome" in (run.error or {}).get("message", "")


def test_agent_rejects_bad_arguments() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "chalicelib.local_agent"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=30,
    )
    assert proc.returncode == 2 and "usage" in proc.stderr


def _agent_pid(tasks_dir: str, task_id: str) -> int:
    """The pid of the task's agent, from the state it keeps (a forked agent runs under its
    parent's command line, so that is no way to find it)."""
    state = Path(tasks_dir) / f"{task_id}.json"
    _wait_for(lambda: "watcher_pid" in json.loads(state.read_text() or "{}"))
    pid = json.loads(state.read_text())["watcher_pid"]
    assert isinstance(pid, int) and pid != os.getpid()
    return pid


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_for(predicate: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
