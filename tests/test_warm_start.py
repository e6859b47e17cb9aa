"""Warm starts: the agent and the orchestrator are forked from a process that already imported
miniwdl, and behave as the exec'd programs would.

Each scenario runs in a fresh interpreter (``_script``), so that it is single-threaded (forks
are refused beside other threads) whatever else this test session runs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil
from local_mode import REPO

from chalicelib import warm_start
from chalicelib.local_mode import LocalHome


def _script(code: str, tmp_path: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop(warm_start.ENV_WARM_START, None)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=timeout,
    )


def _until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_only_this_packages_programs_run_by_this_python_are_forked() -> None:
    assert warm_start.program_module([sys.executable, "-m", "chalicelib.orchestrator", "r"])
    assert warm_start.program_module([sys.executable, "-m", "chalicelib.local_agent"])
    assert warm_start.program_module(["/usr/bin/python3", "-m", "chalicelib.orchestrator"]) is None
    assert warm_start.program_module([sys.executable, "-m", "json.tool"]) is None
    assert warm_start.program_module([sys.executable, "-m", "chalicelib.x.y"]) is None
    assert warm_start.program_module([sys.executable, "-m", "chalicelib.a;b"]) is None
    assert warm_start.program_module(["sh", "-c", "true"]) is None


def test_no_fork_beside_another_thread_or_when_switched_off(monkeypatch) -> None:
    monkeypatch.delenv(warm_start.ENV_WARM_START, raising=False)
    release = threading.Event()
    thread = threading.Thread(target=release.wait)
    thread.start()
    try:
        assert not warm_start.can_fork()
    finally:
        release.set()
        thread.join()
    monkeypatch.setenv(warm_start.ENV_WARM_START, "0")
    assert not warm_start.can_fork()


def test_a_forked_program_runs_only_once_released_with_its_own_stdio_env_and_exit_code(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out.log"
    proc = _script(
        f"""
        import os, sys, time
        from chalicelib import warm_start
        assert warm_start.can_fork()
        print("parent buffered text", end="")  # must not reach the child's output
        child = warm_start.spawn(
            [sys.executable, "-m", "chalicelib.local_agent", "only-one-arg"],
            env={{"MARKER": "x"}}, cwd="/", output={str(out)!r},
        )
        time.sleep(0.3)
        before = open({str(out)!r}).read()
        assert os.getpgid(child.pid) == child.pid and os.getsid(child.pid) == child.pid
        child.release()
        print("|", before == "", child.wait())
        """,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "parent buffered text| True 2"  # nothing ran before release
    assert out.read_text().startswith("usage: python -m chalicelib.local_agent")


def test_a_forked_program_whose_parent_dies_before_releasing_it_never_runs(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out.log"
    proc = _script(
        f"""
        import os, sys
        from chalicelib import warm_start
        child = warm_start.spawn(
            [sys.executable, "-m", "chalicelib.local_agent", "x"], env={{}}, output={str(out)!r}
        )
        print(child.pid, flush=True)
        os._exit(0)
        """,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    pid = int(proc.stdout)
    _until(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie")
    assert out.read_text() == ""


def test_an_agent_forked_detached_outlives_its_parent_and_records_its_own_identity(
    tmp_path: Path,
) -> None:
    """The detached agent and its warm orchestrator-like task: the SQLite store opened before
    the forks keeps working in every process, and each records its own start time (the
    cached one of its parent would make it look dead to the others)."""
    home = tmp_path / "home"
    proc = _script(
        f"""
        import sys
        from chalicelib import ecs_events
        from chalicelib.launcher import TaskSpec
        from chalicelib.local_mode import ENV_HOME, LocalHome
        from chalicelib.records import RunRecord, utc_now
        from chalicelib.states import State
        home = LocalHome({str(home)!r})
        plane = home.control_plane(detach=True)
        now = utc_now()
        run = RunRecord(run_id="r1", state=State.QUEUED, created_at=now, updated_at=now,
                        workflow_name="w", workflow_key="k", inputs_key="i")
        plane.store.create_run(run)
        spec = TaskSpec(
            run_id="r1", role=ecs_events.ROLE_ORCHESTRATOR,
            command=[sys.executable, "-m", "chalicelib.local_agent", "bad"],
            environment={{ENV_HOME: home.root, ecs_events.ENV_RUN_ID: "r1"}},
            log_path={str(tmp_path / "orchestrator.log")!r},
        )
        arn = plane.launcher.run_task(spec)
        print(arn)
        print(plane.store.get_run("r1").state.value)  # the parent's connection still works
        """,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    arn, state = proc.stdout.split()
    assert state in ("QUEUED", "INITIALIZING", "SYSTEM_ERROR")
    store = LocalHome(str(home)).control_plane().store

    def ended() -> bool:
        run = store.get_run("r1")
        return run is not None and run.state.value == "SYSTEM_ERROR"

    _until(ended)
    run = store.get_run("r1")
    assert run is not None and run.orchestrator_arn == arn
    assert run.exit_code == 2  # the forked "orchestrator" (the agent's usage error)
    assert (tmp_path / "orchestrator.log").read_text().startswith("usage:")


def test_the_state_of_a_forked_agent_names_its_own_process(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ready = tmp_path / "ready"
    proc = _script(
        f"""
        from chalicelib import ecs_events
        from chalicelib.launcher import TaskSpec
        from chalicelib.local_launcher import LocalLauncher
        from chalicelib.local_launcher import _own_start_ticks
        from chalicelib.local_mode import ENV_HOME, LocalHome
        _own_start_ticks()  # cached here, as the agent has when it forks the orchestrator
        home = LocalHome({str(home)!r})
        launcher = LocalLauncher(home.tasks_dir, lambda e: None, detach=True)
        spec = TaskSpec(
            run_id="r2", role=ecs_events.ROLE_TASK,
            command=["sh", "-c", "touch {ready}; sleep 60"],
            environment={{ENV_HOME: home.root, ecs_events.ENV_RUN_ID: "r2"}},
        )
        print(launcher.run_task(spec))
        """,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    _until(ready.exists)
    task_id = proc.stdout.strip().rsplit("/", 1)[-1]
    state = json.loads((home / "tasks" / f"{task_id}.json").read_text())
    agent = psutil.Process(state["watcher_pid"])
    assert abs(agent.create_time() - state["watcher_ticks"]) < 0.01
    assert agent.name() == "local_agent"
    os.killpg(state["pid"], signal.SIGKILL)
    _until(lambda: not agent.is_running() or agent.status() == "zombie")


def test_cached_start_times_are_a_forked_childs_own() -> None:
    code = """
import os, psutil, time
from chalicelib.host_resources import _own_start
from chalicelib.local_launcher import _own_start_ticks
time.sleep(0.05)  # later than the start of this process, by more than a clock tick
_own_start(), _own_start_ticks()
pid = os.fork()
if pid == 0:
    me = psutil.Process().create_time()
    os._exit(0 if abs(_own_start() - me) < 0.01 and abs(_own_start_ticks() - me) < 0.01 else 1)
_, status = os.waitpid(pid, 0)
raise SystemExit(os.waitstatus_to_exitcode(status))
"""
    proc = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60
    )
    assert proc.returncode == 0
