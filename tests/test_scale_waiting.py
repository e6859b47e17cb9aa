"""Issue 15, part 6: what thousands of waiting tasks cost one orchestrator (``make bench``'s
``fargate_scale`` measures it at 10,000 tasks). Tasks waiting for the launch budget read the
store one shape at a time, not each on its own; a task waiting for its container wakes once a
tick; ``task_concurrency`` follows the account's and the group's vCPU limits."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from quiet_plane import quiet_plane

from chalicelib.groups import GroupRecord, Limits
from chalicelib.launch_budget import AccountLimits, BudgetRecord, SharedLaunchBudget
from chalicelib.memory_store import MemoryStore
from chalicelib.records import RunRecord, TaskRecord
from chalicelib.states import State
from chalicelib.task_concurrency import (
    ENV_TASK_CONCURRENCY,
    MAX_TASK_CONCURRENCY,
    concurrency_setting,
    task_concurrency,
)
from chalicelib.task_watcher import TaskWatcher

FAST = AccountLimits(max_vcpus=1.0, rate_per_s=1000.0, burst=1000.0)
POLL = 0.01


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.budget_reads = 0

    def get_budget(self, name: str) -> BudgetRecord | None:
        self.budget_reads += 1
        return super().get_budget(name)


def _waiters(
    budget: SharedLaunchBudget, shapes: Sequence[tuple[str, float, int]], stop: threading.Event
) -> tuple[list[threading.Thread], list[str]]:
    granted: list[str] = []

    def take(key: str, vcpus: float, gpus: int) -> None:
        if budget.acquire(key, "a", vcpus, gpus, stop=stop.is_set):
            granted.append(key)

    threads = [threading.Thread(target=take, args=shape) for shape in shapes]
    for t in threads:
        t.start()
    return threads, granted


def test_tasks_waiting_for_the_budget_read_the_store_one_at_a_time() -> None:
    """Twenty tasks of one shape wait for a vCPU held elsewhere: over the wait, the store is
    read about once a poll (one reader), not twenty times; all launch, one after another, once
    it is given back; a stop ends those still in line."""
    store = CountingStore()
    budget = SharedLaunchBudget(store, FAST)
    budget.sleep = lambda seconds: time.sleep(POLL)
    assert budget.acquire("held", "a", 1.0)
    stop = threading.Event()
    threads, granted = _waiters(budget, [(f"t{n}", 1.0, 0) for n in range(20)], stop)
    time.sleep(0.1)  # every waiter is in line by now
    reads, started = store.budget_reads, time.monotonic()
    time.sleep(0.5)
    window = time.monotonic() - started
    assert store.budget_reads - reads <= window / POLL + 3  # one reader (twenty: ~1000)
    assert granted == []
    assert budget.release("held")
    deadline = time.monotonic() + 10
    while not granted and time.monotonic() < deadline:
        time.sleep(POLL)
    assert granted  # the first in line launched; it holds the only vCPU
    stop.set()
    for t in threads:
        t.join(5)
    assert not any(t.is_alive() for t in threads)  # stopped while waiting in line
    assert len(granted) == 1


def test_a_task_of_another_shape_is_not_held_in_line() -> None:
    """A GPU task waiting for GPUs does not keep a CPU task of the same run waiting."""
    store = CountingStore()
    budget = SharedLaunchBudget(store, AccountLimits(max_gpus=1, rate_per_s=1000.0))
    budget.sleep = lambda seconds: time.sleep(POLL)
    assert budget.acquire("gpu0", "a", 4.0, 1)
    stop = threading.Event()
    threads, granted = _waiters(budget, [("gpu1", 4.0, 1)], stop)
    time.sleep(0.05)
    started = time.monotonic()
    assert budget.acquire("cpu", "a", 4.0, 0, stop=lambda: time.monotonic() - started > 2)
    assert granted == []
    stop.set()
    for t in threads:
        t.join(5)


class _Never:
    def get_tasks(self, task_ids: Sequence[str]) -> list[TaskRecord]:
        return []

    def wait_for_change(self, seen: int, timeout: float) -> int:
        time.sleep(timeout)
        return seen

    def ended_since(self, seen: int) -> None:
        return None


def test_a_waiting_task_wakes_once_a_tick() -> None:
    """A task waiting for its container wakes once a ``tick_seconds`` (its tick and stop()),
    not four times: with thousands waiting, wake-ups cost the orchestrator its CPU."""
    watcher = TaskWatcher(_Never(), interval=0.05, check_on_register=False)
    ticks: list[float] = []
    stops: list[float] = []

    def stop() -> bool:
        stops.append(time.monotonic())
        return False

    assert watcher.wait("t1", timeout=1.1, stop=stop, tick=lambda: ticks.append(1.0)) is None
    assert 1 <= len(ticks) <= 2 and len(stops) <= 2


def test_task_concurrency_follows_the_tighter_vcpu_limit_over_the_smallest_task() -> None:
    assert task_concurrency(6.0, None) == 24  # a new account's quota: 24 tasks of 0.25 vCPU
    assert task_concurrency(100.0, 10.0) == 40  # the group's 10 vCPUs
    assert task_concurrency(10.0, 100.0) == 40
    assert task_concurrency(0.1, None) == 1
    assert task_concurrency(None, None) == MAX_TASK_CONCURRENCY
    assert task_concurrency(4000.0, None) == MAX_TASK_CONCURRENCY  # memory's cap
    assert task_concurrency(4000.0, None, cap=50) == 50


def test_the_orchestrator_sets_task_concurrency_from_its_account_and_group() -> None:
    store = MemoryStore()
    stamp = "2026-01-01T00:00:00.000Z"
    store.create_run(RunRecord("run1", State.RUNNING, stamp, stamp, "w", "k", "k", group="lab"))
    store.put_group(GroupRecord("lab", Limits(max_vcpus=8.0)), None)
    budget = SharedLaunchBudget(store, AccountLimits(max_vcpus=100.0))
    plane = quiet_plane(store, budget=budget)
    assert concurrency_setting(plane, "run1", {}) == {ENV_TASK_CONCURRENCY: "32"}
    # a setting given (the submitter's, the task definition's) wins; no budget: miniwdl's own
    assert concurrency_setting(plane, "run1", {ENV_TASK_CONCURRENCY: "7"}) == {}
    local = quiet_plane(store)
    assert concurrency_setting(local, "run1", {}) == {}
