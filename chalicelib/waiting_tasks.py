"""The records of task containers waiting for the launch budget: PENDING, among a run's tasks.

A task container that must wait for its group's or the account's vCPUs or GPUs
(``launch_budget``) has no ECS task yet, so no record of its own. While it waits it shows as a
placeholder task record, QUEUED, with the reason in ``waiting`` ("group lab-a has 500 of 500
vCPUs in flight"), its call and attempt, and when it was asked for. A wait for the launch rate
alone (a second or so) writes nothing. The placeholder is deleted once the lease is granted,
before the RunTask (the ECS task's own record follows from its events), or when the wait ends
otherwise; one that a killed orchestrator left behind is deleted when the run's orchestrator
stops (``status``). Placeholders send no notifications: "WDL Task State Change" speaks of ECS
tasks, and the launched task announces itself.
"""

from __future__ import annotations

from collections.abc import Callable

from . import ecs_events
from .launcher import TaskSpec
from .records import TaskRecord, utc_now
from .states import State
from .store import Store

PREFIX = "waiting-"


def waiting_task_id(lease_key: str) -> str:
    """The placeholder's task id: its lease's key, which no ECS task id can be."""
    return PREFIX + lease_key


def is_waiting(task: TaskRecord) -> bool:
    """Whether ``task`` is a placeholder (it has no ECS task)."""
    return task.task_id.startswith(PREFIX) and not task.task_arn


def waiting_record(
    current: TaskRecord | None, spec: TaskSpec, lease_key: str, reason: str, now: str
) -> TaskRecord | None:
    """The placeholder saying ``reason`` (pure): None if ``current`` says so already."""
    if current is not None:
        if current.waiting == reason:
            return None
        return current.replace(waiting=reason, updated_at=now)
    env = spec.environment
    attempt = env.get(ecs_events.ENV_ATTEMPT, "1")
    return TaskRecord(
        task_id=waiting_task_id(lease_key),
        run_id=spec.run_id,
        state=State.QUEUED,
        updated_at=now,
        call_id=env.get(ecs_events.ENV_CALL_ID, ""),
        attempt=int(attempt) if attempt.isdigit() else 1,
        cpu=str(spec.cpu),
        memory=str(spec.memory_mb),
        requested_at=env.get(ecs_events.ENV_REQUESTED_AT) or now,
        waiting=reason,
    )


class WaitingTask:
    """One task container's wait: ``show`` writes or updates its placeholder, ``clear`` deletes
    it (if one was written). Both are called from the waiting thread."""

    def __init__(
        self, store: Store, spec: TaskSpec, lease_key: str, clock: Callable[[], str] = utc_now
    ) -> None:
        self.store = store
        self.spec = spec
        self.lease_key = lease_key
        self.clock = clock
        self._shown: TaskRecord | None = None

    def show(self, reason: str) -> None:
        """Say why the task waits: one write per reason, and no read (no one else writes a
        placeholder while its task waits)."""
        shown = self._shown
        new = waiting_record(shown, self.spec, self.lease_key, reason, self.clock())
        if new is None:
            return
        expected = shown.revision if shown is not None else None
        new = new.replace(revision=(expected or 0) + 1)
        if self.store.put_task(new, expected):
            self._shown = new

    def clear(self) -> None:
        """Delete the placeholder: the task launches now, or never."""
        shown, self._shown = self._shown, None
        if shown is not None:
            self.store.delete_task(shown.task_id, shown.revision)


def clear_leftovers(store: Store, tasks: list[TaskRecord]) -> int:
    """Delete the placeholders among a run's ``tasks`` once its orchestrator has stopped (none
    of them will launch); returns how many there were."""
    leftovers = [t for t in tasks if is_waiting(t)]
    for task in leftovers:
        store.delete_task(task.task_id, task.revision)
    return len(leftovers)
