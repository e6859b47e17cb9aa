"""The sweep (``chalicelib.sweep``): quiet in-flight records are described and repaired through
the status handler; nothing in flight costs no ECS call."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from events import ecs_event

from chalicelib import ecs_events
from chalicelib.memory_store import MemoryStore
from chalicelib.notifications import Notification
from chalicelib.records import RunRecord
from chalicelib.states import State
from chalicelib.status import ControlPlane, handle_ecs_event
from chalicelib.sweep import quiet_task_arns, reconcile, sweep

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
OLD = "2026-11-29T11:00:00.000Z"
RECENT = "2026-11-29T11:59:59.000Z"
ORCH = "arn:aws:ecs:us-east-1:123456789012:task/cluster/orch1"
TASK = "arn:aws:ecs:us-east-1:123456789012:task/cluster/task1"


class Notes:
    def __init__(self) -> None:
        self.sent: list[Notification] = []

    def publish(self, notifications: Sequence[Notification]) -> None:
        self.sent += notifications


class Launcher:
    def __init__(self) -> None:
        self.stopped: list[str] = []

    def run_task(self, spec: Any) -> str:
        raise AssertionError("the sweep launches nothing")

    def stop_task(self, task_arn: str, reason: str) -> None:
        self.stopped.append(task_arn)


def _plane() -> ControlPlane:
    return ControlPlane(store=MemoryStore(), notifier=Notes(), launcher=Launcher())


def _run(plane: ControlPlane, updated_at: str) -> None:
    run = RunRecord(
        run_id="run1",
        state=State.QUEUED,
        created_at=OLD,
        updated_at=OLD,
        workflow_name="w",
        workflow_key="k",
        inputs_key="k",
    )
    plane.store.create_run(run)
    handle_ecs_event(ecs_event(ORCH, 1, "RUNNING", role=ecs_events.ROLE_ORCHESTRATOR), plane)
    handle_ecs_event(ecs_event(TASK, 1, "RUNNING"), plane)
    stored = plane.store.get_run("run1")
    assert stored is not None
    plane.store.put_run(dataclasses.replace(stored, updated_at=updated_at), stored.revision)
    task = plane.store.get_task("task1")
    assert task is not None
    plane.store.put_task(dataclasses.replace(task, updated_at=updated_at), task.revision)


def _stopped_descriptions(arns: Sequence[str]) -> list[dict[str, Any]]:
    """What DescribeTasks says of tasks whose STOPPED events were lost."""
    found = []
    for arn in arns:
        role = ecs_events.ROLE_ORCHESTRATOR if arn == ORCH else ecs_events.ROLE_TASK
        event = ecs_event(
            arn, 3, "STOPPED", role=role, exit_code=0, stop_code="EssentialContainerExited"
        )
        found.append(event["detail"])
    return found


def test_quiet_records_are_described_and_repaired_through_the_handler() -> None:
    plane = _plane()
    _run(plane, OLD)
    asked: list[Sequence[str]] = []

    def describe(arns: Sequence[str]) -> list[dict[str, Any]]:
        asked.append(list(arns))
        return _stopped_descriptions(arns)

    report = sweep(plane, lambda arns: reconcile(plane, describe, arns), now=NOW)
    assert asked == [[ORCH, TASK]] and set(report.repaired) == {ORCH, TASK}
    task = plane.store.get_task("task1")
    assert task is not None and task.state == State.COMPLETE
    run = plane.store.get_run("run1")
    assert run is not None and run.state == State.SYSTEM_ERROR  # stopped, no outcome reported
    assert sweep(plane, lambda arns: reconcile(plane, describe, arns), now=NOW).described == 0


def test_records_that_changed_lately_are_left_alone() -> None:
    plane = _plane()
    _run(plane, RECENT)
    report = sweep(plane, lambda arns: reconcile(plane, _stopped_descriptions, arns), now=NOW)
    assert report.described == 0 and report.runs == 1


def test_nothing_in_flight_asks_ecs_nothing() -> None:
    plane = _plane()

    def describe(arns: Sequence[str]) -> list[dict[str, Any]]:
        raise AssertionError("no DescribeTasks without a quiet record")

    assert sweep(plane, lambda arns: reconcile(plane, describe, arns), now=NOW).described == 0


def test_quiet_task_arns_is_pure_and_skips_terminal_records() -> None:
    run = RunRecord(
        run_id="r",
        state=State.COMPLETE,
        created_at=OLD,
        updated_at=OLD,
        workflow_name="w",
        workflow_key="k",
        inputs_key="k",
        orchestrator_arn=ORCH,
    )
    assert quiet_task_arns([run], {}, NOW, timedelta(minutes=5)) == []
    running = dataclasses.replace(run, state=State.RUNNING)
    assert quiet_task_arns([running], {}, NOW, timedelta(minutes=5)) == [ORCH]
    assert quiet_task_arns([running], {}, NOW, timedelta(hours=2)) == []
