"""A state change that was stored is announced at least once, even when the first announcement
fails (issue 11): the notification is written with the change (the record's outbox) and sent
again when the event is retried. Run against every store adapter."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from events import ecs_event

from chalicelib.eventbridge import NotificationError
from chalicelib.notifications import Notification
from chalicelib.records import RunRecord, utc_now
from chalicelib.states import State
from chalicelib.status import ControlPlane, create_run, handle_ecs_event

TASK = "arn:aws:ecs:us-east-1:123456789012:task/cluster/task1"


class FlakyBus:
    """PutEvents that is throttled ``failures`` times, then takes everything."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.sent: list[Notification] = []

    def publish(self, notifications: Sequence[Notification]) -> None:
        if self.failures:
            self.failures -= 1
            raise NotificationError(
                "EventBridge rejected 1 notification(s)", ["ThrottlingException"]
            )
        self.sent += notifications


class NoLaunches:
    def run_task(self, spec: Any) -> str:
        raise AssertionError

    def stop_task(self, task_arn: str, reason: str) -> None:
        raise AssertionError


def _plane(store: Any, bus: FlakyBus) -> ControlPlane:
    return ControlPlane(store=store, notifier=bus, launcher=NoLaunches())


def _run(run_id: str = "run1") -> RunRecord:
    now = utc_now()
    return RunRecord(
        run_id=run_id,
        state=State.RUNNING,
        created_at=now,
        updated_at=now,
        workflow_name="w",
        workflow_key="k",
        inputs_key="k",
    )


def test_a_failed_announcement_is_sent_when_the_event_is_retried(store: Any) -> None:
    bus = FlakyBus(failures=1)
    plane = _plane(store, bus)
    event = ecs_event(TASK, 1, "RUNNING")
    try:
        handle_ecs_event(event, plane)
    except NotificationError:
        pass
    else:
        raise AssertionError("the failure must reach the caller, so the event is retried")
    task = store.get_task("task1")
    assert task is not None and task.state == State.RUNNING  # the change itself is stored
    assert [n["detail"]["state"] for n in task.unannounced] == ["RUNNING"]
    handle_ecs_event(event, plane)  # EventBridge's retry: a duplicate, but owed a notification
    assert [n.detail["state"] for n in bus.sent] == ["RUNNING"]
    assert store.get_task("task1").unannounced == []
    handle_ecs_event(event, plane)
    assert len(bus.sent) == 1  # announced once it went through, not again


def test_pending_announcements_go_out_first_with_the_next_change(store: Any) -> None:
    bus = FlakyBus(failures=1)
    plane = _plane(store, bus)
    with contextlib.suppress(NotificationError):
        handle_ecs_event(ecs_event(TASK, 1, "RUNNING"), plane)
    handle_ecs_event(ecs_event(TASK, 2, "STOPPED", exit_code=0), plane)
    assert [n.detail["state"] for n in bus.sent] == ["RUNNING", "COMPLETE"]


def test_a_new_run_is_recorded_even_when_its_announcement_fails(store: Any) -> None:
    bus = FlakyBus(failures=1)
    plane = _plane(store, bus)
    create_run(plane, _run())
    stored = store.get_run("run1")
    assert stored is not None and len(stored.unannounced) == 1 and bus.sent == []
    create_run(plane, _run("run2"))
    assert [n.detail["run_id"] for n in bus.sent] == ["run2"]
    assert store.get_run("run2").unannounced == []
