"""The status handler: ECS task state changes in, store updates and notifications out.

The same function serves EventBridge on AWS (through ``app.py``) and the local launcher. It reads
the record, lets a pure function in ``transitions`` decide, and writes with compare-and-set.
Every other writer of run state (submit, orchestrator, cancel) goes through ``change_run`` too,
so every state change is announced at least once (through each record's outbox).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import ecs_events
from .cost import tasks_cost
from .fargate import X86_PRICES, Prices
from .launcher import Launcher
from .notifications import (
    Notification,
    Notifier,
    run_notification,
    task_notification,
    usage_notification,
)
from .records import JSON, RunRecord, TaskRecord, utc_now
from .store import NotFound, Store, update_run, update_task
from .transitions import apply_orchestrator_event, apply_task_event, tasks_to_stop
from .waiting_tasks import clear_leftovers

if TYPE_CHECKING:
    from .admission import Admission
    from .launch_budget import SharedLaunchBudget

log = logging.getLogger(__name__)


@dataclass
class ControlPlane:
    """The ports the handler and the other writers need, and the prices costs are quoted in."""

    store: Store
    notifier: Notifier
    launcher: Launcher
    prices: Prices = X86_PRICES
    # Run groups (``admission``) and the shared launch budget (``launch_budget``): None where
    # runs launch at once and task containers take no lease.
    admission: Admission | None = None
    budget: SharedLaunchBudget | None = None


def handle_ecs_event(event: Any, plane: ControlPlane) -> None:
    """Apply one "ECS Task State Change" event. Safe to call with duplicates and in any order.

    Events for tasks this project did not start (or not events at all) are ignored. An event of
    ours whose task, version or status cannot be read is logged and raises
    ``ecs_events.EventError`` before anything is written: on AWS the invocation fails, and after
    Lambda's retries the event is kept in the function's dead-letter queue. A malformed timestamp
    is logged and left out; the rest of the event applies.
    """
    try:
        parsed = ecs_events.parse_task_event(event)
    except ecs_events.EventError as exn:
        log.error("malformed ECS event of ours not applied: %s", exn)
        raise
    if parsed is None:
        return
    if parsed.dropped:
        log.warning(
            "ECS event of task %s (version %d): ignored malformed %s",
            parsed.task_arn,
            parsed.version,
            ", ".join(parsed.dropped),
        )
    if parsed.role == ecs_events.ROLE_ORCHESTRATOR:
        _apply_orchestrator(parsed, plane)
    else:
        lease = _lease(plane, event)
        change_task(
            plane,
            parsed.task_id,
            lambda t: _with_lease(apply_task_event(t, parsed, utc_now()), lease),
        )
        if parsed.stopped and lease is not None and plane.budget is not None:
            plane.budget.release(lease)  # a duplicate event finds it given back: no write


def _lease(plane: ControlPlane, event: Any) -> str | None:
    """The launch budget's lease the event's task holds (None without a budget)."""
    if plane.budget is None:
        return None
    from .launch_budget import lease_of

    return lease_of(event)


def _with_lease(task: TaskRecord | None, lease: str | None) -> TaskRecord | None:
    """The task record naming its lease, so the sweep can keep it or give it back."""
    if task is None or lease is None or task.lease == lease:
        return task
    return task.replace(lease=lease)


def create_run(plane: ControlPlane, run: RunRecord) -> None:
    """Record a new run and announce it; raises ``RunExists`` if the id is taken. An
    announcement that fails stays in the run's outbox for its next change to send: a run is
    never left unlaunched for want of a notification."""
    note = run_notification(None, run)
    run = run.replace(unannounced=_outbox([], note))
    plane.store.create_run(run)
    try:
        _flush_run(plane, run)
    except Exception:  # kept in the outbox, sent with the run's next change
        log.exception("announcing run %s failed; its next change announces it", run.run_id)


def change_run(
    plane: ControlPlane, run_id: str, decide: Callable[[RunRecord], RunRecord | None]
) -> RunRecord | None:
    """Write a run decision and announce a state change; returns the new record or None.

    The announcement is written with the change (the record's outbox) and cleared once sent: if
    sending fails, the next write or handling of the run (EventBridge's retry of the event,
    say) sends it again.
    """
    seen: list[RunRecord] = []

    def decide_with_outbox(current: RunRecord) -> RunRecord | None:
        seen[:] = [current]
        new = decide(current)
        if new is None:
            return None
        outbox = _outbox(current.unannounced, run_notification(current, new))
        return new.replace(unannounced=outbox)

    changed = update_run(plane.store, run_id, decide_with_outbox)
    record = changed[1] if changed is not None else (seen[0] if seen else None)
    if record is not None and record.unannounced:
        _flush_run(plane, record)
    return changed[1] if changed is not None else None


def change_task(
    plane: ControlPlane, task_id: str, decide: Callable[[TaskRecord | None], TaskRecord | None]
) -> TaskRecord | None:
    """Write a task decision and announce a state change, as ``change_run`` does."""
    seen: list[TaskRecord] = []

    def decide_with_outbox(current: TaskRecord | None) -> TaskRecord | None:
        seen[:] = [current] if current is not None else []
        new = decide(current)
        if new is None:
            return None
        pending = current.unannounced if current is not None else []
        outbox = _outbox(pending, task_notification(current, new, plane.prices))
        return new.replace(unannounced=outbox)

    changed = update_task(plane.store, task_id, decide_with_outbox)
    record = changed[1] if changed is not None else (seen[0] if seen else None)
    if record is not None and record.unannounced:
        _flush_task(plane, record)
    return changed[1] if changed is not None else None


def record_usage(plane: ControlPlane, task: TaskRecord, usage: JSON) -> TaskRecord:
    """Put what the platform shim measured on a finished attempt's record, and announce it
    ("WDL Task Usage"). Not through the outbox: the status handler may still be sending the
    attempt's last state change from it, and a second flush would send that again. So the
    announcement is sent once, after the write; it is lost only if this process dies between
    the two (the figures stay on the record)."""
    changed = update_task(
        plane.store,
        task.task_id,
        lambda t: None if t is None or t.usage is not None else t.replace(usage=usage),
        latest=task,
    )
    if changed is None:
        return plane.store.get_task(task.task_id) or task.replace(usage=usage)
    recorded = changed[1]
    try:
        plane.notifier.publish([usage_notification(recorded)])
    except Exception:  # the usage is on the record; only its announcement is lost
        log.exception("announcing the usage of task %s failed", task.task_id)
    return recorded


def _outbox(pending: list[JSON], note: Notification | None) -> list[JSON]:
    """The record's notifications still to send: the earlier ones first, then this change's."""
    if note is None:
        return list(pending)
    return [*pending, {"detail_type": note.detail_type, "detail": note.detail}]


def _publish(plane: ControlPlane, outbox: list[JSON]) -> None:
    plane.notifier.publish([Notification(n["detail_type"], n["detail"]) for n in outbox])


def _flush_run(plane: ControlPlane, run: RunRecord) -> None:
    """Send the run's outbox, then clear it (unless it changed meanwhile: then the writer of the
    change sends it all, these included)."""
    _publish(plane, run.unannounced)
    sent = run.unannounced
    update_run(
        plane.store,
        run.run_id,
        lambda r: r.replace(unannounced=[]) if r.unannounced == sent else None,
        latest=run,
    )


def _flush_task(plane: ControlPlane, task: TaskRecord) -> None:
    """As ``_flush_run``, for a task."""
    _publish(plane, task.unannounced)
    sent = task.unannounced
    update_task(
        plane.store,
        task.task_id,
        lambda t: t.replace(unannounced=[]) if t is not None and t.unannounced == sent else None,
        latest=task,
    )


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
        cleared = clear_leftovers(plane.store, tasks)
        if cleared:
            log.warning("cleared %d task(s) left waiting in run %s", cleared, event.run_id)
        if plane.admission is not None:
            from .admission import run_ended

            run_ended(plane, event.run_id)  # its group's room goes to the next waiting run
