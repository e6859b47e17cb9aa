"""The status handler: ECS task state changes in, store updates and notifications out.

The same function serves EventBridge on AWS (through ``app.py``) and the local launcher. It reads
the record, lets a pure function in ``transitions`` decide, and writes with compare-and-set.
Every other writer of run state (submit, orchestrator, cancel) goes through ``change_run`` too,
so every state change is announced exactly once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from . import ecs_events
from .cost import tasks_cost
from .fargate import X86_PRICES, Prices
from .launcher import Launcher
from .notifications import Notification, Notifier, run_notification, task_notification
from .records import RunRecord, TaskRecord, utc_now
from .store import NotFound, Store, update_run, update_task
from .transitions import apply_orchestrator_event, apply_task_event, tasks_to_stop

log = logging.getLogger(__name__)
R = TypeVar("R", RunRecord, TaskRecord)


@dataclass
class ControlPlane:
    """The ports the handler and the other writers need, and the prices costs are quoted in."""

    store: Store
    notifier: Notifier
    launcher: Launcher
    prices: Prices = X86_PRICES


def handle_ecs_event(event: Mapping[str, Any], plane: ControlPlane) -> None:
    """Apply one "ECS Task State Change" event. Safe to call with duplicates and in any order.

    Events for tasks this project did not start are ignored. A malformed event of ours raises
    ``ecs_events.EventError`` (on AWS it then goes to the rule's dead-letter queue).
    """
    parsed = ecs_events.parse_task_event(event)
    if parsed is None:
        return
    if parsed.role == ecs_events.ROLE_ORCHESTRATOR:
        _apply_orchestrator(parsed, plane)
    else:
        change_task(plane, parsed.task_id, lambda t: apply_task_event(t, parsed, utc_now()))


def change_run(
    plane: ControlPlane, run_id: str, decide: Callable[[RunRecord], RunRecord | None]
) -> RunRecord | None:
    """Write a run decision and announce a state change; returns the new record or None."""
    return _announced(plane, update_run(plane.store, run_id, decide), run_notification)


def change_task(
    plane: ControlPlane, task_id: str, decide: Callable[[TaskRecord | None], TaskRecord | None]
) -> TaskRecord | None:
    """Write a task decision and announce a state change; returns the new record or None."""
    return _announced(
        plane,
        update_task(plane.store, task_id, decide),
        lambda old, new: task_notification(old, new, plane.prices),
    )


def _announced(
    plane: ControlPlane,
    changed: tuple[R | None, R] | None,
    describe: Callable[[R | None, R], Notification | None],
) -> R | None:
    if changed is None:
        return None
    old, new = changed
    note = describe(old, new)
    if note is not None:
        plane.notifier.publish([note])
    return new


def stop_run_tasks(
    plane: ControlPlane, run_id: str, reason: str, tasks: list[TaskRecord] | None = None
) -> int:
    """Stop every task of the run that is not yet terminal (of ``tasks``, if the caller has
    just read them); returns how many were asked."""
    leftovers = tasks_to_stop(plane.store.list_tasks(run_id) if tasks is None else tasks)
    for task in leftovers:
        plane.launcher.stop_task(task.task_arn, reason)
    return len(leftovers)


def _apply_orchestrator(event: ecs_events.TaskEvent, plane: ControlPlane) -> None:
    # The run's cost and its leftover tasks both come from one read when the orchestrator stops.
    tasks = plane.store.list_tasks(event.run_id) if event.stopped else []
    cost = tasks_cost(tasks, plane.prices) if event.stopped else None
    try:
        change_run(
            plane,
            event.run_id,
            lambda r: apply_orchestrator_event(
                r, event, utc_now(), tasks_cost=cost, prices=plane.prices
            ),
        )
    except NotFound:
        log.warning("event for unknown run %s (task %s) ignored", event.run_id, event.task_arn)
        return
    if event.stopped:
        stopped = stop_run_tasks(plane, event.run_id, "the run's orchestrator stopped", tasks)
        if stopped:
            log.warning("stopped %d leftover task(s) of run %s", stopped, event.run_id)
