"""The store port: where runs and tasks are recorded.

Adapters (SQLite here, DynamoDB for AWS) implement ``Store``: plain reads, and writes that are
compare-and-set on the record's ``revision``. ``update_run``/``update_task`` wrap a pure decision
function from ``transitions`` in that compare-and-set loop, so no writer ever overwrites another's
change and every adapter gets the same semantics from one piece of code.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Protocol

from .groups import GroupRecord
from .launch_budget import BudgetRecord, Lease
from .records import RunRecord, TaskRecord
from .states import State

MAX_PAGE_SIZE = 1000


class RunExists(Exception):
    """A run with this id is already recorded."""


class NotFound(LookupError):
    """No such run or task."""


class Store(Protocol):
    """Runs and tasks, with compare-and-set writes keyed on ``revision``."""

    def create_run(self, run: RunRecord) -> None:
        """Insert a new run; raises ``RunExists`` if the id is taken."""

    def get_run(self, run_id: str) -> RunRecord | None:
        """The run, or None."""

    def put_run(self, run: RunRecord, expected_revision: int) -> bool:
        """Write ``run`` if the stored revision is ``expected_revision``; False if it was not."""

    def list_runs(
        self, *, state: State | None = None, page_size: int = 50, page_token: str = ""
    ) -> tuple[list[RunRecord], str]:
        """Runs newest first, optionally of one state; returns the page and the next token
        ("" at the end). Raises ``ValueError`` for a token this store did not issue."""

    def get_task(self, task_id: str) -> TaskRecord | None:
        """The task, or None."""

    def get_tasks(self, task_ids: Sequence[str]) -> list[TaskRecord]:
        """The tasks among ``task_ids`` that exist, in one round trip."""

    def put_task(self, task: TaskRecord, expected_revision: int | None) -> bool:
        """Write ``task`` if the stored revision is ``expected_revision`` (None: if it does not
        exist yet); False otherwise."""

    def list_tasks(self, run_id: str) -> list[TaskRecord]:
        """All tasks of a run, oldest first."""

    def delete_task(self, task_id: str, expected_revision: int) -> bool:
        """Delete the task if its stored revision is ``expected_revision``; False otherwise.
        Only a task container's record while it waits to launch (``waiting_tasks``) is ever
        deleted: a task that was launched keeps its record."""

    def wait_for_change(self, seen: int, timeout: float) -> int:
        """Block until this process's count of task ends differs from ``seen``, or ``timeout``
        seconds pass; returns the count.

        A task end is a task record written as terminal by this process. Lets a waiter re-read
        as soon as an in-process event ended a task, without missing one that landed between
        its read and its wait. Adapters that cannot know sleep ``timeout`` and return
        ``seen + 1``.
        """

    def ended_since(self, seen: int) -> Sequence[str] | None:
        """The ids of the tasks this process recorded as ended after its count was ``seen``
        (``wait_for_change``), so a waiter re-reads those alone; None when it cannot tell
        (then every waited-for task must be read)."""

    def get_group(self, name: str) -> GroupRecord | None:
        """The run group, or None."""

    def put_group(self, group: GroupRecord, expected_revision: int | None) -> bool:
        """Write ``group`` if the stored revision is ``expected_revision`` (None: if no group of
        that name exists yet); False otherwise."""

    def list_groups(self) -> list[GroupRecord]:
        """Every run group, by name."""

    def delete_group(self, name: str, expected_revision: int) -> bool:
        """Delete the group if its stored revision is ``expected_revision``; False otherwise."""

    def get_budget(self, name: str) -> BudgetRecord | None:
        """The launch budget's counters (``launch_budget``), or None."""

    def get_lease(self, budget: str, key: str) -> Lease | None:
        """Lease ``key`` of the launch budget ``budget``, or None."""

    def list_leases(self, budget: str) -> dict[str, Lease]:
        """Every lease of the launch budget, by key (the sweep's repair)."""

    def change_budget(
        self, budget: BudgetRecord, expected_revision: int | None, key: str, lease: Lease | None
    ) -> bool:
        """One atomic change of a launch budget: its counters ``budget`` written if the stored
        revision is ``expected_revision`` (None: if none is stored yet), and with them lease
        ``key`` created (``lease``: only if it does not exist) or deleted (None: only if it
        exists). False, and nothing written, if either condition fails."""


class ChangeCounter:
    """Counts this process's task ends, and remembers the latest ones' task ids, so
    ``Store.wait_for_change`` can wake waiters and ``Store.ended_since`` tell them what to read."""

    REMEMBERED = 4096

    def __init__(self) -> None:
        self._count = 0
        self._ended: deque[str] = deque(maxlen=self.REMEMBERED)  # ids of ends up to _count
        self._cv = threading.Condition()

    def bump(self, task_id: str) -> None:
        """Record the end of ``task_id`` and wake every waiter."""
        with self._cv:
            self._count += 1
            self._ended.append(task_id)
            self._cv.notify_all()

    def ended_since(self, seen: int) -> list[str] | None:
        """``Store.ended_since``: None if ends after ``seen`` are no longer all remembered."""
        with self._cv:
            missed = self._count - seen
            if seen < 0 or missed > len(self._ended):
                return None
            return list(itertools.islice(self._ended, len(self._ended) - max(missed, 0), None))

    def wait(self, seen: int, timeout: float) -> int:
        """``Store.wait_for_change``: block while the count is ``seen``, up to ``timeout``."""
        with self._cv:
            if self._count == seen:
                self._cv.wait(timeout)
            return self._count


def update_run(
    store: Store,
    run_id: str,
    decide: Callable[[RunRecord], RunRecord | None],
    *,
    latest: RunRecord | None = None,
) -> tuple[RunRecord, RunRecord] | None:
    """Apply ``decide`` to the stored run with compare-and-set, retrying on a concurrent write.

    ``latest`` is the record as the caller last read or wrote it: tried first, it saves a read
    (if it is stale, the write fails and the record is read as usual).
    Returns (old, new) if a write happened, None if ``decide`` chose not to write.
    Raises ``NotFound`` if the run does not exist.
    """
    current = latest if latest is not None else store.get_run(run_id)
    while True:
        if current is None:
            raise NotFound(f"no run {run_id!r}")
        decided = decide(current)
        if decided is None:
            return None
        new = decided.replace(revision=current.revision + 1)
        if store.put_run(new, current.revision):
            return current, new
        current = store.get_run(run_id)


def update_task(
    store: Store,
    task_id: str,
    decide: Callable[[TaskRecord | None], TaskRecord | None],
    *,
    latest: TaskRecord | None = None,
) -> tuple[TaskRecord | None, TaskRecord] | None:
    """Apply ``decide`` to the stored task (None if absent) with compare-and-set; ``latest``
    as for ``update_run``."""
    current = latest if latest is not None else store.get_task(task_id)
    while True:
        decided = decide(current)
        if decided is None:
            return None
        expected = current.revision if current is not None else None
        new = decided.replace(revision=(expected or 0) + 1)
        if store.put_task(new, expected):
            return current, new
        current = store.get_task(task_id)


def encode_page_token(created_at: str, run_id: str) -> str:
    """An opaque ``list_runs`` token: list the runs before this (created_at, run_id)."""
    raw = json.dumps([created_at, run_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str) -> tuple[str, str]:
    """Inverse of ``encode_page_token``; ``ValueError`` for a token no store issued."""
    try:
        padded = token + "=" * (-len(token) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not (isinstance(decoded, list) and len(decoded) == 2):
            raise TypeError
        created_at, run_id = decoded
        if not isinstance(created_at, str) or not isinstance(run_id, str):
            raise TypeError
        return created_at, run_id
    except (ValueError, TypeError):
        raise ValueError(f"invalid page_token {token!r}") from None
