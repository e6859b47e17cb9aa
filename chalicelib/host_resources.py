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
from collections.abc import Iterator
from typing import Any

import psutil

# How often a waiter looks again for room freed by another process (this process's own
# releases wake it at once).
RECHECK_SECONDS = 0.2


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
        self._entries: dict[str, dict[str, Any]] = {}  # this process's, without a ledger
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
                self._cv.wait(RECHECK_SECONDS if self.ledger else None)
        try:
            yield time.monotonic() - started
        finally:
            with self._cv:
                self._remove(key)
                self._cv.notify_all()

    def _try_add(self, key: str, entry: dict[str, Any]) -> bool:
        with self._entries_of_host() as entries:
            if not fits(entries, entry["cpu"], entry["memory"], (self.cpu, self.memory_bytes)):
                return False
            entries[key] = entry
            return True

    def _remove(self, key: str) -> None:
        with self._entries_of_host() as entries:
            entries.pop(key, None)

    @contextlib.contextmanager
    def _entries_of_host(self) -> Iterator[dict[str, dict[str, Any]]]:
        """The reservations to check and change: this process's, or the ledger's under an
        exclusive lock (entries of dead processes dropped), written back afterwards."""
        if self.ledger is None:
            yield self._entries
            return
        os.makedirs(os.path.dirname(self.ledger), exist_ok=True)
        with open(self.ledger, "a+", encoding="utf-8") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            f.seek(0)
            try:
                loaded = json.loads(f.read() or "{}")
            except json.JSONDecodeError:
                loaded = {}
            entries = {k: e for k, e in loaded.items() if _running(e)}
            yield entries
            f.seek(0)
            f.truncate()
            f.write(json.dumps(entries))


def _running(entry: dict[str, Any]) -> bool:
    try:
        process = psutil.Process(int(entry["pid"]))
        return abs(float(process.create_time()) - float(entry["started"])) < 0.01
    except (psutil.Error, KeyError, TypeError, ValueError):
        return False


@functools.cache
def _own_start() -> float:
    return float(psutil.Process().create_time())
