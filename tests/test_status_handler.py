"""chalicelib.status.handle_ecs_event: events in, store writes and notifications out."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from events import ecs_event as shared_ecs_event
from events import graft, sample

from chalicelib import ecs_events
from chalicelib.launcher import LaunchError, TaskSpec
from chalicelib.notifications import (
    RUN_DETAIL_TYPE,
    TASK_DETAIL_TYPE,
    JsonLinesNotifier,
)
from chalicelib.records import RunRecord
from chalicelib.sqlite_store import SqliteStore
from chalicelib.states import State
from chalicelib.status import ControlPlane, handle_ecs_event

PROJECT_ROOT = Path(__file__).resolve().parents[1]
NOW = "2024-05-01T12:00:00.000Z"
STOP_REASON = "Essential container in task exited"


class RecordingLauncher:
    """Records stop requests; this handler must never start anything."""

    def __init__(self) -> None:
        self.stopped: list[tuple[str, str]] = []

    def run_task(self, spec: TaskSpec) -> str:
        raise LaunchError(f"the status handler must not launch tasks ({spec.role})")

    def stop_task(self, task_arn: str, reason: str) -> None:
        self.stopped.append((task_arn, reason))


def arn(task_id: str) -> str:
    return f"arn:aws:ecs:us-east-1:123456789012:task/cluster/{task_id}"


def ecs_event(
    task_id: str,
    version: int,
    last_status: str,
    *,
    run_id: str = "run1",
    role: str = ecs_events.ROLE_TASK,
    exit_code: int | None = None,
    stop_code: str | None = None,
    stopped_reason: str | None = None,
    call_id: str | None = None,
    timestamps: dict[str, str] | None = None,
) -> dict[str, Any]:
    return shared_ecs_event(
        arn(task_id),
        version,
        last_status,
        role=role,
        run_id=run_id,
        call_id=call_id or f"call-{task_id}",
        exit_code=exit_code,
        stop_code=stop_code,
        stopped_reason=stopped_reason,
        timestamps=timestamps,
    )


def orch_event(version: int, last_status: str, run_id: str = "run1", **kw: Any) -> dict[str, Any]:
    return ecs_event(
        f"orch-{run_id}",
        version,
        last_status,
        run_id=run_id,
        role=ecs_events.ROLE_ORCHESTRATOR,
        **kw,
    )


def new_run(run_id: str = "run1", state: State = State.QUEUED) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        state=state,
        created_at=NOW,
        updated_at=NOW,
        workflow_name="hello",
        workflow_key=f"runs/{run_id}/workflow.wdl",
        inputs_key=f"runs/{run_id}/inputs.json",
    )


class Harness:
    def __init__(self, tmp_path: Path) -> None:
        self.notifications_path = tmp_path / "notifications.jsonl"
        self.launcher = RecordingLauncher()
        self.plane = ControlPlane(
            store=SqliteStore(str(tmp_path / "state.sqlite3")),
            notifier=JsonLinesNotifier(str(self.notifications_path)),
            launcher=self.launcher,
        )

    @property
    def store(self) -> SqliteStore:
        return self.plane.store  # type: ignore[return-value]

    def handle(self, event: dict[str, Any]) -> None:
        handle_ecs_event(event, self.plane)

    def notes(self, detail_type: str | None = None) -> list[dict[str, Any]]:
        if not self.notifications_path.exists():
            return []
        lines = self.notifications_path.read_text().splitlines()
        notes = [json.loads(line) for line in lines]
        return [n for n in notes if detail_type is None or n["detail-type"] == detail_type]

    def task_note_states(self, task_id: str) -> list[str]:
        return [
            n["detail"]["state"]
            for n in self.notes(TASK_DETAIL_TYPE)
            if n["detail"]["task_id"] == task_id
        ]


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


# tasks


def test_task_events_create_and_advance_the_task(h: Harness) -> None:
    h.handle(ecs_event("t1", 1, "PROVISIONING"))
    task = h.store.get_task("t1")
    assert task is not None
    assert task.state == State.INITIALIZING
    assert task.run_id == "run1"
    assert task.call_id == "call-t1"
    assert task.task_arn == arn("t1")

    h.handle(ecs_event("t1", 2, "PENDING"))
    h.handle(ecs_event("t1", 3, "RUNNING"))
    h.handle(ecs_event("t1", 4, "STOPPED", exit_code=0))
    task = h.store.get_task("t1")
    assert task is not None
    assert task.state == State.COMPLETE
    assert task.exit_code == 0
    assert task.version == 4
    # one notification per state change: PENDING (v2) changed nothing
    assert h.task_note_states("t1") == ["INITIALIZING", "RUNNING", "COMPLETE"]
    previous = [n["detail"]["previous_state"] for n in h.notes(TASK_DETAIL_TYPE)]
    assert previous == [None, "INITIALIZING", "RUNNING"]
    assert h.notes(RUN_DETAIL_TYPE) == []


def test_task_notification_details(h: Harness) -> None:
    h.handle(ecs_event("t1", 1, "STOPPED", exit_code=3))
    (note,) = h.notes()
    assert note["detail-type"] == TASK_DETAIL_TYPE
    assert note["source"] == "miniwdl-fargate"
    assert note["detail"]["state"] == "EXECUTOR_ERROR"
    assert note["detail"]["exit_code"] == 3
    assert note["detail"]["run_id"] == "run1"
    assert note["detail"]["call_id"] == "call-t1"


def test_duplicate_task_events_change_nothing(h: Harness) -> None:
    running = ecs_event("t1", 2, "RUNNING")
    h.handle(running)
    before = h.store.get_task("t1")
    for _ in range(3):
        h.handle(copy.deepcopy(running))
    assert h.store.get_task("t1") == before
    assert h.task_note_states("t1") == ["RUNNING"]


# orchestrator


def test_orchestrator_events_move_the_run(h: Harness) -> None:
    h.store.create_run(new_run())
    h.handle(orch_event(1, "PROVISIONING"))
    run = h.store.get_run("run1")
    assert run is not None
    assert run.state == State.INITIALIZING
    assert run.orchestrator_arn == arn("orch-run1")
    h.handle(orch_event(2, "RUNNING"))
    run = h.store.get_run("run1")
    assert run is not None
    assert run.state == State.RUNNING
    assert run.start_time is not None
    states = [n["detail"]["state"] for n in h.notes(RUN_DETAIL_TYPE)]
    assert states == ["INITIALIZING", "RUNNING"]
    assert h.launcher.stopped == []


def test_orchestrator_stopped_without_outcome(h: Harness) -> None:
    h.store.create_run(new_run("run1"))
    h.store.create_run(new_run("run2"))
    h.handle(orch_event(1, "RUNNING"))
    # run1: one running, one initializing, one finished task; run2: one running task
    h.handle(ecs_event("r1-running", 2, "RUNNING"))
    h.handle(ecs_event("r1-starting", 1, "PROVISIONING"))
    h.handle(ecs_event("r1-done", 3, "STOPPED", exit_code=0))
    h.handle(ecs_event("r1-failed", 3, "STOPPED", exit_code=2))
    h.handle(ecs_event("r2-running", 2, "RUNNING", run_id="run2"))

    stopped = orch_event(
        2,
        "STOPPED",
        exit_code=137,
        stop_code="EssentialContainerExited",
        stopped_reason=STOP_REASON,
    )
    h.handle(stopped)

    run = h.store.get_run("run1")
    assert run is not None
    assert run.state == State.SYSTEM_ERROR
    assert run.error is not None
    assert STOP_REASON in run.error["message"]
    assert run.exit_code == 137
    assert run.end_time is not None
    stopped_arns = sorted(a for a, _ in h.launcher.stopped)
    assert stopped_arns == sorted([arn("r1-running"), arn("r1-starting")])
    assert all(reason for _, reason in h.launcher.stopped)
    other = h.store.get_run("run2")
    assert other is not None
    assert other.state == State.QUEUED
    run_notes = h.notes(RUN_DETAIL_TYPE)
    assert run_notes[-1]["detail"]["state"] == "SYSTEM_ERROR"
    assert STOP_REASON in run_notes[-1]["detail"]["error"]


def test_outcome_already_reported_stays_and_the_orchestrator_adds_its_cost(h: Harness) -> None:
    h.store.create_run(new_run(state=State.COMPLETE))
    before = h.store.get_run("run1")
    assert before is not None
    stamps = {"startedAt": "2024-05-01T12:00:00.000Z", "stoppedAt": "2024-05-01T12:10:00.000Z"}
    h.handle(orch_event(3, "STOPPED", exit_code=0, timestamps=stamps))
    after = h.store.get_run("run1")
    assert after is not None
    assert (after.state, after.outputs, after.error, after.end_time) == (
        before.state,
        before.outputs,
        before.error,
        before.end_time,
    )
    # 1 vCPU and 2 GiB for 600 s, the orchestrator's own share (no tasks ran)
    assert after.cost == {
        "vcpu_seconds": 600.0,
        "gb_seconds": 1200.0,
        "usd": pytest.approx((600 * 0.04048 + 1200 * 0.004445) / 3600, abs=1e-6),
    }
    assert h.notes() == []
    h.handle(orch_event(3, "STOPPED", exit_code=0, timestamps=stamps))
    assert h.store.get_run("run1") == after


def test_event_for_unknown_run_is_ignored(h: Harness) -> None:
    h.handle(orch_event(1, "RUNNING", run_id="ghost"))
    h.handle(orch_event(2, "STOPPED", run_id="ghost", exit_code=1))
    assert h.store.get_run("ghost") is None
    assert h.launcher.stopped == []
    assert h.notes() == []


def test_foreign_event_is_ignored(h: Harness) -> None:
    event = ecs_event("t1", 1, "RUNNING")
    event["detail"]["startedBy"] = "ecs-svc/123456"
    h.handle(event)
    other = ecs_event("t2", 1, "RUNNING")
    other["source"] = "aws.batch"
    h.handle(other)
    assert h.store.get_task("t1") is None
    assert h.store.get_task("t2") is None
    assert h.notes() == []


def test_malformed_event_of_ours_is_logged_and_raises_before_any_write(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    event = ecs_event("t1", 1, "RUNNING")
    del event["detail"]["version"]
    with pytest.raises(ecs_events.EventError):
        h.handle(event)
    assert h.store.get_task("t1") is None
    assert h.notes() == []
    assert [r.levelno for r in caplog.records] == [logging.ERROR]
    assert "version" in caplog.records[0].getMessage()


def test_a_huge_version_is_refused_and_does_not_freeze_the_task(h: Harness) -> None:
    with pytest.raises(ecs_events.EventError, match="version"):
        h.handle(ecs_event("t1", 2**70, "RUNNING"))
    assert h.store.get_task("t1") is None
    h.handle(ecs_event("t1", 3, "STOPPED", exit_code=0))
    task = h.store.get_task("t1")
    assert task is not None
    assert (task.state, task.version) == (State.COMPLETE, 3)


def test_a_malformed_stopped_at_is_never_stored_and_the_run_still_ends(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    h.store.create_run(new_run())
    h.handle(orch_event(1, "RUNNING"))
    stamps = {"startedAt": "2024-05-01T12:00:00.000Z", "stoppedAt": "yesterday"}
    h.handle(ecs_event("t1", 2, "STOPPED", exit_code=0, timestamps=stamps))
    task = h.store.get_task("t1")
    assert task is not None
    assert task.state == State.COMPLETE
    assert task.stopped_at is not None and task.stopped_at != "yesterday"
    assert h.task_note_states("t1") == ["COMPLETE"]
    assert any("detail.stoppedAt='yesterday'" in r.getMessage() for r in caplog.records)
    # the run's cost is computed from its tasks' stored times when the orchestrator stops
    h.handle(orch_event(2, "STOPPED", exit_code=1, timestamps=stamps | {"stoppedAt": NOW}))
    run = h.store.get_run("run1")
    assert run is not None
    assert run.state == State.SYSTEM_ERROR
    assert run.cost is not None and run.cost["vcpu_seconds"] > 0


# AWS's own events (tests/ecs_event_samples), grafted with our tags


def sample_task(h: Harness, name: str, container: str) -> str:
    """Deliver a grafted sample after a RUNNING event of ours for the same task; its task id."""
    event = graft(sample(name), container=container)
    task_id = str(event["detail"]["taskArn"]).rsplit("/", 1)[-1]
    running = shared_ecs_event(str(event["detail"]["taskArn"]), 1, "RUNNING")
    h.handle(running)
    h.handle(event)
    return task_id


def test_fargate_maintenance_stop_is_a_preemption(h: Harness) -> None:
    task_id = sample_task(h, "constructed_fargate_maintenance_stopped", "Example")
    task = h.store.get_task(task_id)
    assert task is not None
    assert task.state == State.PREEMPTED
    assert (task.exit_code, task.stop_code) == (137, "ServiceSchedulerInitiated")
    assert task.stopped_reason is not None and "maintenance" in task.stopped_reason
    assert task.stopped_at == "2024-11-13T21:23:11.984Z"
    assert h.task_note_states(task_id) == ["RUNNING", "PREEMPTED"]


@pytest.mark.parametrize(
    ("name", "container", "state", "exit_code"),
    [
        ("fargate_user_initiated_stopped", "Example", State.CANCELED, 0),
        ("constructed_fargate_task_failed_to_start", "FargateApp", State.SYSTEM_ERROR, None),
        ("fargate_deprovisioning", "voterintake", State.RUNNING, 0),
        ("ec2_sidecar_stopped_running", "task", State.RUNNING, None),
    ],
)
def test_samples_through_the_handler(
    h: Harness, name: str, container: str, state: State, exit_code: int | None
) -> None:
    task_id = sample_task(h, name, container)
    task = h.store.get_task(task_id)
    assert task is not None
    assert (task.state, task.exit_code) == (state, exit_code)
    assert task.version == sample(name)["detail"]["version"]


# through the Chalice app


def test_chalice_app_records_the_task(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalice.test import Client

    from chalicelib.local_mode import ENV_HOME, LocalHome

    home = tmp_path / "home"
    monkeypatch.setenv(ENV_HOME, str(home))
    monkeypatch.delenv("MINIWDL_FARGATE_TABLE", raising=False)
    import app

    detail = ecs_event("chalice-task", 2, "RUNNING")["detail"]
    with Client(app.app, project_dir=str(PROJECT_ROOT)) as client:
        event = client.events.generate_cw_event(
            source="aws.ecs",
            detail_type="ECS Task State Change",
            detail=detail,
            resources=[arn("chalice-task")],
        )
        assert event["version"] == 0
        client.lambda_.invoke("on_ecs_task_state_change", event)

    store = LocalHome(str(home)).control_plane().store
    task = store.get_task("chalice-task")
    assert task is not None
    assert task.state == State.RUNNING
    assert task.run_id == "run1"
    assert task.version == 2
    lines = Path(LocalHome(str(home)).notifications_path).read_text().splitlines()
    assert [json.loads(line)["detail-type"] for line in lines] == [TASK_DETAIL_TYPE]


def test_chalice_app_takes_an_event_without_region_or_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalice.test import Client

    from chalicelib.local_mode import ENV_HOME, LocalHome

    home = tmp_path / "home"
    monkeypatch.setenv(ENV_HOME, str(home))
    monkeypatch.delenv("MINIWDL_FARGATE_TABLE", raising=False)
    import app

    # AWS's published Spot warning has no region, time or detail.version (the last one grafted)
    warning = graft(sample("fargate_spot_termination_notice"), container="task", version=2)
    assert "region" not in warning and "time" not in warning
    malformed = copy.deepcopy(warning)
    del malformed["detail"]["lastStatus"]
    with Client(app.app, project_dir=str(PROJECT_ROOT)) as client:
        client.lambda_.invoke("on_ecs_task_state_change", warning)
        with pytest.raises(ecs_events.EventError, match="lastStatus"):
            client.lambda_.invoke("on_ecs_task_state_change", malformed)
        client.lambda_.invoke("on_ecs_task_state_change", {"not": "an ECS event"})

    task = (
        LocalHome(str(home)).control_plane().store.get_task("b99d40b3-5176-4f71-9a52-9dbd6fEXAMPLE")
    )
    assert task is not None
    assert (task.state, task.stop_code, task.version) == (State.RUNNING, "TerminationNotice", 2)
