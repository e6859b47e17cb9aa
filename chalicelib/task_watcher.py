"""Waiting for tasks to end by reading their records, not by asking about each task.

One ``TaskWatcher`` per process serves every waiting task: each round is one batched read (at
most ``BATCH`` ids a read) for all of them, whatever their number. The records come from a
``TaskSource``: normally the store, which the status handler keeps up to date from ECS events.
Rounds run when the store reports a task end recorded in this process (the local mode's events
land here), or every ``interval`` seconds otherwise. A round woken by task ends reads only those
tasks, when the store can name them; every waited-for task is read at least every ``interval``.

Events can be lost. A task whose record has not changed for ``reconcile_after`` seconds is handed
to ``reconcile`` (e.g. a batched DescribeTasks fed back through the handler), which repairs its
record; the next round then sees it.

Reads can fail (a throttled or unreachable DynamoDB, a locked or full SQLite file). A failed round
is logged and retried with exponential backoff, so one error never ends the watcher. Errors that
last ``give_up_after`` seconds are reported to every waiter (``WatchError``): no wait is unbounded.

A waiting thread never wakes until its wait ends: the watcher's own thread asks each waiter's
``stop()`` and runs its ``tick`` about once a ``tick_seconds``. A large run has thousands of
tasks waiting at once, each on a miniwdl thread; woken a few times a second each, they would
spend the orchestrator's CPU taking turns at the interpreter's lock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from .records import TaskRecord
from .states import is_terminal

BATCH = 100
TICK_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
DEFAULT_GIVE_UP_AFTER = 900.0

log = logging.getLogger(__name__)


class WatchError(RuntimeError):
    """The task's record could not be read for too long; the message says why."""


class TaskSource(Protocol):
    """Where task records are read: the store's two methods the watcher needs."""

    def get_tasks(self, task_ids: Sequence[str]) -> list[TaskRecord]:
        """The records of those tasks that have one."""

    def wait_for_change(self, seen: int, timeout: float) -> int:
        """Block until something may have changed (see ``Store.wait_for_change``)."""

    def ended_since(self, seen: int) -> Sequence[str] | None:
        """Which tasks ended since then, if known (see ``Store.ended_since``)."""


class _Waiter:
    def __init__(
        self,
        task_arn: str,
        stop: Callable[[], bool] | None = None,
        tick: Callable[[], None] | None = None,
    ) -> None:
        self.task_arn = task_arn
        self.stop = stop
        self.tick = tick
        self.failure: Exception | None = None  # what its stop() or tick raised
        self.polling = threading.Lock()  # held while the watcher asks stop() or ticks
        self.done = threading.Event()
        self.record: TaskRecord | None = None
        self.latest: TaskRecord | None = None
        self.error: WatchError | None = None
        self.revision = -1
        self.changed_at = time.monotonic()


class TaskWatcher:
    """Resolves ``wait(task_id)`` calls when the task's record reaches a terminal state."""

    def __init__(
        self,
        source: TaskSource,
        interval: float = 1.0,
        *,
        check_on_register: bool = True,
        reconcile: Callable[[list[str]], object] | None = None,
        reconcile_after: float = 60.0,
        give_up_after: float = DEFAULT_GIVE_UP_AFTER,
        tick_seconds: float = TICK_SECONDS,
    ) -> None:
        self.source = source
        self.tick_seconds = tick_seconds
        self.interval = interval
        self.check_on_register = check_on_register
        self.reconcile = reconcile
        self.reconcile_after = reconcile_after
        self.give_up_after = give_up_after
        self.reads = 0
        self.failed_rounds = 0
        self.reconciled = 0
        self._waiting: dict[str, _Waiter] = {}
        self._cv = threading.Condition()
        self._thread: threading.Thread | None = None

    def wait(
        self,
        task_id: str,
        *,
        task_arn: str = "",
        timeout: float | None = None,
        stop: Callable[[], bool] | None = None,
        tick: Callable[[], None] | None = None,
    ) -> TaskRecord | None:
        """Block until the task's record is terminal and return it.

        Returns None if ``timeout`` passes or ``stop()`` turns true first. ``tick`` is called
        about every ``tick_seconds`` while waiting (e.g. to forward the task's stderr to a log);
        both are called on the watcher's thread, never at once. ``task_arn`` is what
        ``reconcile`` receives for this task (default: the id). Raises ``WatchError`` if the
        records could not be read for ``give_up_after`` seconds.
        """
        waiter = self._register(task_id, task_arn or task_id, stop, tick)
        try:
            waiter.done.wait(timeout)
            with waiter.polling:  # the watcher's call of its stop() or tick is over
                waiter.stop = waiter.tick = None
            if waiter.failure is not None:
                raise waiter.failure
            if waiter.error is not None:
                raise waiter.error
            return waiter.record
        finally:
            with self._cv:
                if self._waiting.get(task_id) is waiter:
                    del self._waiting[task_id]

    def latest(self, task_id: str) -> TaskRecord | None:
        """The last record read for a task being waited on (None before the first read)."""
        with self._cv:
            waiter = self._waiting.get(task_id)
            return waiter.latest if waiter is not None else None

    def _register(
        self,
        task_id: str,
        task_arn: str,
        stop: Callable[[], bool] | None = None,
        tick: Callable[[], None] | None = None,
    ) -> _Waiter:
        waiter = _Waiter(task_arn, stop, tick)
        with self._cv:
            self._waiting[task_id] = waiter
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="task-watcher", daemon=True)
                self._thread.start()
            self._cv.notify_all()
        if self.check_on_register:
            # Registered first, then checked: a task that ended before registration is seen
            # here, and one that ends after it wakes the watcher loop.
            try:
                self._resolve([task_id])
            except Exception:  # noqa: BLE001  the watcher loop reads it again, with backoff
                log.warning("reading task %s failed; the watcher will retry", task_id)
        return waiter

    def _loop(self) -> None:
        seen = -1
        read_all_at = 0.0
        poll_at = 0.0
        failing_since: float | None = None
        while True:
            with self._cv:
                while not self._waiting:
                    self._cv.wait()
            try:
                if time.monotonic() >= poll_at:
                    poll_at = time.monotonic() + self.tick_seconds
                    self._poll_waiters()
                # woken by a task's end, for the next full read, or for the next poll
                wake = max(0.0, min(read_all_at, poll_at) - time.monotonic())
                before, seen = seen, self.source.wait_for_change(seen, wake)
                if time.monotonic() >= read_all_at:
                    read_all_at = time.monotonic() + self.interval
                    self._round()
                elif seen != before:
                    # the tasks that ended, if the source can name them all; else the next
                    # full read (within ``interval``) sees them
                    ended = self.source.ended_since(before)
                    if ended is not None:
                        self._round(ended)
            except Exception as exn:  # noqa: BLE001  any failure of a read: retried, never fatal
                now = time.monotonic()
                failing_since = failing_since or now
                self.failed_rounds += 1
                pause = min(self.interval * 2 ** min(self.failed_rounds, 10), MAX_BACKOFF_SECONDS)
                log.warning("reading task records failed (%s); retrying in %.1fs", exn, pause)
                if now - failing_since >= self.give_up_after:
                    self._fail_all(
                        WatchError(
                            f"task records could not be read for {now - failing_since:.0f}s: {exn}"
                        )
                    )
                    failing_since = None
                resume = time.monotonic() + pause
                while time.monotonic() < resume:  # stop() still heard while reads fail
                    time.sleep(min(self.tick_seconds, max(0.0, resume - time.monotonic())))
                    self._poll_waiters()
                continue
            failing_since = None
            self.failed_rounds = 0

    def _round(self, only: Sequence[str] | None = None) -> None:
        """Read the waited-for tasks (those of ``only``, if given) and resolve the ended ones."""
        with self._cv:
            task_ids = (
                list(self._waiting) if only is None else [i for i in only if i in self._waiting]
            )
        for start in range(0, len(task_ids), BATCH):
            self._resolve(task_ids[start : start + BATCH])
        self._reconcile_stale()

    def _poll_waiters(self) -> None:
        """Run every waiter's ``tick`` and ask its ``stop()``; a waiter that says stop stops
        waiting, without a record (one whose tick or stop() raised: the error, in its thread)."""
        with self._cv:
            waiters = list(self._waiting.items())
        for task_id, waiter in waiters:
            with waiter.polling:
                if waiter.done.is_set() or (waiter.stop is None and waiter.tick is None):
                    continue
                try:
                    if waiter.tick is not None:
                        waiter.tick()
                    stop = waiter.stop is not None and waiter.stop()
                except Exception as exn:  # noqa: BLE001  raised again in the waiting thread
                    waiter.failure = exn
                    stop = True
            if stop:
                with self._cv:
                    if self._waiting.get(task_id) is waiter:
                        del self._waiting[task_id]
                waiter.done.set()

    def _fail_all(self, error: WatchError) -> None:
        log.error("%s", error)
        with self._cv:
            waiters, self._waiting = list(self._waiting.values()), {}
        for waiter in waiters:
            waiter.error = error
            waiter.done.set()

    def _resolve(self, task_ids: list[str]) -> None:
        records = self.source.get_tasks(task_ids)
        now = time.monotonic()
        with self._cv:
            self.reads += 1
            for record in records:
                waiter = self._waiting.get(record.task_id)
                if waiter is None:
                    continue
                waiter.latest = record
                if record.revision != waiter.revision:
                    waiter.revision = record.revision
                    waiter.changed_at = now
                if is_terminal(record.state):
                    del self._waiting[record.task_id]
                    waiter.record = record
                    waiter.done.set()

    def _reconcile_stale(self) -> None:
        if self.reconcile is None:
            return
        now = time.monotonic()
        with self._cv:
            stale = [
                w for w in self._waiting.values() if now - w.changed_at >= self.reconcile_after
            ]
            for waiter in stale:
                waiter.changed_at = now  # next look in another reconcile_after seconds
        if stale:
            self.reconciled += len(stale)
            self.reconcile([w.task_arn for w in stale])
