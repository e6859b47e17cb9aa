"""Helpers for tests that drive the local mode through its CLI, as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.ecs_events import ENV_RUN_ID
from chalicelib.local_mode import LocalHome

REPO = Path(__file__).resolve().parent.parent
WDL_DIR = Path(__file__).resolve().parent / "wdl"


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class LocalMode:
    """A local-mode home in a temporary directory and a way to run the CLI against it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = LocalHome(str(root / "home"))

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MINIWDL")}
        env["MINIWDL_FARGATE_HOME"] = self.home.root
        env["PYTHONPATH"] = str(REPO)
        env.update(extra)
        return env

    def cli(self, *args: str, timeout: float = 120, **env: str) -> Result:
        proc = subprocess.run(
            [sys.executable, "-m", "chalicelib.cli", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env(**env),
            cwd=self.root,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def store(self) -> Any:
        return self.home.control_plane().store

    def wait_for(self, predicate: Any, timeout: float = 30.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.1)


def orchestrator_pid(home_root: str, orchestrator_arn: str) -> int:
    """The pid of a run's orchestrator, from its agent's state file (forked warm, it runs under
    its parent's command line)."""
    task_id = orchestrator_arn.rsplit("/", 1)[-1]
    state = json.loads((Path(home_root) / "tasks" / f"{task_id}.json").read_text())
    pid = state["pid"]
    assert isinstance(pid, int)
    return pid


def leftover_processes(home_root: str, run_id: str = "") -> list[str]:
    """Live processes started for a local-mode home (agents, orchestrators) or for a run (task
    processes), found by their environment or command line."""
    found = []
    markers = {f"MINIWDL_FARGATE_HOME={home_root}".encode()}
    if run_id:
        markers.add(f"{ENV_RUN_ID}={run_id}".encode())
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                    continue
            with open(f"/proc/{pid}/environ", "rb") as f:
                environ = f.read().split(b"\0")
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ")
        except OSError:
            continue
        if markers.intersection(environ) or home_root.encode() in cmdline:
            found.append(f"{pid}: {cmdline.decode(errors='replace')}")
    return found
