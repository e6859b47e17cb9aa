"""Run the pinned WDL specification examples and judge their results.

Each example runs as its own subprocess - ``miniwdl-fargate run`` in the local mode (a fresh
``MINIWDL_FARGATE_HOME`` per example), or plain ``miniwdl run`` with the ``local`` container
backend as the baseline - in a fresh directory that holds a copy of the spec's test data, as both
openwdl/wdl-tests (which copies ``tests/data`` into the working directory) and miniwdl's own
``tests/spec_tests`` (which runs each example in a temporary directory holding the data) do; the
inputs JSON is written there too, so relative input paths resolve the same way whether a runner
takes them relative to the working directory or to the inputs file.

Outputs are judged as miniwdl's ``tests/spec_tests`` does: every expected output must be present
and equal, with ``File``/``Directory`` paths compared by basename and numbers within 1e-6; outputs
named in ``exclude_output`` are skipped; extra outputs are ignored. An example with ``fail`` passes
when the run fails; ``return_code`` (when not ``"*"``) is checked against the exit code of the
task's command, read from the local mode's store (plain miniwdl keeps its store in memory, so there
only the exit statuses it reports for failed commands are seen).

``python -m tests.wdl_spec.runner [--runner miniwdl-fargate|miniwdl] [--version 1.2] [NAME...]``
prints one line per example and a summary, and writes the results as JSON with ``--json FILE``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DATA = HERE / "data"  # one copy per version: DATA / "1.2" / "greetings.txt"
VERSIONS = ("1.1", "1.2")
RUNNERS = ("miniwdl-fargate", "miniwdl")  # the subprocess runners of this module
# every runner an expected failure can name: the two above and the aws_fargate sample
ALL_RUNNERS = (*RUNNERS, "aws_fargate")
EXPECTED_FAILURES = HERE / "expected_failures.json"
DEFAULT_TIMEOUT = 120.0


@dataclass
class Case:
    """One pinned example: where its files are and its normalized test config."""

    version: str
    name: str
    wdl: Path
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    config: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.version}/{self.name}"


@dataclass
class Outcome:
    """What happened when a runner ran one example, and whether that is what the spec says."""

    version: str
    name: str
    runner: str
    passed: bool
    reason: str
    exit_code: int | None
    seconds: float
    stderr_tail: str = ""

    @property
    def id(self) -> str:
        return f"{self.version}/{self.name}"


def load_cases(versions: Iterable[str] = VERSIONS) -> list[Case]:
    """Every pinned example of the given versions, sorted by version and name."""
    cases = []
    for version in versions:
        directory = HERE / version
        for wdl in sorted(directory.glob("*.wdl")):
            stem = wdl.name[: -len(".wdl")]

            def part(suffix: str, stem: str = stem, directory: Path = directory) -> Any:
                return json.loads((directory / f"{stem}.{suffix}.json").read_text())

            cases.append(
                Case(version, wdl.name, wdl, part("inputs"), part("outputs"), part("config"))
            )
    return cases


def load_expected_failures(path: Path = EXPECTED_FAILURES) -> dict[str, dict[str, Any]]:
    """``{"VERSION/NAME.wdl": {"category", "reason", "runners"?}}`` from expected_failures.json."""
    raw = json.loads(path.read_text())
    return {key: value for key, value in raw["expected_failures"].items()}


def expected_to_fail(entry: dict[str, Any] | None, runner: str) -> bool:
    """Whether an expected-failures entry applies to this runner (all runners by default)."""
    return entry is not None and runner in entry.get("runners", ALL_RUNNERS)


# ---- judging -------------------------------------------------------------------------------


def basenameize(value: Any) -> Any:
    """Absolute paths reduced to their basename, recursively (as miniwdl's spec_tests does)."""
    if isinstance(value, str) and value.startswith("/"):
        return os.path.basename(value.rstrip("/"))
    if isinstance(value, list):
        return [basenameize(v) for v in value]
    if isinstance(value, dict):
        return {k: basenameize(v) for k, v in value.items()}
    return value


def same(expected: Any, actual: Any) -> bool:
    """Deep equality with numbers compared within 1e-6 (booleans are not numbers here)."""
    numeric = (int, float)
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, numeric) and isinstance(actual, numeric):
        return math.isclose(expected, actual, rel_tol=1e-6, abs_tol=1e-6)
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(map(same, expected, actual))
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(
            same(v, actual[k]) for k, v in expected.items()
        )
    return bool(expected == actual)


def excluded(key: str, exclude: list[str]) -> bool:
    """``exclude_output`` names an output either fully (``wf.out``) or by its own name (``out``)."""
    return key in exclude or key.split(".", 1)[-1] in exclude


def output_mismatches(case: Case, actual: dict[str, Any]) -> list[str]:
    """The expected outputs that are missing or differ, as readable lines."""
    problems = []
    exclude = list(case.config.get("exclude_output", []))
    for key, want in case.outputs.items():
        if excluded(key, exclude):
            continue
        if key not in actual:
            problems.append(f"missing output {key} (got {sorted(actual)})")
            continue
        got = basenameize(actual[key])
        if not same(basenameize(want), got):
            problems.append(f"{key}: expected {json.dumps(want)}, got {json.dumps(actual[key])}")
    return problems


def task_exit_codes(home: Path) -> list[int]:
    """Exit codes of the task attempts recorded in a local-mode home's store, oldest first."""
    db = home / "state.sqlite3"
    if not db.exists():
        return []
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT item FROM tasks").fetchall()
    items = sorted((json.loads(r[0]) for r in rows), key=lambda t: t.get("created_at", ""))
    return [t["exit_code"] for t in items if t.get("exit_code") is not None]


def judge(
    case: Case,
    code: int,
    outputs: dict[str, Any] | None,
    exit_codes: list[int] | None,
    error: str,
) -> tuple[bool, str]:
    """Whether a finished run is what the example expects, and why not. ``exit_codes`` are the
    task commands' exit codes, or None when the runner does not let them be seen."""
    config = case.config
    if "extract_error" in config:
        # the example could not be read as written; it cannot pass as it stands
        return False, f"example is malformed: {config['extract_error']}"
    wanted_code = config.get("return_code", "*")
    if config.get("fail"):
        if code == 0:
            return False, "expected the run to fail, but it succeeded"
        if wanted_code != "*" and exit_codes is not None and wanted_code not in exit_codes:
            return False, f"failed, but no task exited {wanted_code} (task exits: {exit_codes})"
        return True, "failed as expected"
    if code != 0:
        return False, f"run failed (exit {code}): {error}"
    if outputs is None:
        return False, "run succeeded but printed no outputs JSON"
    if wanted_code != "*" and exit_codes is not None:
        codes = wanted_code if isinstance(wanted_code, list) else [wanted_code]
        if not any(c in exit_codes for c in codes):
            return False, f"expected a task to exit {wanted_code}, task exits: {exit_codes}"
    problems = output_mismatches(case, outputs)
    if problems:
        return False, "; ".join(problems)
    return True, "outputs match"


# ---- running -------------------------------------------------------------------------------


def prepare(case: Case, workdir: Path) -> Path:
    """Lay out a working directory: the spec's data in it and in ``data/`` (as wdl-tests'
    extractor copies it), and the inputs JSON; returns the inputs file."""
    workdir.mkdir(parents=True, exist_ok=True)
    data = DATA / case.version
    for item in data.iterdir():
        shutil.copy(item, workdir / item.name)
    shutil.copytree(data, workdir / "data", dirs_exist_ok=True)
    inputs = workdir / "inputs.json"
    inputs.write_text(json.dumps(case.inputs))
    return inputs


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any miniwdl configuration, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIWDL")}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _error_line(stderr: str) -> str:
    """The most telling lines of a failed run's stderr (miniwdl's error, else its last words)."""
    lines = [
        line.strip()
        for line in stderr.splitlines()
        if line.strip() and set(line.strip()) - {"^", "~", " "} and not _PROGRESS.match(line)
    ]
    errors = [line for line in lines if "rror" in line or "failed" in line or "exit" in line]
    picked = errors[-2:] if errors else lines[-3:]
    return " | ".join(picked)[:600]


_PROGRESS = re.compile(r"\[\d+:\d\d\] run ")  # miniwdl-fargate's live progress lines
_EXIT_STATUS = re.compile(r"exit[ _]status:? (\d+)")


def stderr_exit_codes(stderr: str) -> list[int]:
    """Task exit statuses that miniwdl reports in its error messages (``exit_status: 42``)."""
    return [int(m) for m in _EXIT_STATUS.findall(stderr)]


def bin_path(name: str) -> str:
    """A console script of this interpreter's environment (the project's .venv)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def run_case(case: Case, runner: str, root: Path, timeout: float = DEFAULT_TIMEOUT) -> Outcome:
    """Run one example with one runner in a fresh directory under ``root``."""
    workdir = root / runner / case.version / case.name[: -len(".wdl")]
    if workdir.exists():
        shutil.rmtree(workdir)
    inputs = prepare(case, workdir)
    home = workdir / "home"
    task = ["--task", str(case.config["target"])] if case.config.get("type") == "task" else []
    out_json = workdir / "outputs.json"
    if runner == "miniwdl-fargate":
        argv = [bin_path("miniwdl-fargate"), "run", str(case.wdl), "-i", str(inputs), *task]
        env = clean_env(MINIWDL_FARGATE_HOME=str(home))
    elif runner == "miniwdl":
        argv = [bin_path("miniwdl"), "run", str(case.wdl), "-i", str(inputs), *task]
        argv += ["--dir", f"{workdir / 'run'}/.", "-o", str(out_json)]
        env = clean_env(
            MINIWDL_FARGATE_HOME=str(home),
            MINIWDL__SCHEDULER__CONTAINER_BACKEND="local",
            MINIWDL__CALL_CACHE__GET="false",
            MINIWDL__CALL_CACHE__PUT="false",
        )
    else:
        raise ValueError(f"unknown runner {runner}")
    start = time.monotonic()
    try:
        proc = subprocess.run(
            argv, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as e:
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else e.stderr or ""
        return Outcome(
            case.version,
            case.name,
            runner,
            False,
            f"timed out after {timeout:.0f}s",
            None,
            time.monotonic() - start,
            _tail(err),
        )
    seconds = time.monotonic() - start
    outputs: dict[str, Any] | None = None
    try:
        if runner == "miniwdl-fargate" and proc.returncode == 0:
            outputs = json.loads(proc.stdout)["outputs"]
        elif runner == "miniwdl" and proc.returncode == 0:
            outputs = json.loads(out_json.read_text())["outputs"]
    except (ValueError, KeyError, OSError):
        outputs = None
    # Under plain miniwdl the local backend keeps its store in memory: only the exit statuses
    # that miniwdl reports for failed commands can be seen (None: not observable).
    exit_codes: list[int] | None = (
        task_exit_codes(home) if runner == "miniwdl-fargate" else stderr_exit_codes(proc.stderr)
    )
    if runner == "miniwdl" and not exit_codes:
        exit_codes = None
    passed, reason = judge(case, proc.returncode, outputs, exit_codes, _error_line(proc.stderr))
    return Outcome(
        case.version,
        case.name,
        runner,
        passed,
        reason,
        proc.returncode,
        seconds,
        "" if passed else _tail(proc.stderr),
    )


def run_all(
    cases: list[Case],
    runner: str,
    root: Path,
    workers: int = 2,
    timeout: float = DEFAULT_TIMEOUT,
    on_done: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Run every case with a small pool (the runs mostly wait on their subprocesses)."""

    def one(case: Case) -> Outcome:
        outcome = run_case(case, runner, root, timeout)
        if on_done is not None:
            on_done(outcome)
        return outcome

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, cases))


def summarize(outcomes: list[Outcome], expected: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Counts per version: passed, failed unexpectedly, expected failures, and expected failures
    that now pass (which should move off the list)."""
    summary: dict[str, Any] = {}
    for o in outcomes:
        s = summary.setdefault(
            o.version,
            {"examples": 0, "pass": 0, "fail": 0, "expected_failure": 0, "unexpected_pass": 0},
        )
        s["examples"] += 1
        listed = expected_to_fail(expected.get(o.id), o.runner)
        if o.passed and not listed:
            s["pass"] += 1
        elif o.passed:
            s["unexpected_pass"] += 1
        elif listed:
            s["expected_failure"] += 1
        else:
            s["fail"] += 1
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description="run the pinned WDL spec examples")
    parser.add_argument("names", nargs="*", help="only these examples (NAME.wdl or VERSION/NAME)")
    parser.add_argument("--runner", choices=RUNNERS, default="miniwdl-fargate")
    parser.add_argument("--version", action="append", choices=VERSIONS)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT)
    parser.add_argument("--keep", type=Path, help="run in this directory and keep it")
    parser.add_argument("--json", type=Path, help="write the outcomes here")
    args = parser.parse_args()
    cases = load_cases(args.version or VERSIONS)
    if args.names:
        cases = [c for c in cases if c.name in args.names or c.id in args.names]
    expected = load_expected_failures() if EXPECTED_FAILURES.exists() else {}

    def show(o: Outcome) -> None:
        listed = expected_to_fail(expected.get(o.id), o.runner)
        mark = ("XPASS" if listed else "pass") if o.passed else ("xfail" if listed else "FAIL")
        print(f"{mark:5} {o.id} ({o.seconds:.1f}s) {'' if o.passed else o.reason}", flush=True)

    root = args.keep or Path(tempfile.mkdtemp(prefix="wdl-spec-"))
    start = time.monotonic()
    try:
        outcomes = run_all(cases, args.runner, root, args.workers, args.timeout, show)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(summarize(outcomes, expected), indent=2))
    print(f"wall time {time.monotonic() - start:.0f}s for {len(cases)} examples")
    if args.json:
        args.json.write_text(json.dumps([asdict(o) for o in outcomes], indent=2))


if __name__ == "__main__":
    main()
