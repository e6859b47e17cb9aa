"""The sweep: repairs the records of runs and tasks whose events were lost.

Nothing polls ECS in the normal path; events can still be lost (a handler that failed past its
retries, a dead-letter queue nobody drained, a process killed between a stop and its report).
The sweep finds the records still in flight that have gone quiet, asks the launcher's side what
became of their tasks (on AWS one DescribeTasks per 100 tasks; locally the launcher's own state
files), and feeds each answer through the same status handler as an event would be.

It runs on a schedule on AWS (an EventBridge rule, ``app.py``), and in the local mode whenever
the CLI waits on or looks at runs. Its cost when nothing is in flight: one query per in-flight
state and shard of the store, and no ECS call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from . import ecs_events
from .records import RunRecord, TaskRecord
from .states import State, is_terminal
from .status import ControlPlane, handle_ecs_event

log = logging.getLogger(__name__)

IN_FLIGHT = (State.QUEUED, State.INITIALIZING, State.RUNNING, State.CANCELING)
DEFAULT_QUIET_SECONDS = 300.0
Describe = Callable[[Sequence[str]], list[dict[str, Any]]]
Repair = Callable[[Sequence[str]], list[str]]


@dataclass(frozen=True)
class SweepReport:
    """What one sweep looked at and repaired."""

    runs: int
    described: int
    repaired: tuple[str, ...]


def quiet_task_arns(
    runs: Iterable[RunRecord],
    tasks: Mapping[str, Sequence[TaskRecord]],
    now: datetime,
    quiet_after: timedelta,
) -> list[str]:
    """The ECS tasks to ask about (pure): the orchestrator of every in-flight run that has not
    changed for ``quiet_after``, and every task not yet terminal that has not either."""
    arns: list[str] = []
    for run in runs:
        if is_terminal(run.state):
            continue
        if run.orchestrator_arn and _quiet(run.updated_at, now, quiet_after):
            arns.append(run.orchestrator_arn)
        for task in tasks.get(run.run_id, ()):
            active = task.task_arn and not is_terminal(task.state)
            if active and _quiet(task.updated_at, now, quiet_after):
                arns.append(task.task_arn)
    return list(dict.fromkeys(arns))


def description_event(task: Mapping[str, Any]) -> dict[str, Any]:
    """A DescribeTasks task as the "ECS Task State Change" event it corresponds to (the
    event's ``detail`` has DescribeTasks' shape)."""
    return {
        "version": "0",
        "source": ecs_events.SOURCE,
        "detail-type": ecs_events.DETAIL_TYPE,
        "resources": [task.get("taskArn", "")],
        "detail": _jsonable(task),
    }


def reconcile(plane: ControlPlane, describe: Describe, task_arns: Sequence[str]) -> list[str]:
    """Feed what ``describe`` says of ``task_arns`` through the status handler (a watcher's
    repair of tasks whose records went quiet); returns the ARNs whose state was applied."""
    applied: list[str] = []
    for task in describe(task_arns) if task_arns else []:
        try:
            handle_ecs_event(description_event(task), plane)
            applied.append(str(task.get("taskArn")))
        except Exception:  # one bad record must not stop the repair of the rest
            log.exception("could not apply the described state of %s", task.get("taskArn"))
    return applied


def sweep(
    plane: ControlPlane,
    repair: Repair,
    *,
    quiet_seconds: float = DEFAULT_QUIET_SECONDS,
    now: datetime | None = None,
) -> SweepReport:
    """Repair the in-flight runs and tasks whose records went quiet (``repair`` applies what
    the launcher's side says of them, e.g. ``reconcile`` over DescribeTasks); see the module
    doc."""
    moment = now or datetime.now(UTC)
    runs: list[RunRecord] = []
    for state in IN_FLIGHT:
        token = ""
        while True:
            page, token = plane.store.list_runs(state=state, page_size=1000, page_token=token)
            runs += page
            if not token:
                break
    tasks = {run.run_id: plane.store.list_tasks(run.run_id) for run in runs}
    arns = quiet_task_arns(runs, tasks, moment, timedelta(seconds=quiet_seconds))
    repaired = repair(arns) if arns else []
    if arns:
        log.info(
            "sweep: %d run(s), %d quiet task(s), %d repaired", len(runs), len(arns), len(repaired)
        )
    repair_limits(plane, runs, tasks, moment, timedelta(seconds=quiet_seconds))
    return SweepReport(runs=len(runs), described=len(arns), repaired=tuple(repaired))


def _quiet(updated_at: str, now: datetime, quiet_after: timedelta) -> bool:
    try:
        stamp = datetime.fromisoformat(updated_at.replace("Z", "+00:00"))
    except ValueError:
        return True  # unreadable: worth a look
    return now - stamp >= quiet_after


def _jsonable(value: Any) -> Any:
    # boto3 returns datetimes where events carry ISO strings.
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        stamp = value.astimezone(UTC).isoformat(timespec="milliseconds")
        return stamp.replace("+00:00", "Z")
    return value


def repair_limits(
    plane: ControlPlane,
    runs: Sequence[RunRecord],
    tasks: Mapping[str, Sequence[TaskRecord]],
    now: datetime,
    quiet: timedelta,
) -> None:
    """Run groups' and the launch budget's share of the sweep (no ECS call): admission's
    repairs (``admission.reconcile_groups``: lost STOPPED events, stranded and unlaunched
    runs, and runs whose deadline passed a quiet period ago: the safety net of the deadline
    timers, ``deadlines``), and the leases of tasks that ended given back, with those past
    their expiry that no task in flight holds (``launch_budget.reclaim``)."""
    if plane.admission is not None:
        from .admission import reconcile_groups
        from .cost import tasks_cost

        costs = {
            r.run_id: tasks_cost(tasks.get(r.run_id, ()), plane.prices).usd for r in runs if r.group
        }
        for line in reconcile_groups(plane, runs, now, quiet, costs):
            log.info("sweep: %s", line)
    if plane.budget is not None:
        held = [t for ts in tasks.values() for t in ts if t.lease]
        alive = {str(t.lease) for t in held if not is_terminal(t.state)}
        ended = {str(t.lease) for t in held if is_terminal(t.state)}
        given = plane.budget.repair(alive, ended)
        if given:
            log.info("sweep: %d launch budget lease(s) given back", given)
