"""Benchmark scenario "fargate_scatter": a large trivial scatter through the ``aws_fargate``
backend, against moto and the fake Fargate harness of the tests, with RunTask throttled at
Fargate's published limits (20 calls/s; a bucket of 100 task launches refilling at 20/s).

Run by ``bench/run.py`` as its own process (so peak RSS is this run's); prints one JSON line.
The orchestrator's miniwdl, moto and the harness share this process, so ``peak_rss_mb`` is an
upper bound for the orchestrator alone.

    BENCH_FARGATE_TASKS  tasks in the scatter (default 1000)
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent / "tests"))

from fargate_env import fargate_account  # noqa: E402

from chalicelib.backend_fargate import FargateContainer  # noqa: E402


def main() -> int:
    tasks = int(os.environ.get("BENCH_FARGATE_TASKS", "1000"))
    with (
        tempfile.TemporaryDirectory(prefix="bench-fargate-") as root,
        fargate_account(Path(root), os.environ.__setitem__) as env,
    ):
        env.faults.fargate_limits = True
        started = time.perf_counter()
        code, result = env.run(
            BENCH_DIR / "scatter.wdl",
            f"n={tasks}",
            MINIWDL__SCHEDULER__TASK_CONCURRENCY="200",
            MINIWDL__AWS_FARGATE__WATCH_INTERVAL="1.0",
        )
        wall = time.perf_counter() - started
        runtime = FargateContainer._runtime
        assert runtime is not None
        counters = runtime.launcher.counters
        launches = sorted(env.harness.started_at)
        window = launches[-1] - launches[0] if len(launches) > 1 else 0.0
        outputs = result.get("outputs", {}).get("many.out", [])
        failures = 0 if code == 0 and outputs == list(range(tasks)) else 1
        line = {
            "scenario": "fargate_scatter",
            "tasks": tasks,
            "wall_s": round(wall, 2),
            "launch_rate_per_s": round((len(launches) - 1) / window, 2) if window else None,
            "runtask_calls": counters.run_task,
            "runtask_http_attempts": env.harness.run_task_attempts,
            "throttled_by_fargate_limits": env.harness.limit_throttles,
            "register_task_definition_calls": counters.register_task_definition,
            "describe_tasks_calls": counters.describe_tasks,
            "store_queries": runtime.watcher.reads,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "failures": failures,
            "targets": {
                "failures": 0,
                "register_task_definition_calls_max": 1,
                "describe_tasks_calls": 0,
                "launch_rate_per_s_min": 18,
                "peak_rss_mb_max": 1024,
            },
        }
    print(json.dumps(line))
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
