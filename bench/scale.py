"""Concurrent orchestrators sharing the account's RunTask rate (``launch_budget_options``).

Five runs launch their tasks at once against one account whose RunTask is limited as ECS limits
it (20 calls/s, burst 20). A call over the limit is throttled and retried as botocore's standard
retry mode does (full jitter, exponential from 1 s). Two ways to pace are compared:

- ``alone``: each orchestrator paces itself with its own ``LaunchLimits`` (95% of 20/s), as
  before the shared budget: five of them ask for about 95 calls/s;
- ``shared``: each also takes a token (and a vCPU lease) from the one ``SharedLaunchBudget`` in
  a SQLite store shared by all of them (the local adapter of the same port DynamoDB serves on
  AWS), and gives the lease back as the task "stops".

RunTask is simulated (no container, no process), so this measures pacing, not ECS: the
launches/s of all runs together, the throttled share of calls, and how evenly the runs were
served (slowest run's rate over the fastest's). Not measured here: botocore's ``adaptive`` mode
(it needs real throttling responses from a client's endpoint).

    python bench/scale.py            prints one JSON line per strategy
    BENCH_SCALE_RUNS   concurrent runs (default 5)
    BENCH_SCALE_TASKS  tasks per run (default 100)
"""

from __future__ import annotations

import json
import os
import queue
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from chalicelib.fargate import LaunchLimits, TokenBucket
from chalicelib.launch_budget import AccountLimits, SharedLaunchBudget
from chalicelib.sqlite_store import SqliteStore

ECS_RUN_TASK_PER_S = 20.0
THREADS_PER_RUN = 10


@dataclass
class Account:
    """ECS's account-wide RunTask limit, and what it saw."""

    bucket: TokenBucket = field(default_factory=lambda: TokenBucket(ECS_RUN_TASK_PER_S, 20.0))
    calls: int = 0
    throttled: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run_task(self) -> bool:
        ok = self.bucket.try_take(1.0)
        with self.lock:
            self.calls += 1
            self.throttled += 0 if ok else 1
        return ok


def launch_with_retries(account: Account) -> None:
    """One RunTask as botocore's standard retry mode makes it (up to 20 attempts)."""
    for attempt in range(20):
        if account.run_task():
            return
        time.sleep(random.random() * min(20.0, 2.0**attempt))
    raise RuntimeError("RunTask throttled 20 times")


def one_run(
    index: int, tasks: int, account: Account, budget: SharedLaunchBudget | None
) -> dict[str, float]:
    """A run's orchestrator: ``THREADS_PER_RUN`` threads launch its tasks."""
    limits = LaunchLimits()
    todo: queue.Queue[int] = queue.Queue()
    for n in range(tasks):
        todo.put(n)
    start = time.monotonic()
    ends: list[float] = []

    def worker() -> None:
        while True:
            try:
                n = todo.get_nowait()
            except queue.Empty:
                return
            key = f"run{index}-task{n}"
            if budget is not None:
                budget.acquire(key, f"lab-{index}", 0.25)
            limits.acquire(1)
            launch_with_retries(account)
            ends.append(time.monotonic())
            if budget is not None:
                budget.release(key)  # its STOPPED event (a zero-length task)

    threads = [threading.Thread(target=worker) for _ in range(THREADS_PER_RUN)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"start": start, "end": max(ends), "rate": tasks / (max(ends) - start)}


def measure(strategy: str, runs: int, tasks: int) -> dict[str, Any]:
    account = Account()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "budget.sqlite3")
        budgets: list[SharedLaunchBudget | None] = [
            SharedLaunchBudget(SqliteStore(path), AccountLimits()) if strategy == "shared" else None
            for _ in range(runs)
        ]
        results: list[dict[str, float]] = [{} for _ in range(runs)]

        def run(i: int) -> None:
            results[i] = one_run(i, tasks, account, budgets[i])

        threads = [threading.Thread(target=run, args=(i,)) for i in range(runs)]
        begin = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = max(r["end"] for r in results) - begin
    rates = [r["rate"] for r in results]
    writes = sum(b.writes for b in budgets if b is not None)
    conflicts = sum(b.conflicts for b in budgets if b is not None)
    return {
        "scenario": "launch_budget",
        "strategy": strategy,
        "runs": runs,
        "tasks_per_run": tasks,
        "aggregate_launches_per_s": round(runs * tasks / elapsed, 2),
        "throttled_fraction": round(account.throttled / max(1, account.calls), 4),
        "run_task_calls": account.calls,
        "slowest_over_fastest_run": round(min(rates) / max(rates), 3),
        "budget_writes_per_task": round(writes / (runs * tasks), 2) if writes else 0,
        "budget_write_conflicts": conflicts,
        "targets": {"aggregate_launches_per_s": 18, "throttled_fraction": 0.05, "fairness": 0.5},
    }


def launch_budget_options() -> dict[str, Any]:
    """Both strategies (the ``make bench`` scenario): the shared one is what runs use."""
    runs = int(os.environ.get("BENCH_SCALE_RUNS", 5))
    tasks = int(os.environ.get("BENCH_SCALE_TASKS", 100))
    alone = measure("alone", runs, tasks)
    shared = measure("shared", runs, tasks)
    return {**shared, "alone": alone}


if __name__ == "__main__":
    runs = int(os.environ.get("BENCH_SCALE_RUNS", 5))
    tasks = int(os.environ.get("BENCH_SCALE_TASKS", 100))
    for strategy in ("alone", "shared"):
        print(json.dumps(measure(strategy, runs, tasks)), flush=True)
