"""The host's cpu and memory, shared by every task attempt of every local run.

An attempt reserves its ``runtime.cpu``/``runtime.memory`` before it starts and gives them back
when it ends; one that does not fit beside those already running waits. With a ledger file (the
local mode's home has one), reservations are host-wide: several runs at once, each its own
orchestrator process, never together exceed the host. Entries of processes that died are
dropped, so a killed orchestrator cannot hold the host. Without one (plain ``miniwdl run``) the
count is per process.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import psutil

# How often a waiter looks again for room freed by another process (this process's own
# releases wake it at once).
RECHECK_SECONDS = 0.2

T = TypeVar("T")


def fits(
    entries: dict[str, dict[str, Any]], cpu: int, memory: int, limits: tuple[int, int]
) -> bool:
    """Whether ``cpu``/``memory`` fit beside the ledger's ``entries`` within ``limits`` (pure)."""
    used_cpu = sum(int(e.get("cpu", 0)) for e in entries.values())
    used_memory = sum(int(e.get("memory", 0)) for e in entries.values())
    return used_cpu + cpu <= limits[0] and used_memory + memory <= limits[1]


class HostResources:
    """Reservations of cpu and memory, in this process or host-wide through ``ledger``."""

    def __init__(self, cpu: int, memory_bytes: int, ledger: str | None = None) -> None:
        self.cpu = cpu
        self.memory_bytes = memory_bytes
        self.ledger = ledger
        # The reservations as this process last saw them: all of them without a ledger; with
        # one, its content at this process's last read or write.
        self._view: dict[str, dict[str, Any]] = {}
        self._polling = False  # whether a waiter re-reads the ledger for others' releases
        self._cv = threading.Condition()

    @contextlib.contextmanager
    def reserve(self, cpu: int, memory_bytes: int) -> Iterator[float]:
        """Hold ``cpu``/``memory_bytes`` (capped at the host's) while the block runs; yields the
        seconds spent waiting for them."""
        cpu = min(max(cpu, 0), self.cpu)
        memory_bytes = min(max(memory_bytes, 0), self.memory_bytes)
        key = uuid.uuid4().hex
        entry = {"pid": os.getpid(), "started": _own_start(), "cpu": cpu, "memory": memory_bytes}
        started = time.monotonic()
        with self._cv:
            while not self._try_add(key, entry):
                self._wait_for_room()
            if self.ledger is not None:
                self._cv.notify()  # if this was the poller, another waiter takes its turn
        try:
            yield time.monotonic() - started
        finally:
            with self._cv:
                self._transaction(lambda entries: entries.pop(key, None))
                self._cv.notify_all()

    def _try_add(self, key: str, entry: dict[str, Any]) -> bool:
        limits = (self.cpu, self.memory_bytes)
        if not fits(self._view, entry["cpu"], entry["memory"], limits):
            return False  # not even by this process's last view: no need to read the ledger

        def add(entries: dict[str, dict[str, Any]]) -> bool:
            if not fits(entries, entry["cpu"], entry["memory"], limits):
                return False
            entries[key] = entry
            return True

        return self._transaction(add)

    def _wait_for_room(self) -> None:
        """Wait (``_cv`` held) until room may have been freed. This process's releases wake
        every waiter; another process's are found by one waiter at a time, which re-reads the
        ledger every ``RECHECK_SECONDS`` (every waiter doing so would cost hundreds of file
        transactions a second while a big scatter waits)."""
        if self.ledger is None or self._polling:
            self._cv.wait()
            return
        self._polling = True
        try:
            self._cv.wait(RECHECK_SECONDS)
        finally:
            self._polling = False
        seen = self._view
        self._transaction(lambda entries: None)
        if self._view != seen:
            self._cv.notify_all()

    def _transaction(self, change: Callable[[dict[str, dict[str, Any]]], T]) -> T:
        """Apply ``change`` to the reservations (the ledger's under an exclusive lock, entries of
        dead processes dropped, written back if changed); the view follows."""
        if self.ledger is None:
            return change(self._view)
        os.makedirs(os.path.dirname(self.ledger), exist_ok=True)
        fd = os.open(self.ledger, os.O_RDWR | os.O_CREAT, 0o644)
        with os.fdopen(fd, "r+", encoding="utf-8") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            text = f.read()
            try:
                loaded = json.loads(text or "{}")
            except json.JSONDecodeError:
                loaded = {}
            entries = _of_running_processes(loaded if isinstance(loaded, dict) else {})
            result = change(entries)
            new_text = json.dumps(entries)
            if new_text != text:
                # Rewritten in place, then cut to length: truncating to nothing first would have
                # the filesystem free and allocate the file's block every time.
                f.seek(0)
                f.write(new_text)
                f.truncate()
            self._view = entries
            return result


def _of_running_processes(entries: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The ledger's entries whose process still runs, each process looked at once."""
    alive: dict[tuple[Any, Any], bool] = {}
    kept = {}
    for key, entry in entries.items():
        process = (entry.get("pid"), entry.get("started")) if isinstance(entry, dict) else None
        if process is None:
            continue
        if process not in alive:
            alive[process] = _running(entry)
        if alive[process]:
            kept[key] = entry
    return kept


def _running(entry: dict[str, Any]) -> bool:
    if entry.get("pid") == os.getpid() and entry.get("started") == _own_start():
        return True
    try:
        process = psutil.Process(int(entry["pid"]))
        return abs(float(process.create_time()) - float(entry["started"])) < 0.01
    except (psutil.Error, KeyError, TypeError, ValueError):
        return False


@functools.cache
def _own_start() -> float:
    return float(psutil.Process().create_time())


# A forked child (``warm_start``) is another process, with a start time of its own.
os.register_at_fork(after_in_child=_own_start.cache_clear)
