"""The local store adapter: one SQLite file, shared by every process of the local mode.

WAL mode lets the CLI read while the orchestrator and its event handler write. Within a process one
connection serves every thread, under a lock: tasks come and go on short-lived threads, and a
connection per thread would be opened (and configured) again for each. A record is kept whole as
JSON, beside the columns needed to find it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
import weakref
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

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revision INTEGER NOT NULL,
    item TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_time ON runs (created_at DESC, run_id DESC);
CREATE INDEX IF NOT EXISTS runs_by_state ON runs (state, created_at DESC, run_id DESC);
CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    revision INTEGER NOT NULL,
    item TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_by_run ON tasks (run_id);
CREATE TABLE IF NOT EXISTS groups (
    name TEXT PRIMARY KEY,
    revision INTEGER NOT NULL,
    item TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS budgets (
    name TEXT PRIMARY KEY,
    revision INTEGER NOT NULL,
    item TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS leases (
    budget TEXT NOT NULL,
    key TEXT NOT NULL,
    item TEXT NOT NULL,
    PRIMARY KEY (budget, key)
);
"""


BUSY_SECONDS = 30.0  # how long a statement waits for another connection's lock


def _use_wal(conn: sqlite3.Connection) -> None:
    """Put the file in WAL mode (it stays so: later connections only read it). Switching waits
    for no busy handler: connections opening a new file at once (concurrent submissions) find it
    locked for a moment, and try again rather than fail the caller."""
    deadline = time.monotonic() + BUSY_SECONDS
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exn:
            if "locked" not in str(exn) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


class SqliteStore:
    """``Store`` over a SQLite file."""

    def __init__(self, path: str) -> None:
        self.path = path
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._lock = threading.Lock()
        self._open: sqlite3.Connection | None = None
        self._changes = ChangeCounter()
        with self._lock:
            self._conn.executescript(_SCHEMA)
        _STORES.add(self)

    @property
    def _conn(self) -> sqlite3.Connection:
        """This process's connection (call with ``_lock`` held), opened when first needed: a
        connection must not cross a fork, so one is closed before each (``_close_for_fork``)."""
        if self._open is None:
            conn = sqlite3.connect(
                self.path, timeout=BUSY_SECONDS, isolation_level=None, check_same_thread=False
            )
            _use_wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
            self._open = conn
        return self._open

    def _query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[str, ...]]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def _change(self, sql: str, params: tuple[object, ...], *, ended: str = "") -> bool:
        """Run one write; True if it changed a row. Writing the end of task ``ended`` wakes
        waiters."""
        with self._lock:
            changed = self._conn.execute(sql, params).rowcount == 1
        if changed and ended:
            self._changes.bump(ended)
        return changed

    def wait_for_change(self, seen: int, timeout: float) -> int:
        return self._changes.wait(seen, timeout)

    def ended_since(self, seen: int) -> list[str] | None:
        return self._changes.ended_since(seen)

    # runs

    def create_run(self, run: RunRecord) -> None:
        try:
            self._change(
                "INSERT INTO runs (run_id, state, created_at, revision, item) VALUES (?,?,?,?,?)",
                (run.run_id, run.state.value, run.created_at, run.revision, _dump(run)),
            )
        except sqlite3.IntegrityError:
            raise RunExists(run.run_id) from None

    def get_run(self, run_id: str) -> RunRecord | None:
        rows = self._query("SELECT item FROM runs WHERE run_id = ?", (run_id,))
        return RunRecord.from_item(json.loads(rows[0][0])) if rows else None

    def put_run(self, run: RunRecord, expected_revision: int) -> bool:
        return self._change(
            "UPDATE runs SET state = ?, revision = ?, item = ? WHERE run_id = ? AND revision = ?",
            (run.state.value, run.revision, _dump(run), run.run_id, expected_revision),
        )

    def list_runs(
        self, *, state: State | None = None, page_size: int = 50, page_token: str = ""
    ) -> tuple[list[RunRecord], str]:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        where, params = [], []
        if state is not None:
            where.append("state = ?")
            params.append(state.value)
        if page_token:
            created_at, run_id = decode_page_token(page_token)
            where.append("(created_at, run_id) < (?, ?)")
            params += [created_at, run_id]
        sql = "SELECT item FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, run_id DESC LIMIT ?"
        rows = self._query(sql, (*params, page_size + 1))
        runs = [RunRecord.from_item(json.loads(r[0])) for r in rows[:page_size]]
        more = len(rows) > page_size
        token = encode_page_token(runs[-1].created_at, runs[-1].run_id) if more and runs else ""
        return runs, token

    # tasks

    def get_task(self, task_id: str) -> TaskRecord | None:
        rows = self._query("SELECT item FROM tasks WHERE task_id = ?", (task_id,))
        return TaskRecord.from_item(json.loads(rows[0][0])) if rows else None

    def get_tasks(self, task_ids: Sequence[str]) -> list[TaskRecord]:
        if not task_ids:
            return []
        marks = ",".join("?" * len(task_ids))
        rows = self._query(f"SELECT item FROM tasks WHERE task_id IN ({marks})", tuple(task_ids))
        return [TaskRecord.from_item(json.loads(r[0])) for r in rows]

    def put_task(self, task: TaskRecord, expected_revision: int | None) -> bool:
        if expected_revision is None:
            return self._change(
                "INSERT OR IGNORE INTO tasks (task_id, run_id, revision, item) VALUES (?,?,?,?)",
                (task.task_id, task.run_id, task.revision, _dump(task)),
                ended=task.task_id if is_terminal(task.state) else "",
            )
        return self._change(
            "UPDATE tasks SET revision = ?, item = ? WHERE task_id = ? AND revision = ?",
            (task.revision, _dump(task), task.task_id, expected_revision),
            ended=task.task_id if is_terminal(task.state) else "",
        )

    def list_tasks(self, run_id: str) -> list[TaskRecord]:
        rows = self._query("SELECT item FROM tasks WHERE run_id = ? ORDER BY rowid", (run_id,))
        return [TaskRecord.from_item(json.loads(r[0])) for r in rows]

    def delete_task(self, task_id: str, expected_revision: int) -> bool:
        return self._change(
            "DELETE FROM tasks WHERE task_id = ? AND revision = ?", (task_id, expected_revision)
        )

    # run groups and the launch budget (one table each, same compare-and-set as runs)

    def get_group(self, name: str) -> GroupRecord | None:
        rows = self._query("SELECT item FROM groups WHERE name = ?", (name,))
        return GroupRecord.from_item(json.loads(rows[0][0])) if rows else None

    def put_group(self, group: GroupRecord, expected_revision: int | None) -> bool:
        return self._put_named(
            "groups", group.name, group.revision, _dump(group), expected_revision
        )

    def list_groups(self) -> list[GroupRecord]:
        rows = self._query("SELECT item FROM groups ORDER BY name")
        return [GroupRecord.from_item(json.loads(r[0])) for r in rows]

    def delete_group(self, name: str, expected_revision: int) -> bool:
        return self._change(
            "DELETE FROM groups WHERE name = ? AND revision = ?", (name, expected_revision)
        )

    def get_budget(self, name: str) -> BudgetRecord | None:
        rows = self._query("SELECT item FROM budgets WHERE name = ?", (name,))
        return BudgetRecord.from_item(json.loads(rows[0][0])) if rows else None

    def get_lease(self, budget: str, key: str) -> Lease | None:
        rows = self._query("SELECT item FROM leases WHERE budget = ? AND key = ?", (budget, key))
        return Lease.from_item(json.loads(rows[0][0])) if rows else None

    def list_leases(self, budget: str) -> dict[str, Lease]:
        rows = self._query("SELECT key, item FROM leases WHERE budget = ?", (budget,))
        return {key: Lease.from_item(json.loads(item)) for key, item in rows}

    def change_budget(
        self, budget: BudgetRecord, expected_revision: int | None, key: str, lease: Lease | None
    ) -> bool:
        counters = self._named_write(
            "budgets", budget.name, budget.revision, _dump(budget), expected_revision
        )
        if lease is None:
            held: tuple[str, tuple[object, ...]] = (
                "DELETE FROM leases WHERE budget = ? AND key = ?",
                (budget.name, key),
            )
        else:
            held = (
                "INSERT OR IGNORE INTO leases (budget, key, item) VALUES (?,?,?)",
                (budget.name, key, _dump(lease)),
            )
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                changed = all(conn.execute(*write).rowcount == 1 for write in (counters, held))
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT" if changed else "ROLLBACK")
        return changed

    def _put_named(
        self, table: str, name: str, revision: int, item: str, expected_revision: int | None
    ) -> bool:
        return self._change(*self._named_write(table, name, revision, item, expected_revision))

    @staticmethod
    def _named_write(
        table: str, name: str, revision: int, item: str, expected_revision: int | None
    ) -> tuple[str, tuple[object, ...]]:
        """The compare-and-set write of a named record (a group, a budget): insert if
        ``expected_revision`` is None, else update that revision; changes one row or none."""
        if expected_revision is None:
            return (
                f"INSERT OR IGNORE INTO {table} (name, revision, item) VALUES (?,?,?)",
                (name, revision, item),
            )
        return (
            f"UPDATE {table} SET revision = ?, item = ? WHERE name = ? AND revision = ?",
            (revision, item, name, expected_revision),
        )


# Every store of this process: SQLite forbids using a connection in both processes of a fork,
# and even opening one in the child while the parent's copy of its state says it holds locks.
_STORES: weakref.WeakSet[SqliteStore] = weakref.WeakSet()


def _close_for_fork() -> None:
    for store in list(_STORES):
        store._lock.acquire()
        if store._open is not None:
            with contextlib.suppress(sqlite3.Error):
                store._open.close()
            store._open = None


def _after_fork_in_parent() -> None:
    for store in list(_STORES):
        if store._lock.locked():
            store._lock.release()


def _after_fork_in_child() -> None:
    for store in list(_STORES):
        store._lock = threading.Lock()


os.register_at_fork(
    before=_close_for_fork,
    after_in_parent=_after_fork_in_parent,
    after_in_child=_after_fork_in_child,
)


# One encoder for every write: ``json.dumps`` with options builds a new one each call.
_ENCODER = json.JSONEncoder(separators=(",", ":"))


def _dump(record: RunRecord | TaskRecord | GroupRecord | BudgetRecord | Lease) -> str:
    return _ENCODER.encode(record.to_item())
