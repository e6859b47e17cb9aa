"""The local mode end to end: real workflows through the CLI, orchestrator, local backend, events
and store, checked from the outside as a user would (exit codes, outputs, files, processes)."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from local_mode import REPO, WDL_DIR, LocalMode, leftover_processes, orchestrator_pid

from chalicelib.states import State

pytestmark = pytest.mark.e2e


@pytest.fixture
def local(tmp_path: Path) -> LocalMode:
    return LocalMode(tmp_path)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "one.txt").write_text("one\n")
    (data / "sub" / "two.txt").write_text("two\n")
    (data / "sub" / "three.txt").write_text("three\n")
    return data


def test_hello_scatter_gather_with_file_output(local: LocalMode) -> None:
    result = local.cli("run", str(REPO / "examples" / "hello.wdl"))
    assert result.code == 0, result.err
    outputs = result.json()["outputs"]
    assert outputs["hello.count"] == 3
    greetings = Path(outputs["hello.greetings"])
    assert greetings.read_text().splitlines() == ["Hello, Ada!", "Hello, Grace!", "Hello, Barbara!"]
    assert str(greetings).startswith(local.home.objects_root)

    store = local.store()
    (run,) = store.list_runs()[0]
    assert run.state == State.COMPLETE and run.exit_code == 0
    tasks = store.list_tasks(run.run_id)
    assert sorted(t.call_id for t in tasks) == [
        "call-gather",
        "call-say_hello-0-Ada",
        "call-say_hello-1-Grace",
        "call-say_hello-2-Barbara",
    ]
    assert all(t.state == State.COMPLETE and t.exit_code == 0 and t.version == 3 for t in tasks)

    lines = [
        json.loads(line) for line in Path(local.home.notifications_path).read_text().splitlines()
    ]
    run_states = [n["detail"]["state"] for n in lines if n["detail-type"] == "WDL Run State Change"]
    assert run_states == ["QUEUED", "INITIALIZING", "RUNNING", "COMPLETE"]
    task_notes = [n for n in lines if n["detail-type"] == "WDL Task State Change"]
    assert {n["detail"]["state"] for n in task_notes} == {"INITIALIZING", "RUNNING", "COMPLETE"}
    assert len(task_notes) == 3 * len(tasks)


def test_wdl_1_0_scatter_over_files(local: LocalMode, tmp_path: Path) -> None:
    files = []
    for i, text in enumerate(["a b c", "d e", "f"]):
        path = tmp_path / f"f{i}.txt"
        path.write_text(text + "\n")
        files.append(str(path))
    inputs = tmp_path / "inputs.json"
    inputs.write_text(json.dumps({"v1_0.files": files}))
    result = local.cli("run", str(WDL_DIR / "v1_0.wdl"), "-i", str(inputs))
    assert result.code == 0, result.err
    assert result.json()["outputs"]["v1_0.words"] == [3, 2, 1]


def test_wdl_1_1_scatter_and_task_runtime_env(local: LocalMode, data_dir: Path) -> None:
    files = [str(p) for p in sorted(data_dir.rglob("*.txt"))]
    result = local.cli(
        "run",
        str(WDL_DIR / "v1_1.wdl"),
        *[f"files={f}" for f in files],
        MINIWDL__TASK_RUNTIME__ENV=json.dumps({"MESSAGE": "from the config"}),
    )
    assert result.code == 0, result.err
    outputs = result.json()["outputs"]
    assert outputs["v1_1.names"] == ["one.txt", "three.txt", "two.txt"]
    run = local.store().list_runs()[0][0]
    first = next(t for t in local.store().list_tasks(run.run_id) if t.call_id.endswith("-0"))
    assert Path(first.stderr or "").read_text().strip() == "shard 0: from the config"


def test_wdl_1_2_env_declarations_and_directory_outputs(local: LocalMode, data_dir: Path) -> None:
    result = local.cli(
        "run",
        str(WDL_DIR / "v1_2.wdl"),
        f"data={data_dir}",
        MINIWDL__TASK_RUNTIME__ENV=json.dumps({"FROM_CONFIG": "!"}),
    )
    assert result.code == 0, result.err
    outputs = result.json()["outputs"]
    assert outputs["v1_2.greetings"] == ["Hi a !", "Hi b !"]
    for directory in outputs["v1_2.dirs"]:
        assert Path(directory, "files").read_text().strip() == "3"
    log = Path(local.home.logs_dir).glob("*.orchestrator.log")
    text = next(log).read_text()
    assert text.count("ignores runtime.docker") == 1


def test_miniwdl_run_self_test_workflow_with_local_inputs(
    local: LocalMode, tmp_path: Path, data_dir: Path
) -> None:
    self_test = tmp_path / "self_test"
    _write_self_test_wdl(self_test)
    remote = tmp_path / "alyssa_ben.txt"
    remote.write_text("# names\nAlyssa P. Hacker\nBen Bitdiddle\n")
    ref = tmp_path / "ref"
    ref.mkdir()
    (ref / "a").write_text("a")
    (ref / "b").write_text("b")
    result = local.cli(
        "run", str(self_test / "test.wdl"), f"remote_names={remote}", f"reference_data={ref}"
    )
    assert result.code == 0, result.err
    outputs = result.json()["outputs"]
    names = ["Alyssa P. Hacker", "Ben Bitdiddle"]
    assert outputs["hello_caller.messages"] == [f"Hello, {n}!" for n in names]
    assert outputs["hello_caller.reference_file_counts"] == [2, 2]
    assert outputs["hello_caller.remote_names_lines"] == 3
    for name, directory in zip(names, outputs["hello_caller.message_directories"], strict=True):
        assert Path(directory, "message.txt").read_text().strip() == f"Hello, {name}!"


def test_failing_task_gives_executor_error_and_stderr_tail(local: LocalMode) -> None:
    result = local.cli("run", str(WDL_DIR / "fails.wdl"))
    assert result.code == 3
    assert "EXECUTOR_ERROR" in result.err
    assert "call-fail failed: its command exited with status 3" in result.err
    assert "about to fail on purpose" in result.err  # the task's stderr tail
    assert result.out == ""
    run = local.store().list_runs()[0][0]
    assert run.state == State.EXECUTOR_ERROR
    status = local.cli("status", run.run_id).json()
    assert status["state"] == "EXECUTOR_ERROR"
    assert status["tasks"]["failed"] == 1
    outputs = local.cli("outputs", run.run_id)
    assert outputs.code == 2 and "only a COMPLETE run has outputs" in outputs.err


def test_max_retries_and_return_codes(local: LocalMode, tmp_path: Path) -> None:
    marker = tmp_path / "first-attempt-done"
    result = local.cli("run", str(WDL_DIR / "retries.wdl"), f"marker={marker}")
    assert result.code == 0, result.err
    assert result.json()["outputs"] == {"retries.attempts": 2, "retries.tolerated_code": 3}
    run = local.store().list_runs()[0][0]
    tasks = local.store().list_tasks(run.run_id)
    flaky = sorted((t for t in tasks if "flaky" in t.call_id), key=lambda t: t.attempt)
    assert [(t.attempt, t.state) for t in flaky] == [
        (1, State.EXECUTOR_ERROR),
        (2, State.COMPLETE),
    ]
    tolerated = next(t for t in tasks if "tolerated" in t.call_id)
    assert (tolerated.exit_code, tolerated.state) == (3, State.COMPLETE)
    counts = local.cli("status", run.run_id).json()["tasks"]
    assert counts == {"queued": 0, "running": 0, "done": 2, "failed": 0}


def test_tasks_never_reserve_more_cpu_than_the_host_has(local: LocalMode, tmp_path: Path) -> None:
    timeline = tmp_path / "timeline"
    result = local.cli(
        "run", str(WDL_DIR / "greedy.wdl"), f"log={timeline}", f"cpu={os.cpu_count()}"
    )
    assert result.code == 0, result.err
    spans: dict[str, list[float]] = {}
    for line in timeline.read_text().splitlines():
        task, stamp = line.split()
        spans.setdefault(task, []).append(float(stamp))
    intervals = sorted(spans.values())
    assert len(intervals) == 3
    for (_, end), (start, _) in itertools.pairwise(intervals):
        assert start >= end, f"tasks overlapped: {intervals}"


def test_cancel_stops_everything(local: LocalMode) -> None:
    submitted = local.cli("submit", str(WDL_DIR / "slow.wdl"))
    assert submitted.code == 0, submitted.err
    run_id = submitted.out.strip()
    store = local.store()
    local.wait_for(
        lambda: sum(t.state == State.RUNNING for t in store.list_tasks(run_id)) >= 2,
        what="two running tasks",
    )
    assert leftover_processes(local.home.root, run_id)
    cancel = local.cli("cancel", run_id)
    assert cancel.code == 0, cancel.err
    assert cancel.out.strip() == f"run {run_id} CANCELED"
    local.wait_for(
        lambda: not leftover_processes(local.home.root, run_id), timeout=15, what="no process"
    )
    run = store.get_run(run_id)
    assert run is not None and run.state == State.CANCELED
    assert all(t.state == State.CANCELED for t in store.list_tasks(run_id))
    again = local.cli("cancel", run_id)
    assert again.code == 2 and "already ended CANCELED" in again.err


def test_run_history_survives_and_lists_by_state(local: LocalMode) -> None:
    ok = local.cli("run", str(REPO / "examples" / "hello.wdl"))
    failed = local.cli("run", str(WDL_DIR / "fails.wdl"))
    assert (ok.code, failed.code) == (0, 3)
    listing = local.cli("list")  # a new process reading the same home
    rows = listing.out.splitlines()[1:]
    assert [row.split()[1] for row in rows] == ["EXECUTOR_ERROR", "COMPLETE"]
    only_complete = local.cli("list", "--state", "complete").out.splitlines()[1:]
    assert len(only_complete) == 1 and "hello" in only_complete[0]
    bad = local.cli("list", "--state", "DONE")
    assert bad.code == 2 and bad.err.count("\n") == 1 and "unknown state" in bad.err
    run_id = rows[1].split()[0]
    by_prefix = local.cli("status", run_id[:-3]).json()
    assert by_prefix["run_id"] == run_id


def test_logs_and_outputs_commands(local: LocalMode) -> None:
    result = local.cli("run", str(REPO / "examples" / "hello.wdl"))
    run_id = result.json()["run_id"]
    log = local.cli("logs", run_id)
    assert log.code == 0 and "workflow start" in log.out
    stdout = local.cli("logs", run_id, "--task", "call-say_hello-1", "--stdout")
    assert stdout.out.strip() == "Hello, Grace!"
    missing = local.cli("logs", run_id, "--task", "call-nope")
    assert missing.code == 2 and "call-say_hello-0" in missing.err
    outputs = local.cli("outputs", run_id)
    assert outputs.json() == result.json()["outputs"]
    assert local.cli("status", "no-such-run").code == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{wdl}/needs_input.wdl"], "missing required inputs for needs_input: who"),
        (["{wdl}/needs_input.wdl", "who=x", "times=many"], "input times should be Int"),
        (["{wdl}/needs_input.wdl", "who=x", "whom=y"], "No such input to needs_input: whom"),
        (["{tmp}/nope.wdl"], "WDL file not found"),
        (["{tmp}/broken.wdl"], "broken.wdl:4:1: Unexpected token"),
        (["{wdl}/needs_input.wdl", "-i", "{tmp}/missing.json"], "cannot read inputs file"),
        (["{wdl}/needs_input.wdl", "-i", "{tmp}"], "cannot read inputs file"),
        (["{wdl}/needs_input.wdl", "-i", "{tmp}/garbage.json"], "is not valid JSON"),
        (["{wdl}/needs_input.wdl", "-i", "{tmp}/typed.json"], "check JSON input"),
        (["{wdl}/needs_input.wdl", "who=x", "--tag", "novalue"], "--tag takes KEY=VALUE"),
    ],
)
def test_bad_requests_fail_in_one_line_and_start_nothing(
    local: LocalMode, tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "broken.wdl").write_text("version 1.0\nworkflow broken {\n  call\n}\n")
    (tmp_path / "garbage.json").write_text("{not json")
    (tmp_path / "typed.json").write_text(json.dumps({"needs_input.times": "many"}))
    filled = [a.format(wdl=WDL_DIR, tmp=tmp_path) for a in args]
    result = local.cli("submit", *filled)
    assert result.code == 2
    assert result.out == ""
    assert result.err.count("\n") == 1 and result.err.startswith("miniwdl-fargate: error: ")
    assert message in result.err
    assert local.store().list_runs()[0] == []
    assert not Path(local.home.objects_root).exists() or not any(
        Path(local.home.objects_root).rglob("*.json")
    )


def test_plain_miniwdl_run_with_local_backend(tmp_path: Path, data_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIWDL")}
    env.update(
        MINIWDL__SCHEDULER__CONTAINER_BACKEND="local",
        MINIWDL__TASK_RUNTIME__ENV=json.dumps({"FROM_CONFIG": "?"}),
        PYTHONPATH=str(REPO),
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "WDL",
            "run",
            str(WDL_DIR / "v1_2.wdl"),
            f"data={data_dir}",
            "--dir",
            str(tmp_path / "runs"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    outputs = json.loads(proc.stdout)["outputs"]
    assert outputs["v1_2.greetings"] == ["Hi a ?", "Hi b ?"]


def _write_self_test_wdl(directory: Path) -> None:
    """Have miniwdl write its own self-test workflow (it would then download its inputs)."""
    script = (
        "import WDL.CLI as c, sys\n"
        "class Stop(Exception): pass\n"
        "def stop(**kwargs): raise Stop()\n"
        "c.runner = stop\n"
        "c.atexit.register = lambda *a, **k: None\n"
        "try:\n"
        f"    c.run_self_test(dir={str(directory)!r}, as_me=False, cfg=None, log_json=False)\n"
        "except Stop:\n"
        "    pass\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, timeout=60)
    assert (directory / "test.wdl").is_file() and (directory / "names.txt").is_file()


def test_ctrl_c_during_run_cancels_it(local: LocalMode) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "chalicelib.cli", "run", str(WDL_DIR / "slow.wdl")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=local.env(),
        cwd=local.root,
    )
    store = local.store()

    def running() -> bool:
        runs = store.list_runs()[0]
        return bool(runs) and any(
            t.state == State.RUNNING for t in store.list_tasks(runs[0].run_id)
        )

    local.wait_for(running, what="a running task")
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    run = store.list_runs()[0][0]
    assert run.state == State.CANCELED
    assert f"run {run.run_id} CANCELED" in err
    local.wait_for(lambda: not leftover_processes(local.home.root, run.run_id), timeout=15)


def test_orchestrator_killed_makes_system_error_and_stops_its_tasks(local: LocalMode) -> None:
    run_id = local.cli("submit", str(WDL_DIR / "slow.wdl")).out.strip()
    store = local.store()
    local.wait_for(
        lambda: sum(t.state == State.RUNNING for t in store.list_tasks(run_id)) >= 2,
        what="two running tasks",
    )
    run = store.get_run(run_id)
    assert run is not None and run.orchestrator_arn
    orchestrator = orchestrator_pid(local.home.root, run.orchestrator_arn)
    os.kill(orchestrator, signal.SIGKILL)

    def ended() -> bool:
        run = store.get_run(run_id)
        return run is not None and run.state == State.SYSTEM_ERROR

    local.wait_for(ended, what="SYSTEM_ERROR")
    run = store.get_run(run_id)
    assert run is not None and "without reporting an outcome" in (run.error or {})["message"]
    local.wait_for(
        lambda: all(t.state == State.CANCELED for t in store.list_tasks(run_id)),
        timeout=20,
        what="its tasks reported stopped",
    )
    local.wait_for(lambda: not leftover_processes(local.home.root, run_id), timeout=20)


def test_configured_grace_period_kills_a_task_that_ignores_sigterm(local: LocalMode) -> None:
    grace = {"MINIWDL__MINIWDL_FARGATE__STOP_GRACE_SECONDS": "0.5"}
    run_id = local.cli("submit", str(WDL_DIR / "stubborn.wdl"), **grace).out.strip()
    store = local.store()
    local.wait_for(
        lambda: any(t.state == State.RUNNING for t in store.list_tasks(run_id)),
        what="the task running",
    )
    started = time.monotonic()
    cancel = local.cli("cancel", run_id)
    assert cancel.out.strip() == f"run {run_id} CANCELED", cancel.err
    assert time.monotonic() - started < 8  # the default grace alone would take 10 s
    (task,) = store.list_tasks(run_id)
    assert task.state == State.CANCELED and task.exit_code == 128 + signal.SIGKILL
    local.wait_for(lambda: not leftover_processes(local.home.root, run_id), timeout=10)
