"""What the local adapters promise under concurrency (issue 11: these held only by luck): the
notifications file keeps whole lines when processes publish at once (its flock), and readers
of the store are not blocked by a writer (SQLite's WAL)."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from chalicelib.notifications import JsonLinesNotifier, Notification
from chalicelib.records import RunRecord, utc_now
from chalicelib.sqlite_store import SqliteStore, _use_wal
from chalicelib.states import State

# Fresh interpreters: forking pytest while other tests' threads hold locks can hang the child.
SPAWN = multiprocessing.get_context("spawn")


def _publish_many(path: str, writer: int) -> None:
    notifier = JsonLinesNotifier(path)
    big = "x" * 20_000  # several of the file object's buffers: many write calls per publish
    for n in range(40):
        notifier.publish(
            [Notification("WDL Run State Change", {"writer": writer, "n": n, "pad": big})]
        )


def test_lines_stay_whole_when_processes_publish_at_once(tmp_path: Path) -> None:
    path = str(tmp_path / "notifications.jsonl")
    writers = [SPAWN.Process(target=_publish_many, args=(path, w)) for w in range(4)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(120)
        assert process.exitcode == 0
    lines = Path(path).read_text().splitlines()
    assert len(lines) == 160
    seen = {(d["detail"]["writer"], d["detail"]["n"]) for d in map(json.loads, lines)}
    assert len(seen) == 160


def test_a_long_write_does_not_block_readers(tmp_path: Path) -> None:
    path = str(tmp_path / "state.sqlite3")
    store = SqliteStore(path)
    now = utc_now()
    store.create_run(
        RunRecord(
            run_id="r",
            state=State.RUNNING,
            created_at=now,
            updated_at=now,
            workflow_name="w",
            workflow_key="k",
            inputs_key="k",
        )
    )
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")
    writer.execute("UPDATE runs SET revision = revision WHERE run_id = 'r'")
    read: list[float] = []

    def reader() -> None:
        started = time.monotonic()
        assert SqliteStore(path).get_run("r") is not None
        read.append(time.monotonic() - started)

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    thread.join(3)
    writer.execute("COMMIT")
    assert read and read[0] < 2, "a reader waited for the writer"


def _publish_one(path: str) -> None:
    JsonLinesNotifier(path).publish([Notification("WDL Run State Change", {"n": 1})])


def test_a_publisher_waits_for_whoever_holds_the_file(tmp_path: Path) -> None:
    """The lock is the file's protocol: a reader (or a filesystem whose appends are not atomic,
    like NFS) holding it sees no half-written batch, because publishers wait for it."""
    import fcntl

    path = tmp_path / "notifications.jsonl"
    path.touch()
    with open(path, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        publisher = SPAWN.Process(target=_publish_one, args=(str(path),))
        publisher.start()
        publisher.join(3)  # time for a fresh interpreter to start and reach the lock
        assert publisher.is_alive() and path.read_text() == ""
    publisher.join(30)
    assert publisher.exitcode == 0 and json.loads(path.read_text())["detail"] == {"n": 1}


class _LockedAtFirst:
    """A connection whose switch to WAL finds the file locked ``times`` times, as connections
    opening a new file together do (SQLite answers that at once, without its busy handler)."""

    def __init__(self, times: int, error: str = "database is locked") -> None:
        self.left, self.error, self.switched = times, error, False

    def execute(self, sql: str) -> Any:
        if sql == "PRAGMA journal_mode":
            return self
        if self.left:
            self.left -= 1
            raise sqlite3.OperationalError(self.error)
        self.switched = True
        return self

    def fetchone(self) -> tuple[str]:
        return ("wal" if self.switched else "delete",)


def test_a_store_opening_a_file_another_is_switching_to_wal_tries_again() -> None:
    conn = _LockedAtFirst(times=3)
    _use_wal(conn)  # type: ignore[arg-type]
    assert conn.switched and conn.left == 0
    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
        _use_wal(_LockedAtFirst(times=1, error="disk I/O error"))  # type: ignore[arg-type]
