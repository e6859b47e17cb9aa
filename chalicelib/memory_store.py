"""An in-process store adapter, for plain ``miniwdl run`` with the ``local`` backend.

With no control plane there is nothing to persist, yet the backend still learns of task ends the
same way as in a managed run: events -> handler -> store -> watcher. It passes the same contract
suite as the other adapters.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from .groups import GroupRecord
from .launch_budget import BudgetRecord, Lease
from .records import RunRecord, TaskRecord
from .states import State, is_terminal
from .store import (
    MAX_PAGE_SIZE,
    ChangeCounter,
    RunExists,
    decode_page_token,
    encode_page_token,
)


class MemoryStore:
    """``Store`` over dicts guarded by one lock."""

    def __init__(self) -> None:
        self._runs: dict[str, RunRecord] = {}
        self._tasks: dict[str, TaskRecord] = {}
        self._groups: dict[str, GroupRecord] = {}
        self._budgets: dict[str, BudgetRecord] = {}
        self._leases: dict[tuple[str, str], Lease] = {}
        self._lock = threading.Lock()
        self._changes = ChangeCounter()

    def wait_for_change(self, seen: int, timeout: float) -> int:
        return self._changes.wait(seen, timeout)

    def ended_since(self, seen: int) -> list[str] | None:
        return self._changes.ended_since(seen)

    def create_run(self, run: RunRecord) -> None:
        with self._lock:
            if run.run_id in self._runs:
                raise RunExists(run.run_id)
            self._runs[run.run_id] = run

    def get_run(self, run_id: str) -> RunRecord | None:
        with self._lock:
            return self._runs.get(run_id)

    def put_run(self, run: RunRecord, expected_revision: int) -> bool:
        with self._lock:
            current = self._runs.get(run.run_id)
            if current is None or current.revision != expected_revision:
                return False
            self._runs[run.run_id] = run
            return True

    def list_runs(
        self, *, state: State | None = None, page_size: int = 50, page_token: str = ""
    ) -> tuple[list[RunRecord], str]:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        with self._lock:
            runs = sorted(self._runs.values(), key=lambda r: (r.created_at, r.run_id), reverse=True)
        if state is not None:
            runs = [r for r in runs if r.state == state]
        if page_token:
            after = decode_page_token(page_token)
            runs = [r for r in runs if (r.created_at, r.run_id) < after]
        page = runs[:page_size]
        if len(runs) <= page_size or not page:
            return page, ""
        last = page[-1]
        token = encode_page_token(last.created_at, last.run_id)
        return page, token

    def get_task(self, task_id: str) -> TaskRecord | None:
        with self._lock:
            return self._tasks.get(task_id)

    def get_tasks(self, task_ids: Sequence[str]) -> list[TaskRecord]:
        with self._lock:
            return [self._tasks[t] for t in task_ids if t in self._tasks]

    def put_task(self, task: TaskRecord, expected_revision: int | None) -> bool:
        with self._lock:
            current = self._tasks.get(task.task_id)
            stored = current.revision if current is not None else None
            if stored != expected_revision:
                return False
            self._tasks[task.task_id] = task
        if is_terminal(task.state):
            self._changes.bump(task.task_id)
        return True

    def list_tasks(self, run_id: str) -> list[TaskRecord]:
        with self._lock:
            return [t for t in self._tasks.values() if t.run_id == run_id]

    def delete_task(self, task_id: str, expected_revision: int) -> bool:
        with self._lock:
            current = self._tasks.get(task_id)
            if current is None or current.revision != expected_revision:
                return False
            del self._tasks[task_id]
            return True

    # run groups and the launch budget

    def get_group(self, name: str) -> GroupRecord | None:
        with self._lock:
            return self._groups.get(name)

    def put_group(self, group: GroupRecord, expected_revision: int | None) -> bool:
        with self._lock:
            current = self._groups.get(group.name)
            if (current.revision if current is not None else None) != expected_revision:
                return False
            self._groups[group.name] = group
            return True

    def list_groups(self) -> list[GroupRecord]:
        with self._lock:
            return [self._groups[name] for name in sorted(self._groups)]

    def delete_group(self, name: str, expected_revision: int) -> bool:
        with self._lock:
            current = self._groups.get(name)
            if current is None or current.revision != expected_revision:
                return False
            del self._groups[name]
            return True

    def get_budget(self, name: str) -> BudgetRecord | None:
        with self._lock:
            return self._budgets.get(name)

    def get_lease(self, budget: str, key: str) -> Lease | None:
        with self._lock:
            return self._leases.get((budget, key))

    def list_leases(self, budget: str) -> dict[str, Lease]:
        with self._lock:
            return {k: lease for (b, k), lease in self._leases.items() if b == budget}

    def change_budget(
        self, budget: BudgetRecord, expected_revision: int | None, key: str, lease: Lease | None
    ) -> bool:
        with self._lock:
            current = self._budgets.get(budget.name)
            if (current.revision if current is not None else None) != expected_revision:
                return False
            if ((budget.name, key) in self._leases) != (lease is None):
                return False
            self._budgets[budget.name] = budget
            if lease is None:
                del self._leases[(budget.name, key)]
            else:
                self._leases[(budget.name, key)] = lease
            return True
