"""The task watcher reads what changed: a round woken by task ends reads those tasks alone, and
every waited-for task is still read at least every ``interval``."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Sequence

from chalicelib.memory_store import MemoryStore
from chalicelib.records import TaskRecord, utc_now
from chalicelib.states import State
from chalicelib.task_watcher import TaskWatcher


class CountingStore(MemoryStore):
    """A memory store that remembers which ids each read asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[list[str]] = []

    def get_tasks(self, task_ids: Sequence[str]) -> list[TaskRecord]:
        self.reads.append(list(task_ids))
        return super().get_tasks(task_ids)


def _task(task_id: str, state: State) -> TaskRecord:
    return TaskRecord(task_id=task_id, run_id="r", state=state, updated_at=utc_now())


def _wait_in_thread(watcher: TaskWatcher, task_id: str, got: dict[str, TaskRecord]) -> None:
    def wait() -> None:
        record = watcher.wait(task_id, timeout=30)
        if record is not None:
            got[task_id] = record

    threading.Thread(target=wait, daemon=True).start()


def _until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_round_woken_by_a_task_end_reads_that_task_alone() -> None:
    store = CountingStore()
    watcher = TaskWatcher(store, interval=60.0)
    ids = [f"t{i}" for i in range(50)]
    for task_id in ids:
        store.put_task(_task(task_id, State.RUNNING), None)
    got: dict[str, TaskRecord] = {}
    for task_id in ids:
        _wait_in_thread(watcher, task_id, got)
    _until(lambda: len(watcher._waiting) == len(ids))
    time.sleep(0.2)  # the first round (reads everything) is done
    store.reads.clear()

    store.put_task(dataclasses.replace(_task("t7", State.COMPLETE), revision=1), 0)
    _until(lambda: "t7" in got)
    assert got["t7"].state == State.COMPLETE
    assert store.reads == [["t7"]]
    assert len(watcher._waiting) == len(ids) - 1
    _end_all(store, [i for i in ids if i != "t7"])
    _until(lambda: len(got) == len(ids))


def test_every_waiter_is_read_within_the_interval_even_while_ends_keep_coming() -> None:
    store = CountingStore()
    watcher = TaskWatcher(store, interval=0.3)
    store.put_task(_task("slow", State.RUNNING), None)
    got: dict[str, TaskRecord] = {}
    _wait_in_thread(watcher, "slow", got)
    _until(lambda: "slow" in watcher._waiting)
    deadline = time.monotonic() + 1.5
    n = 0
    while time.monotonic() < deadline:  # a task end every 20 ms: no timeout ever lets a full round
        store.put_task(_task(f"other{n}", State.COMPLETE), None)
        n += 1
        time.sleep(0.02)
    full_reads = [ids for ids in store.reads if "slow" in ids]
    assert len(full_reads) >= 3
    _end_all(store, ["slow"])
    _until(lambda: "slow" in got)


def _end_all(store: CountingStore, ids: list[str]) -> None:
    for task_id in ids:
        store.put_task(dataclasses.replace(_task(task_id, State.COMPLETE), revision=1), 0)
