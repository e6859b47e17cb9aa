"""Performance scenarios of ``make bench``: each prints one JSON line to stdout.

Progress and notes go to stderr, so stdout stays machine-readable. The exit code is 0 when every
run succeeded, even if a target was missed (a scenario is a report, not a test), and 1 when any
run failed. A scenario is a function in ``SCENARIOS`` returning its JSON object; add new ones
there.

    python bench/run.py [SCENARIO ...]   the named scenarios (default: all, in SCENARIOS order)

Scenarios: local_scatter and local_one_task (``bench/local_mode.py``), fargate_scatter,
fargate_scale (one run of 10,000 tasks, ``bench/fargate_scale.py``: about ten minutes), the
control plane's (``bench/control_plane.py``): submit, events, cold_import, package_size;
input_placement (``bench/placement.py``), launch_budget_options (``bench/scale.py``) and
shim_overhead (``bench/shim.py``). Each result carries ``machine``: the CPU count, the load
averages and how busy the machine was just before it ran (``bench/machine.py``); a result taken
on a busy machine says ``"loaded": true``.

    BENCH_SCENARIOS  scenarios to run when none are named (comma- or space-separated)
    BENCH_TASKS      tasks per scatter (default 200)
    BENCH_REPS       timed repetitions per command (default 5; twice that for one task)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
BIN_DIR = os.path.dirname(sys.executable)  # the CLIs are installed beside this Python
Result = dict[str, Any]


def _env_int(name: str, default: int) -> int:
    """A positive integer setting from the environment."""
    value = int(os.environ.get(name, default))
    if value < 1:
        raise SystemExit(f"{name} must be at least 1, not {value}")
    return value


def _note(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def local_scatter() -> Result:
    """A trivial scatter through the local mode versus plain miniwdl (``bench/local_mode.py``):
    the control plane's per-task cost; target at most 1.1x."""
    from local_mode import local_scatter as measure

    return measure(BIN_DIR, _env_int("BENCH_TASKS", 200), _env_int("BENCH_REPS", 5))


def local_one_task() -> Result:
    """A one-task workflow through the local mode versus plain miniwdl: a run's fixed cost;
    target at most 0.25 s more."""
    from local_mode import local_one_task as measure

    return measure(BIN_DIR, _env_int("BENCH_REPS", 5) * 2)


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


def fargate_scale() -> Result:
    """One run of 10,000 tasks through the aws_fargate backend, the launch budget and the status
    handler, the harness playing its sleeping tasks (``bench/fargate_scale.py``, in its own
    process): launches/s, peak RSS, DescribeTasks, store reads while tasks wait."""
    script = os.path.join(BENCH_DIR, "fargate_scale.py")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIWDL")}
    env["PYTHONPATH"] = os.path.dirname(BENCH_DIR)
    _note("fargate_scale: running (about ten minutes for 10,000 tasks)")
    try:
        proc = subprocess.run(
            [sys.executable, script],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # miniwdl's log of 10,000 tasks
            text=True,
            env=env,
            timeout=2400,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"scenario": "fargate_scale", "failures": 1, "error": "timed out after 2400 s"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"scenario": "fargate_scale", "failures": 1, "error": f"exit {proc.returncode}"}
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


def launch_budget_options() -> Result:
    """Five runs at once sharing the account's RunTask rate (``bench/scale.py``): each pacing
    alone against the shared launch budget."""
    from scale import launch_budget_options as measure

    return measure()


def shim_overhead() -> Result:
    """What the platform shim adds to a trivial task (``bench/shim.py``)."""
    from shim import shim_overhead as measure

    return measure()


def package_size() -> Result:
    """The Lambda package's zipped and unzipped size against Lambda's limits (or skipped)."""
    return _control_plane("package_size")


SCENARIOS: list[Callable[[], Result]] = [
    local_scatter,
    local_one_task,
    fargate_scatter,
    fargate_scale,
    submit,
    events,
    cold_import,
    package_size,
    input_placement,
    launch_budget_options,
    shim_overhead,
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
    sys.path.insert(0, BENCH_DIR)
    from machine import conditions

    for scenario in _selected(argv):
        machine = conditions()
        result = scenario()
        result["machine"] = machine
        if machine["loaded"]:
            _note(f"{scenario.__name__}: the machine was busy before it ran: {machine}")
        print(json.dumps(result), flush=True)
        failed = failed or bool(result.get("failures"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
