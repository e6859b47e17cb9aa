"""The two records the store keeps: a run and each task (one ECS task per WDL call attempt).

Plain frozen dataclasses, so the decision functions in ``transitions`` can return changed copies
without I/O, and every store adapter serialises them the same way (``to_item``/``from_item``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Self

from .states import State

JSON = dict[str, Any]


def utc_now() -> str:
    """Current time as the ISO-8601 UTC string used in every record (ECS uses the same form)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Item:
    """Serialisation shared by the records: a flat dict of JSON values, keyed by field name."""

    state: State

    def to_item(self) -> JSON:
        """JSON-compatible dict for storage."""
        # Fields hold JSON values already (nested dicts are never mutated), so a shallow copy of
        # the instance's fields (its ``__dict__``: no slots, no other attributes) is enough, and
        # many times faster than dataclasses.asdict on the event path.
        item = dict(self.__dict__)
        item["state"] = self.state.value
        return item

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes``, as ``dataclasses.replace`` makes it but without running
        ``__init__`` over every field again: the status handler copies a record several times
        an event, and that was a quarter of its time."""
        unknown = changes.keys() - _field_names(type(self))
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {', '.join(sorted(unknown))}")
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.__dict__.update(changes)
        return new

    @classmethod
    def from_item(cls, item: JSON) -> Self:
        """Inverse of ``to_item``; unknown keys (from newer writers) are ignored."""
        names = _field_names(cls)
        values = {k: v for k, v in item.items() if k in names}
        values["state"] = State(values["state"])
        return cls(**values)


_FIELD_NAMES: dict[type, frozenset[str]] = {}


def _field_names(cls: type) -> frozenset[str]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = frozenset(f.name for f in dataclasses.fields(cls))
    return names


@dataclass(frozen=True)
class RunRecord(_Item):
    """One workflow run.

    ``revision`` increases by one on every write; store adapters use it for optimistic
    concurrency (compare-and-set), so concurrent writers never overwrite each other.
    ``unannounced`` is the record's outbox: notifications of its state changes, written with the
    change itself and cleared once published (``status``), so a stored change is announced at
    least once even when the first announcement fails.
    ``orchestrator_version`` is the highest ECS ``detail.version`` applied from the orchestrator
    task's events, which makes duplicate and stale events no-ops.
    """

    run_id: str
    state: State
    created_at: str
    updated_at: str
    workflow_name: str
    workflow_key: str
    inputs_key: str
    request: JSON = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    revision: int = 0
    orchestrator_arn: str | None = None
    orchestrator_version: int = 0
    orchestrator_log: str | None = None
    run_dir: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    exit_code: int | None = None
    outputs: JSON | None = None
    error: JSON | None = None
    cost: JSON | None = None
    log_location: str | None = None
    unannounced: list[JSON] = field(default_factory=list)
    # Run groups (``admission``): the group the run joined ("" for runs admitted without one),
    # its priority in the group's queue, why it waits (None once admitted), when it was
    # admitted, and when it must end (its group's ``max_duration`` from admission).
    group: str = ""
    priority: int = 0
    waiting: str | None = None
    admitted_at: str | None = None
    deadline: str | None = None


@dataclass(frozen=True)
class TaskRecord(_Item):
    """One ECS task: a WDL call attempt, as last reported by its state events.

    ``version`` is the ECS ``detail.version`` of the last event applied (0 when only the launcher
    has registered the task). A write with a version not greater than this one is a no-op.
    ``revision`` counts writes, for the store's compare-and-set, as on ``RunRecord``.
    """

    task_id: str
    run_id: str
    state: State
    updated_at: str
    task_arn: str = ""
    call_id: str = ""
    attempt: int = 1
    version: int = 0
    last_status: str = ""
    exit_code: int | None = None
    stop_code: str | None = None
    stopped_reason: str | None = None
    # The container's own reason, which the task's ``stopped_reason`` does not carry: ECS's
    # ``OutOfMemoryError`` for an attempt killed for its memory (``out_of_memory``).
    container_reason: str | None = None
    created_at: str | None = None
    started_at: str | None = None
    stopped_at: str | None = None
    cpu: str | None = None
    memory: str | None = None
    stdout: str | None = None
    stderr: str | None = None
    log_stream: str | None = None
    revision: int = 0
    unannounced: list[JSON] = field(default_factory=list)
    lease: str | None = None  # the launch budget's lease it holds (``launch_budget``)
    # Seconds from PROVISIONING (createdAt) until the image pull began (else the start or the
    # stop): on EC2 capacity, mostly the Auto Scaling group starting an instance from zero.
    provisioning_seconds: float | None = None
    # When ECS began pulling the image (Fargate bills from there, not from ``started_at``), and
    # the capacity provider it ran on (``FARGATE_SPOT`` is billed at Spot prices).
    pull_started_at: str | None = None
    capacity_provider: str | None = None
    # What the attempt really used, as the platform shim measured it (``shim.parse_usage``):
    # attached by the backend once the attempt ends; None where no shim ran.
    usage: JSON | None = None
    # When the backend asked for this attempt, before it waited for room to launch it (host
    # resources locally, the launch budget on AWS): its queued time ends at ``created_at``.
    requested_at: str | None = None
    # Why a task container still waits for the launch budget: set on its placeholder record
    # only (``waiting_tasks``), which has no ECS task.
    waiting: str | None = None
