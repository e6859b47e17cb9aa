"""The platform shim's per-task overhead (``chalicelib.shim``), for ``make bench``.

Each attempt's command runs as the backends run it, with and without the shim:
``cd work && exec [/bin/sh SHIM USAGE MODE] bash script >> stdout 2>> stderr``.

- ``per_task_ms``: the median extra wall time per task of a trivial command (the shim's fixed
  cost: starting, ``date``, reading the cgroup, ``du`` and writing its record), for the local
  mode's ``process`` mode and the containers' ``container`` mode (here it falls back to
  sampling ``/proc`` unless the machine gives each task its own cgroup);
- ``cpu_ms_per_task``: the extra CPU time (children's rusage) per trivial task;
- ``sampler_cpu_ms_per_s``: the CPU the memory sampler spends per second of a task that sleeps
  (the sampler looks every 0.1 s for 2 s, every 0.5 s to 50 s, then every 2 s).

    python bench/shim.py        one JSON line (BENCH_REPS: repetitions, default 5 -> 50 tasks)
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from chalicelib import shim

SLEEP_SECONDS = 3.0


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _argv(root: str, mode: str | None, body: str) -> list[str]:
    task = os.path.join(root, "task")
    os.makedirs(os.path.join(task, "work"), exist_ok=True)
    script = os.path.join(task, "command")
    with open(script, "w", encoding="utf-8") as out:
        out.write(body + "\n")
    runner = "bash"
    if mode is not None:
        runner = " ".join(
            shim.shim_argv(shim.place(root), os.path.join(task, "usage.json"), mode, ["bash"])
        )
    streams = f">> {task}/stdout.txt 2>> {task}/stderr.txt"
    return ["/bin/sh", "-c", f"cd {task}/work && exec {runner} {script} {streams}"]


def _time(argv: list[str], reps: int) -> tuple[list[float], float]:
    """Wall seconds of each run and the children's CPU seconds per run."""
    walls = []
    cpu_before = _children_cpu()
    for _ in range(reps):
        started = time.perf_counter()
        subprocess.run(argv, check=True)
        walls.append(time.perf_counter() - started)
    return walls, (_children_cpu() - cpu_before) / reps


def shim_overhead() -> dict[str, Any]:
    """The shim's cost per task, as one JSON object (``bench/run.py`` scenario)."""
    reps = int(os.environ.get("BENCH_REPS", 5)) * 10
    result: dict[str, Any] = {"scenario": "shim_overhead", "tasks": reps}
    with tempfile.TemporaryDirectory(prefix="bench-shim-") as root:
        plain = _argv(root, None, ":")
        _time(plain, 3)  # warm the page cache
        base_walls, base_cpu = _time(plain, reps)
        per_task, cpu = {}, {}
        for mode in shim.MODES:
            walls, used = _time(_argv(root, mode, ":"), reps)
            per_task[mode] = round(
                (statistics.median(walls) - statistics.median(base_walls)) * 1e3, 2
            )
            cpu[mode] = round((used - base_cpu) * 1e3, 2)
        recorded = shim.read_usage(os.path.join(root, "task", "usage.json")) or {}
        sleeping = f"sleep {SLEEP_SECONDS}"
        _, base_sleep_cpu = _time(_argv(root, None, sleeping), 1)
        _, shim_sleep_cpu = _time(_argv(root, "process", sleeping), 1)
    result.update(
        baseline_task_ms=round(statistics.median(base_walls) * 1e3, 2),
        per_task_ms=per_task,
        cpu_ms_per_task=cpu,
        sampler_cpu_ms_per_s=round((shim_sleep_cpu - base_sleep_cpu) * 1e3 / SLEEP_SECONDS, 2),
        memory_source=recorded.get("memory_source"),
        target="a few ms per task; under 1% of a CPU while a task runs",
    )
    return result


if __name__ == "__main__":
    print(json.dumps(shim_overhead()))
