"""Decisions about records: given what is stored and what happened, what should be stored next.

Pure: no I/O. Each function returns the new record, or None when nothing should be written
(a duplicate or stale event, a move out of a terminal state, a move backwards). Store adapters
then write the result with a compare-and-set, so the same decisions serve SQLite and DynamoDB.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .cost import Cost, from_dict, record_cost
from .ecs_events import TaskEvent, task_state
from .fargate import X86_PRICES, Prices
from .records import JSON, RunRecord, TaskRecord
from .states import State, can_transition, is_terminal


def apply_task_event(current: TaskRecord | None, event: TaskEvent, now: str) -> TaskRecord | None:
    """Fold one ECS event for a WDL task into its record.

    Duplicates and older events (``version`` not above the stored one) and anything after a
    terminal state are no-ops, so events may arrive in any order and any number of times.
    """
    if current is not None and (event.version <= current.version or is_terminal(current.state)):
        return None
    previous = current.state if current is not None else State.QUEUED
    target = task_state(event)
    state = target if target is not None and can_transition(previous, target) else previous
    base = current or TaskRecord(
        task_id=event.task_id, run_id=event.run_id, state=State.QUEUED, updated_at=now
    )
    return base.replace(
        state=state,
        updated_at=now,
        task_arn=event.task_arn,
        call_id=event.call_id or base.call_id,
        attempt=event.attempt if event.call_id else base.attempt,
        version=event.version,
        last_status=event.last_status,
        exit_code=event.exit_code if event.exit_code is not None else base.exit_code,
        stop_code=event.stop_code or base.stop_code,
        stopped_reason=event.stopped_reason or event.container_reason or base.stopped_reason,
        container_reason=event.container_reason or base.container_reason,
        requested_at=base.requested_at or event.requested_at,
        created_at=event.created_at or base.created_at or now,
        started_at=event.started_at or base.started_at,
        stopped_at=event.stopped_at or base.stopped_at or (now if event.stopped else None),
        cpu=event.cpu or base.cpu,
        memory=event.memory or base.memory,
        stdout=event.stdout or base.stdout,
        stderr=event.stderr or base.stderr,
        log_stream=event.log_stream or base.log_stream,
        pull_started_at=event.pull_started_at or base.pull_started_at,
        capacity_provider=event.capacity_provider or base.capacity_provider,
        provisioning_seconds=base.provisioning_seconds
        if base.provisioning_seconds is not None
        else provisioning_seconds(
            event.created_at or base.created_at,
            event.pull_started_at or event.started_at or base.started_at or event.stopped_at,
        ),
    )


def provisioning_seconds(created_at: str | None, provisioned_at: str | None) -> float | None:
    """Seconds a task spent being provisioned (ECS timestamps), None until both are known."""
    if not created_at or not provisioned_at:
        return None
    try:
        start = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
        end = datetime.fromisoformat(provisioned_at.replace("Z", "+00:00"))
    except ValueError:
        return None
    return max(0.0, round((end - start).total_seconds(), 3))


def apply_orchestrator_event(
    run: RunRecord,
    event: TaskEvent,
    now: str,
    *,
    tasks_cost: Cost | None = None,
    prices: Prices = X86_PRICES,
) -> RunRecord | None:
    """Fold one ECS event of the run's orchestrator task into the run.

    The run follows the orchestrator's lifecycle. An orchestrator that stops while the run is not
    yet terminal did not report an outcome: the run is CANCELED if a cancel was asked for, and
    SYSTEM_ERROR otherwise.

    When the orchestrator stops, the run's cost becomes ``tasks_cost`` (its task containers')
    plus the orchestrator's own, even if the run already ended (state does not change then).
    """
    if event.version <= run.orchestrator_version:
        return None
    if is_terminal(run.state):
        if not event.stopped:
            return None
        return _revise(
            run,
            now,
            orchestrator_version=event.version,
            cost=_with_orchestrator(tasks_cost, run, event, prices),
        )
    changes: dict[str, Any] = {"orchestrator_version": event.version}
    if not run.orchestrator_arn:
        changes["orchestrator_arn"] = event.task_arn
    target = task_state(event)
    if event.stopped:
        if run.state == State.CANCELING:
            target = State.CANCELED
        else:
            target = State.SYSTEM_ERROR
            changes["error"] = {
                "message": "the orchestrator stopped without reporting an outcome: "
                + _stop_description(event),
                "stop_code": event.stop_code,
                "exit_code": event.exit_code,
            }
        changes["exit_code"] = event.exit_code
        changes["end_time"] = event.stopped_at or now
        if not run.start_time and event.started_at:  # RUNNING may arrive later, or never
            changes["start_time"] = event.started_at
        changes["cost"] = _with_orchestrator(tasks_cost, run, event, prices)
    elif target == State.RUNNING and not run.start_time:
        changes["start_time"] = event.started_at or now
    if target is not None and can_transition(run.state, target):
        changes["state"] = target
    return _revise(run, now, **changes)


def report_outcome(
    run: RunRecord,
    state: State,
    now: str,
    *,
    outputs: JSON | None = None,
    error: JSON | None = None,
    exit_code: int | None = None,
    cost: Cost | None = None,
    log_location: str | None = None,
) -> RunRecord | None:
    """The orchestrator's own report of how the run ended (it knows outputs, errors, and what
    its task containers cost)."""
    if not is_terminal(state):
        raise ValueError(f"an outcome must be a terminal state, not {state}")
    if not can_transition(run.state, state):
        return None
    return _revise(
        run,
        now,
        state=state,
        outputs=outputs,
        error=error,
        exit_code=exit_code,
        end_time=now,
        cost=cost.as_dict() if cost is not None else run.cost,
        log_location=log_location or run.log_location,
    )


def mark_started(
    run: RunRecord, now: str, *, run_dir: str, orchestrator_arn: str | None = None
) -> RunRecord | None:
    """The orchestrator (task ``orchestrator_arn``, if it knows it) is running miniwdl in
    ``run_dir``. None if the run is being canceled or is over: the orchestrator must not
    start."""
    if is_terminal(run.state) or run.state == State.CANCELING:
        return None
    state = State.RUNNING if can_transition(run.state, State.RUNNING) else run.state
    return _revise(
        run,
        now,
        state=state,
        run_dir=run_dir,
        start_time=run.start_time or now,
        orchestrator_arn=run.orchestrator_arn or orchestrator_arn,
    )


def request_cancel(run: RunRecord, now: str) -> RunRecord | None:
    """Ask for a run to stop: it goes to CANCELING until its orchestrator has stopped."""
    if not can_transition(run.state, State.CANCELING):
        return None
    return _revise(run, now, state=State.CANCELING)


def record_orchestrator(run: RunRecord, task_arn: str, now: str) -> RunRecord | None:
    """Remember which ECS task is the run's orchestrator (its events may have said so first)."""
    if run.orchestrator_arn:
        return None
    return _revise(run, now, orchestrator_arn=task_arn)


def record_launch_failure(run: RunRecord, now: str, reason: str) -> RunRecord | None:
    """The orchestrator could not be started at all."""
    if not can_transition(run.state, State.SYSTEM_ERROR):
        return None
    return _revise(
        run,
        now,
        state=State.SYSTEM_ERROR,
        error={"message": f"the orchestrator could not be started: {reason}"},
        end_time=now,
    )


def tasks_to_stop(tasks: Iterable[TaskRecord]) -> list[TaskRecord]:
    """Tasks still holding (or about to hold) compute: everything not yet terminal."""
    return [t for t in tasks if not is_terminal(t.state) and t.task_arn]


@dataclass(frozen=True)
class Progress:
    """Counts of a run's calls by where their latest attempt is."""

    queued: int = 0
    running: int = 0
    done: int = 0
    failed: int = 0

    def describe(self) -> str:
        """The progress line's task part."""
        return (
            f"tasks: {self.queued} queued, {self.running} running, "
            f"{self.done} done, {self.failed} failed"
        )


def progress(tasks: Iterable[TaskRecord]) -> Progress:
    """Summarise a run's tasks, counting each call once by its latest attempt."""
    latest: dict[str, TaskRecord] = {}
    for task in tasks:
        key = task.call_id or task.task_id
        if key not in latest or task.attempt >= latest[key].attempt:
            latest[key] = task
    counts = {"queued": 0, "running": 0, "done": 0, "failed": 0}
    for task in latest.values():
        if task.state in (State.QUEUED, State.INITIALIZING):
            counts["queued"] += 1
        elif task.state in (State.RUNNING, State.CANCELING):
            counts["running"] += 1
        elif task.state == State.COMPLETE:
            counts["done"] += 1
        else:
            counts["failed"] += 1
    return Progress(**counts)


def _with_orchestrator(
    tasks_cost: Cost | None, run: RunRecord, event: TaskEvent, prices: Prices
) -> JSON:
    """The run's cost once its orchestrator stopped: its tasks' (given, else what the
    orchestrator recorded) plus the orchestrator's own."""
    if tasks_cost is None:
        tasks_cost = from_dict(run.cost)
    own = record_cost(
        cpu=event.cpu,
        memory=event.memory,
        started_at=event.pull_started_at or event.started_at,  # billed from the pull
        stopped_at=event.stopped_at,
        prices=prices,
    )
    return (tasks_cost + own).as_dict()


def _revise(run: RunRecord, now: str, **changes: Any) -> RunRecord:
    return run.replace(updated_at=now, **changes)


def _stop_description(event: TaskEvent) -> str:
    parts = [event.stopped_reason or event.container_reason or "no reason given"]
    if event.stop_code:
        parts.append(f"stop code {event.stop_code}")
    if event.exit_code is not None:
        parts.append(f"exit code {event.exit_code}")
    return ", ".join(parts)


def mark_waiting(run: RunRecord, now: str, reason: str) -> RunRecord | None:
    """A queued run waits for its group's room; ``reason`` says for what. None if the run is no
    longer waiting (admitted, canceled) or already says so."""
    if run.state != State.QUEUED or run.admitted_at or run.waiting == reason:
        return None
    return _revise(run, now, waiting=reason)


def mark_admitted(run: RunRecord, now: str, deadline: str | None) -> RunRecord | None:
    """The run's group admitted it: it may launch now, and must end by ``deadline``. None if
    the run is no longer QUEUED (canceled while it waited) or was admitted already."""
    if run.state != State.QUEUED or run.admitted_at:
        return None
    return _revise(run, now, waiting=None, admitted_at=now, deadline=deadline)


def cancel_unlaunched(run: RunRecord, now: str, reason: str) -> RunRecord | None:
    """A run canceled before its orchestrator was launched: CANCELED at once, nothing to stop."""
    if run.orchestrator_arn or run.state not in (State.QUEUED, State.CANCELING):
        return None
    return _revise(
        run, now, state=State.CANCELED, waiting=None, end_time=now, error={"message": reason}
    )


def request_cancel_for(run: RunRecord, now: str, reason: str) -> RunRecord | None:
    """``request_cancel``, with the reason recorded as the run's error (a limit it broke)."""
    canceling = request_cancel(run, now)
    if canceling is None:
        return None
    return canceling.replace(error={"message": reason})
