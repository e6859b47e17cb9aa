"""Performance scenarios of ``make bench``: each prints one JSON line to stdout.

Progress and notes go to stderr, so stdout stays machine-readable. The exit code is 0 when every
run succeeded, even if a target was missed (a scenario is a report, not a test), and 1 when any
run failed. A scenario is a function in ``SCENARIOS`` returning its JSON object; add new ones
there.

    python bench/run.py [SCENARIO ...]   the named scenarios (default: all, in SCENARIOS order)

Scenarios: local_scatter, fargate_scatter, the control plane's (``bench/control_plane.py``):
submit, events, cold_import, package_size, and input_placement (``bench/placement.py``).

    BENCH_SCENARIOS  scenarios to run when none are named (comma- or space-separated)
    BENCH_TASKS      tasks per scatter (default 200)
    BENCH_REPS       timed repetitions per command (default 5)
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
BIN_DIR = os.path.dirname(sys.executable)  # the CLIs are installed beside this Python
MINIWDL_FARGATE = os.path.join(BIN_DIR, "miniwdl-fargate")
MINIWDL = os.path.join(BIN_DIR, "miniwdl")
SCATTER_WDL = os.path.join(BENCH_DIR, "scatter.wdl")
SCATTER_OUTPUT = "many.out"  # workflow `many`, output `out`
LOCAL_TARGET_RATIO = 1.3  # miniwdl-fargate's local mode may cost at most 30% over plain miniwdl

Result = dict[str, Any]


def _env_int(name: str, default: int) -> int:
    """A positive integer setting from the environment."""
    value = int(os.environ.get(name, default))
    if value < 1:
        raise SystemExit(f"{name} must be at least 1, not {value}")
    return value


def _note(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


@contextmanager
def _temp_dir(prefix: str) -> Iterator[str]:
    """A fresh directory, removed afterwards (runs write hundreds of files into it)."""
    path = tempfile.mkdtemp(prefix=prefix)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _timed(argv: list[str], env: dict[str, str]) -> tuple[float, int, str, str]:
    """Run ``argv`` to completion; its wall-clock seconds, exit code, stdout and stderr."""
    started = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    return time.perf_counter() - started, proc.returncode, proc.stdout, proc.stderr


def _scatter_error(code: int, stdout: str, stderr: str, tasks: int) -> str | None:
    """Why a scatter run failed, or None: exit code 0 and ``tasks`` values in its outputs JSON.

    Both CLIs print ``{"outputs": {...}, ...}`` on stdout.
    """
    if code != 0:
        tail = "\n".join(stderr.strip().splitlines()[-10:])
        return f"exit code {code}\n{tail}"
    try:
        values = json.loads(stdout)["outputs"][SCATTER_OUTPUT]
    except (ValueError, KeyError, TypeError) as exn:
        return f"no {SCATTER_OUTPUT} in the outputs ({exn!r}): {stdout[:500]!r}"
    if not isinstance(values, list) or len(values) != tasks:
        return f"{SCATTER_OUTPUT} should have {tasks} elements: {str(values)[:200]}"
    return None


def _run_miniwdl_fargate(tasks: int) -> tuple[float, str | None]:
    """``miniwdl-fargate run`` (local mode, full control plane) in a throwaway home."""
    with _temp_dir("bench-mwf-home-") as home:
        env = {**os.environ, "MINIWDL_FARGATE_HOME": home}
        argv = [MINIWDL_FARGATE, "run", SCATTER_WDL, f"n={tasks}"]
        seconds, code, out, err = _timed(argv, env)
    return seconds, _scatter_error(code, out, err, tasks)


def _run_plain_miniwdl(tasks: int) -> tuple[float, str | None]:
    """``miniwdl run`` with the same ``local`` container backend but no control plane."""
    with _temp_dir("bench-miniwdl-") as run_dir:
        env = {**os.environ, "MINIWDL__SCHEDULER__CONTAINER_BACKEND": "local"}
        argv = [MINIWDL, "run", SCATTER_WDL, f"n={tasks}", "--dir", run_dir]
        seconds, code, out, err = _timed(argv, env)
    return seconds, _scatter_error(code, out, err, tasks)


def local_scatter() -> Result:
    """A trivial scatter through the local mode versus plain miniwdl: the control plane's cost.

    One untimed warm-up of each (first runs compile bytecode), then timed repetitions
    interleaved a, b, a, b, ... so both commands see the same machine noise; medians reported.
    """
    tasks = _env_int("BENCH_TASKS", 200)
    reps = _env_int("BENCH_REPS", 5)
    commands: dict[str, Callable[[int], tuple[float, str | None]]] = {
        "miniwdl_fargate": _run_miniwdl_fargate,
        "plain_miniwdl": _run_plain_miniwdl,
    }
    runs: dict[str, list[float]] = {name: [] for name in commands}
    failures = 0
    for rep in range(reps + 1):
        label = "warm-up" if rep == 0 else f"repetition {rep}/{reps}"
        for name, command in commands.items():
            seconds, error = command(tasks)
            _note(f"local_scatter {label} {name}: {seconds:.2f}s{' FAILED' if error else ''}")
            if error:
                failures += 1
                _note(f"  {error}")
            elif rep > 0:
                runs[name].append(round(seconds, 3))
    medians = {name: statistics.median(times) if times else None for name, times in runs.items()}
    a, b = medians["miniwdl_fargate"], medians["plain_miniwdl"]
    ratio = round(a / b, 3) if a is not None and b else None
    return {
        "scenario": "local_scatter",
        "tasks": tasks,
        "repetitions": reps,
        "miniwdl_fargate_run_s": a,
        "plain_miniwdl_run_s": b,
        "ratio": ratio,
        "target_ratio": LOCAL_TARGET_RATIO,
        "meets_target": ratio is not None and ratio <= LOCAL_TARGET_RATIO,
        "runs_s": runs,
        "failures": failures,
    }


def fargate_scatter() -> Result:
    """The aws_fargate backend under Fargate's launch limits (``bench/fargate_scatter.py``, in
    its own process so its peak memory is its own)."""
    script = os.path.join(BENCH_DIR, "fargate_scatter.py")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIWDL")}
    env["PYTHONPATH"] = os.path.dirname(BENCH_DIR)
    _note("fargate_scatter: running (about a minute for 1000 tasks)")
    proc = subprocess.run(
        [sys.executable, script], capture_output=True, text=True, env=env, timeout=1800
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        tail = proc.stderr.strip().splitlines()[-5:]
        return {"scenario": "fargate_scatter", "failures": 1, "error": tail}
    result: Result = json.loads(lines[-1])
    return result


def _control_plane(name: str) -> Result:
    """Scenario ``name`` of ``bench/control_plane.py``, in its own process (moto's patches and
    miniwdl's import cost stay that scenario's); its JSON line. Its notes pass through to stderr.
    """
    script = os.path.join(BENCH_DIR, "control_plane.py")
    # no MINIWDL_* or AWS_* settings of this shell: the scenario sets up the stack's own
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MINIWDL", "AWS_"))}
    env["PYTHONPATH"] = os.path.dirname(BENCH_DIR)
    _note(f"{name}: running")
    try:
        proc = subprocess.run(
            [sys.executable, script, name],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            timeout=900,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"scenario": name, "failures": 1, "error": "timed out after 900 s"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"scenario": name, "failures": 1, "error": f"exit code {proc.returncode}"}
    result: Result = json.loads(lines[-1])
    return result


def submit() -> Result:
    """The WES submit path (POST /runs through the app against moto): AWS calls per submission
    by operation, latency, the idempotent repeat; target at most 4 calls."""
    return _control_plane("submit")


def events() -> Result:
    """The status Lambda fed ECS task events against moto: writes and calls per event, events
    per second, duplicates costing no write; target at most 1 conditional write per event."""
    return _control_plane("events")


def cold_import() -> Result:
    """``import app`` in a fresh interpreter, its slowest modules, and the submit path's miniwdl
    import; target under 500 ms."""
    return _control_plane("cold_import")


def input_placement() -> Result:
    """Placing a 1 GiB input (``bench/placement.py``)."""
    sys.path.insert(0, BENCH_DIR)
    from placement import input_placement as measure

    result: Result = measure()
    return result


def package_size() -> Result:
    """The Lambda package's zipped and unzipped size against Lambda's limits (or skipped)."""
    return _control_plane("package_size")


SCENARIOS: list[Callable[[], Result]] = [
    local_scatter,
    fargate_scatter,
    submit,
    events,
    cold_import,
    package_size,
    input_placement,
]


def _selected(names: list[str]) -> list[Callable[[], Result]]:
    """The scenarios named on the command line, else in ``BENCH_SCENARIOS``, else all."""
    if not names:
        names = os.environ.get("BENCH_SCENARIOS", "").replace(",", " ").split()
    if not names:
        return list(SCENARIOS)
    by_name = {scenario.__name__: scenario for scenario in SCENARIOS}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise SystemExit(
            f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(by_name)}"
        )
    return [by_name[name] for name in names]


def main(argv: list[str]) -> int:
    """Run the selected scenarios, print each one's JSON line; 1 if any run failed."""
    failed = False
    for scenario in _selected(argv):
        result = scenario()
        print(json.dumps(result), flush=True)
        failed = failed or bool(result.get("failures"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
