"""The local mode against plain ``miniwdl run``: what the control plane costs a run.

Two workflows, each run by both commands with the same ``local`` container backend:
- ``local_scatter``: ``BENCH_TASKS`` trivial tasks in one scatter (per-task overhead);
- ``local_one_task``: one trivial task (the fixed cost of a run: start-up, submission, the
  agent, the orchestrator, the wait).

Every repetition gets fresh inputs (a nonce the tasks use), so no call-cache hit can make a run
fast. The commands run interleaved a, b, a, b, ... after one untimed warm-up of each, so both
see the same machine; medians are reported with the min-max spread of each. Beside the wall
time, each run's CPU seconds are counted over its whole process tree (the detached agent and
orchestrator included: this process is their subreaper), a figure other load on the machine
changes much less than the wall time.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
SCATTER_WDL = os.path.join(BENCH_DIR, "scatter.wdl")
ONE_TASK_WDL = os.path.join(BENCH_DIR, "one_task.wdl")
SCATTER_TARGET_RATIO = 1.1  # issue 16: at most 10% over plain miniwdl
ONE_TASK_TARGET_EXTRA_S = 0.25  # issue 16: at most 0.25 s more than plain miniwdl
PR_SET_CHILD_SUBREAPER = 36

Result = dict[str, Any]
# (wall seconds, CPU seconds of its process tree or None, why it failed or None)
Command = Callable[[list[str]], tuple[float, float | None, str | None]]


def _note(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


@contextmanager
def _temp_dir(prefix: str) -> Iterator[str]:
    path = tempfile.mkdtemp(prefix=prefix)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _outputs_error(code: int, stdout: str, stderr: str, check: Callable[[Any], bool]) -> str | None:
    """Why a run failed, or None: exit code 0 and outputs that pass ``check``. Both CLIs print
    ``{"outputs": {...}, ...}`` on stdout."""
    if code != 0:
        return f"exit code {code}\n" + "\n".join(stderr.strip().splitlines()[-10:])
    try:
        outputs = json.loads(stdout)["outputs"]
    except (ValueError, KeyError, TypeError) as exn:
        return f"no outputs ({exn!r}): {stdout[:500]!r}"
    return None if check(outputs) else f"unexpected outputs: {str(outputs)[:300]}"


def _become_subreaper() -> bool:
    """Have orphaned descendants (the local mode's detached agent and orchestrator) become this
    process's children, so their CPU time is counted (Linux ``PR_SET_CHILD_SUBREAPER``)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


SUBREAPER = _become_subreaper()


def _reap_descendants(timeout: float = 120.0) -> None:
    """Wait for every descendant left behind (a run's orchestrator ends just after its CLI)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.01)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(argv: list[str], env: dict[str, str]) -> tuple[float, float | None, int, str, str]:
    """Wall seconds and CPU seconds of the whole process tree (None if not countable)."""
    cpu = _cpu_seconds()
    started = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    _reap_descendants()
    used = round(_cpu_seconds() - cpu, 3) if SUBREAPER else None
    return wall, used, proc.returncode, proc.stdout, proc.stderr


def miniwdl_fargate(bin_dir: str, check: Callable[[Any], bool]) -> Command:
    """``miniwdl-fargate run`` (the local mode, whole control plane) in a throwaway home."""

    def run(args: list[str]) -> tuple[float, float | None, str | None]:
        with _temp_dir("bench-mwf-home-") as home:
            env = {**os.environ, "MINIWDL_FARGATE_HOME": home}
            argv = [os.path.join(bin_dir, "miniwdl-fargate"), "run", *args]
            seconds, cpu, code, out, err = _timed(argv, env)
        return seconds, cpu, _outputs_error(code, out, err, check)

    return run


def plain_miniwdl(bin_dir: str, check: Callable[[Any], bool]) -> Command:
    """``miniwdl run`` with the same ``local`` container backend and no control plane."""

    def run(args: list[str]) -> tuple[float, float | None, str | None]:
        with _temp_dir("bench-miniwdl-") as run_dir:
            env = {**os.environ, "MINIWDL__SCHEDULER__CONTAINER_BACKEND": "local"}
            argv = [os.path.join(bin_dir, "miniwdl"), "run", *args, "--dir", run_dir]
            seconds, cpu, code, out, err = _timed(argv, env)
        return seconds, cpu, _outputs_error(code, out, err, check)

    return run


def compare(
    name: str, bin_dir: str, check: Callable[[Any], bool], args: Callable[[], list[str]], reps: int
) -> Result:
    """Run both commands ``reps`` times each, interleaved, after one warm-up each, with fresh
    ``args()`` for every run; each command's summary, its times and the failed runs."""
    commands = {
        "miniwdl_fargate": miniwdl_fargate(bin_dir, check),
        "plain_miniwdl": plain_miniwdl(bin_dir, check),
    }
    walls: dict[str, list[float]] = {command: [] for command in commands}
    cpus: dict[str, list[float]] = {command: [] for command in commands}
    failures = 0
    for rep in range(reps + 1):
        label = "warm-up" if rep == 0 else f"repetition {rep}/{reps}"
        for command, run in commands.items():
            seconds, cpu, error = run(args())
            _note(
                f"{name} {label} {command}: {seconds:.2f}s (cpu {cpu}s)"
                + (" FAILED" if error else "")
            )
            if error:
                failures += 1
                _note(f"  {error}")
            elif rep > 0:
                walls[command].append(round(seconds, 3))
                if cpu is not None:
                    cpus[command].append(cpu)
    return {
        "scenario": name,
        "repetitions": reps,
        **{command: summary(walls[command], cpus[command]) for command in commands},
        "runs_s": walls,
        "failures": failures,
    }


def summary(times: list[float], cpus: list[float]) -> dict[str, float | None]:
    """Median and min-max spread of one command's wall times, and its median CPU seconds."""
    if not times:
        return {"median_s": None, "min_s": None, "max_s": None, "median_cpu_s": None}
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "median_cpu_s": round(statistics.median(cpus), 3) if cpus else None,
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def _difference(a: float | None, b: float | None) -> float | None:
    return round(a - b, 3) if a is not None and b is not None else None


def _nonce() -> str:
    return uuid.uuid4().hex[:12]


def local_scatter(bin_dir: str, tasks: int, reps: int) -> Result:
    """``tasks`` trivial tasks: the local mode's time over plain miniwdl's (target <= 1.1)."""

    def check(outputs: Any) -> bool:
        return isinstance(outputs.get("many.out"), list) and len(outputs["many.out"]) == tasks

    result = compare(
        "local_scatter",
        bin_dir,
        check,
        lambda: [SCATTER_WDL, f"n={tasks}", f"nonce={_nonce()}"],
        reps,
    )
    ours, plain = result["miniwdl_fargate"], result["plain_miniwdl"]
    ratio = _ratio(ours["median_s"], plain["median_s"])
    return {
        **result,
        "tasks": tasks,
        "ratio": ratio,
        "cpu_ratio": _ratio(ours["median_cpu_s"], plain["median_cpu_s"]),
        "target_ratio": SCATTER_TARGET_RATIO,
        "meets_target": ratio is not None and ratio <= SCATTER_TARGET_RATIO,
    }


def local_one_task(bin_dir: str, reps: int) -> Result:
    """A one-task workflow: the local mode's extra seconds over plain miniwdl (target <= 0.25)."""
    nonces: list[str] = []

    def args() -> list[str]:
        nonces.append(_nonce())
        return [ONE_TASK_WDL, f"nonce={nonces[-1]}"]

    def check(outputs: Any) -> bool:
        return outputs.get("one_task.out") == nonces[-1]

    result = compare("local_one_task", bin_dir, check, args, reps)
    ours, plain = result["miniwdl_fargate"], result["plain_miniwdl"]
    extra = _difference(ours["median_s"], plain["median_s"])
    return {
        **result,
        "extra_s": extra,
        "extra_cpu_s": _difference(ours["median_cpu_s"], plain["median_cpu_s"]),
        "target_extra_s": ONE_TASK_TARGET_EXTRA_S,
        "meets_target": extra is not None and extra <= ONE_TASK_TARGET_EXTRA_S,
    }
