"""Waiting for tasks to end by reading the store, never by asking the launcher.

One ``TaskWatcher`` per process serves every waiting task: each round is a single batched store
read for all of them, whatever their number. Rounds run when the store reports a write made in
this process (the local mode's events land here) or every ``interval`` seconds otherwise.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .records import TaskRecord
from .states import is_terminal
from .store import Store

BATCH = 100


class _Waiter:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.record: TaskRecord | None = None


class TaskWatcher:
    """Resolves ``wait(task_id)`` calls when the task's record reaches a terminal state."""

    def __init__(self, store: Store, interval: float = 1.0) -> None:
        self.store = store
        self.interval = interval
        self.store_queries = 0
        self._waiting: dict[str, _Waiter] = {}
        self._cv = threading.Condition()
        self._thread: threading.Thread | None = None

    def wait(
        self,
        task_id: str,
        *,
        timeout: float | None = None,
        stop: Callable[[], bool] | None = None,
        tick: Callable[[], None] | None = None,
        tick_seconds: float = 1.0,
    ) -> TaskRecord | None:
        """Block until the task's record is terminal and return it.

        Returns None if ``timeout`` passes or ``stop()`` turns true first. ``tick`` is called
        about every ``tick_seconds`` while waiting (e.g. to forward the task's stderr to a log).
        """
        waiter = self._register(task_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while not waiter.done.wait(min(tick_seconds, 0.25)):
                if tick is not None:
                    tick()
                if (stop is not None and stop()) or (
                    deadline is not None and time.monotonic() >= deadline
                ):
                    return None
            return waiter.record
        finally:
            with self._cv:
                if self._waiting.get(task_id) is waiter:
                    del self._waiting[task_id]

    def _register(self, task_id: str) -> _Waiter:
        waiter = _Waiter()
        with self._cv:
            self._waiting[task_id] = waiter
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="task-watcher", daemon=True)
                self._thread.start()
            self._cv.notify_all()
        # Registered first, then checked: a task that ended before registration is seen here,
        # and one that ends after it wakes the watcher loop.
        self._resolve(self.store.get_tasks([task_id]))
        return waiter

    def _loop(self) -> None:
        seen = -1
        while True:
            with self._cv:
                while not self._waiting:
                    self._cv.wait()
            seen = self.store.wait_for_change(seen, self.interval)
            with self._cv:
                task_ids = list(self._waiting)
            for start in range(0, len(task_ids), BATCH):
                self._resolve(self.store.get_tasks(task_ids[start : start + BATCH]))

    def _resolve(self, records: list[TaskRecord]) -> None:
        with self._cv:
            self.store_queries += 1
            for record in records:
                if is_terminal(record.state) and record.task_id in self._waiting:
                    waiter = self._waiting.pop(record.task_id)
                    waiter.record = record
                    waiter.done.set()
