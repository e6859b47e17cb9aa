"""Benchmark scenario "fargate_scale": one run of 10,000 tasks through the ``aws_fargate``
backend (issue 15, part 6), against moto and the fake Fargate harness with ECS's account-wide
RunTask limits (20 calls/s; a bucket of 100 task launches refilling at 20/s).

The orchestrator is the real one: ``miniwdl run`` of ``bench/scale.wdl`` with the backend, its
``TaskWatcher`` on the store, and the shared launch budget (``launch_budget``) over the same
SQLite store as on AWS over DynamoDB; the real status handler applies every ECS event and gives
leases back on STOPPED. Each task is trivial (``sleep BENCH_SCALE_SECONDS``, 0 by default), so
the harness plays it without a process (``FakeFargate(simulate=trivial_command_seconds)``): the
same events, its stdout/stderr files. Thousands of tasks wait at once all the same, each on a
miniwdl thread: for their lease in the launch budget, then for their container's end. With
``BENCH_SCALE_SECONDS=30`` (under ``reconcile_after_seconds``, so no task is described) hundreds
of containers are in flight at once, each holding a lease in the launch budget.

``task_concurrency`` is what the orchestrator would give miniwdl for this account
(``chalicelib.task_concurrency``: the account's vCPUs over the smallest task, capped), unless
``BENCH_SCALE_CONCURRENCY`` sets it. Store reads are counted by wrapping the orchestrator's
store: the watcher's batched reads and the launch budget's, while tasks wait.

Run by ``bench/run.py`` as its own process (its peak RSS is this run's); prints one JSON line.
moto and the harness share the process, so ``peak_rss_mb`` is an upper bound for the
orchestrator alone.

    BENCH_SCALE_TASKS        tasks in the scatter (default 10000)
    BENCH_SCALE_SECONDS      each task's sleep (default 0)
    BENCH_SCALE_VCPUS        the account's Fargate vCPU limit (default 4000)
    BENCH_SCALE_CONCURRENCY  miniwdl's task_concurrency (default: the orchestrator's choice)
    BENCH_SCALE_PROFILE      a file to write where the threads were, sampled (default: none)
"""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent / "tests"))

from fargate_env import fargate_account  # noqa: E402
from fargate_harness import trivial_command_seconds  # noqa: E402

from chalicelib import backend_fargate  # noqa: E402
from chalicelib.backend_fargate import FargateContainer  # noqa: E402
from chalicelib.launch_budget import AccountLimits, BudgetRecord, SharedLaunchBudget  # noqa: E402
from chalicelib.records import RunRecord, TaskRecord  # noqa: E402
from chalicelib.sqlite_store import SqliteStore  # noqa: E402
from chalicelib.status import ControlPlane, handle_ecs_event  # noqa: E402
from chalicelib.task_concurrency import task_concurrency  # noqa: E402


class CountingStore(SqliteStore):
    """The orchestrator's store, counting its reads by method (and the records they return)."""

    reads: Counter[str] = Counter()
    rows = 0

    def get_tasks(self, task_ids: Sequence[str]) -> list[TaskRecord]:
        found = super().get_tasks(task_ids)
        CountingStore.reads["get_tasks"] += 1
        CountingStore.rows += len(found)
        return found

    def get_task(self, task_id: str) -> TaskRecord | None:
        CountingStore.reads["get_task"] += 1
        return super().get_task(task_id)

    def get_run(self, run_id: str) -> RunRecord | None:
        CountingStore.reads["get_run"] += 1
        return super().get_run(run_id)

    def list_tasks(self, run_id: str) -> list[TaskRecord]:
        CountingStore.reads["list_tasks"] += 1
        return super().list_tasks(run_id)

    def get_budget(self, name: str) -> BudgetRecord | None:
        CountingStore.reads["get_budget"] += 1
        return super().get_budget(name)


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Monitor:
    """Samples RSS, threads and waiting tasks every second; their peaks and the RSS curve."""

    def __init__(self) -> None:
        self.peak_threads = 0
        self.peak_waiting = 0
        self.peak_leases = 0  # task containers in flight, as the launch budget counts them
        self.peak_budget_bytes = 0  # the budget's counters record (not its lease items)
        self.samples: list[tuple[float, float, int]] = []  # (s, RSS MB, tasks done)
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Monitor:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(1.0):
            self.peak_threads = max(self.peak_threads, threading.active_count())
            runtime = FargateContainer._runtime
            if runtime is not None:
                self.peak_waiting = max(self.peak_waiting, len(runtime.watcher._waiting))
                if runtime.plane is not None and isinstance(runtime.plane.store, SqliteStore):
                    # not through CountingStore: the bench's own reads are not the run's
                    budget = SqliteStore.get_budget(runtime.plane.store, "account")
                    if budget is not None:
                        self.peak_leases = max(self.peak_leases, budget.leases)
                        size = len(json.dumps(budget.to_item()))
                        self.peak_budget_bytes = max(self.peak_budget_bytes, size)
            done = CountingStore.rows
            self.samples.append((time.monotonic() - self._started, _rss_mb(), done))

    def rss_curve(self, points: int = 6) -> list[float]:
        """RSS (MB) at evenly spaced moments of the run: growth shows as a rising curve."""
        if not self.samples:
            return []
        step = max(1, len(self.samples) // points)
        return [round(s[1], 1) for s in self.samples[::step]]


def _sample_stacks(path: str, stop: threading.Event) -> None:
    """Where this process's threads are, every 20 ms (the running ones: not in a wait), as
    counts of their innermost chalicelib/WDL/moto/botocore frames, written to ``path``."""
    import traceback

    counts: Counter[str] = Counter()
    idle = ("wait", "acquire", "sleep", "select", "_wait_for_tstate_lock", "get")
    me = threading.get_ident()
    while not stop.wait(0.02):
        for ident, frame in sys._current_frames().items():
            if ident == me or frame.f_code.co_name in idle:
                continue
            stack = traceback.extract_stack(frame)[-12:]
            where = [f"{Path(f.filename).name}:{f.name}" for f in stack]
            counts[" < ".join(reversed(where[-4:]))] += 1
    with open(path, "w", encoding="utf-8") as out:
        for where, n in counts.most_common(40):
            out.write(f"{n:6d} {where}\n")


def main() -> int:
    tasks = int(os.environ.get("BENCH_SCALE_TASKS", "10000"))
    seconds = int(os.environ.get("BENCH_SCALE_SECONDS", "0"))
    vcpus = float(os.environ.get("BENCH_SCALE_VCPUS", "4000"))
    concurrency = int(os.environ.get("BENCH_SCALE_CONCURRENCY") or task_concurrency(vcpus, None))
    account = AccountLimits(max_vcpus=vcpus)
    backend_fargate.SqliteStore = CountingStore  # type: ignore[misc]  the orchestrator's store
    original_plane = backend_fargate._control_plane

    def plane_with_budget(cfg: Any, launcher: Any) -> ControlPlane | None:
        # as on AWS (``deployment.group_ports``): the shared launch budget over the store
        plane = original_plane(cfg, launcher)
        if plane is None:
            return None
        return dataclasses.replace(plane, budget=SharedLaunchBudget(plane.store, account))

    backend_fargate._control_plane = plane_with_budget  # type: ignore[assignment]
    with (
        tempfile.TemporaryDirectory(prefix="bench-scale-") as root,
        fargate_account(Path(root), os.environ.__setitem__) as env,
    ):
        env.faults.fargate_limits = True
        env.harness.simulate = trivial_command_seconds
        # the status handler's plane (``fargate_account``'s), giving leases back on STOPPED
        cells = env.harness.deliver.__closure__ or ()
        plane = next(c.cell_contents for c in cells if isinstance(c.cell_contents, ControlPlane))
        handler_plane = dataclasses.replace(plane, budget=SharedLaunchBudget(plane.store, account))
        env.harness.deliver = lambda event: handle_ecs_event(event, handler_plane)
        sampling = threading.Event()
        profile = os.environ.get("BENCH_SCALE_PROFILE")
        if profile:
            threading.Thread(target=_sample_stacks, args=(profile, sampling), daemon=True).start()
        started = time.perf_counter()
        with Monitor() as monitor:
            code, result = env.run(
                BENCH_DIR / "scale.wdl",
                f"n={tasks}",
                f"seconds={seconds}",
                f"nonce={time.time_ns()}",
                MINIWDL__SCHEDULER__TASK_CONCURRENCY=str(concurrency),
                MINIWDL__AWS_FARGATE__WATCH_INTERVAL="2.0",  # the backend's defaults
                MINIWDL__AWS_FARGATE__RECONCILE_AFTER_SECONDS="60.0",
            )
        wall = time.perf_counter() - started
        sampling.set()
        runtime = FargateContainer._runtime
        assert runtime is not None
        counters = runtime.launcher.counters
        launches = sorted(env.harness.started_at)
        window = launches[-1] - launches[0] if len(launches) > 1 else 0.0
        outputs = result.get("outputs", {}).get("scale.out", [])
        failures = 0 if code == 0 and outputs == list(range(tasks)) else 1
        reads = dict(CountingStore.reads)
        budget = runtime.plane.budget if runtime.plane is not None else None
        line = {
            "scenario": "fargate_scale",
            "tasks": tasks,
            "task_seconds": seconds,
            "task_concurrency": concurrency,
            "account_vcpus": vcpus,
            "wall_s": round(wall, 1),
            "launch_rate_per_s": round((len(launches) - 1) / window, 2) if window else None,
            "runtask_calls": counters.run_task,
            "runtask_http_attempts": env.harness.run_task_attempts,
            "throttled_by_fargate_limits": env.harness.limit_throttles,
            "describe_tasks_calls": counters.describe_tasks,
            "simulated_tasks": env.harness.simulated,
            "peak_tasks_waiting": monitor.peak_waiting,
            "peak_threads": monitor.peak_threads,
            "store_reads": sum(reads.values()),
            "store_reads_by_method": reads,
            "store_reads_per_task": round(sum(reads.values()) / max(tasks, 1), 2),
            "watcher_rounds_reads": runtime.watcher.reads,
            "budget_writes": budget.writes if budget is not None else 0,
            "budget_write_conflicts": budget.conflicts if budget is not None else 0,
            "peak_leases_in_flight": monitor.peak_leases,
            "peak_budget_record_bytes": monitor.peak_budget_bytes,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "rss_mb_over_time": monitor.rss_curve(),
            "failures": failures,
            "targets": {
                "failures": 0,
                "describe_tasks_calls": 0,
                "launch_rate_per_s_min": 18,
                "peak_rss_mb_max": 1024,
            },
        }
    print(json.dumps(line))
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
