"""Exactly one orchestrator per run, whatever the timing (issue 10): the local launcher honours
``clientToken`` as ECS does, and every launch of a run's orchestrator sends the same token."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from wes_forms import multipart

from chalicelib import api, local_launcher
from chalicelib.deployment import AwsDeployment, submitter_from_environment
from chalicelib.ecs_events import ROLE_ORCHESTRATOR, ROLE_TASK
from chalicelib.launcher import TaskSpec
from chalicelib.local_launcher import LocalLauncher
from chalicelib.states import State

REPO = Path(__file__).resolve().parent.parent


def test_a_repeated_client_token_starts_nothing(tmp_path: Path) -> None:
    events: list[dict[str, Any]] = []
    launcher = LocalLauncher(str(tmp_path / "tasks"), events.append)
    marker = tmp_path / "starts"
    spec = TaskSpec(
        run_id="run-1",
        role=ROLE_TASK,
        command=["sh", "-c", f"echo x >> {marker}"],
        client_token="token-1",
    )
    arns = {launcher.run_task(spec) for _ in range(3)}
    assert len(arns) == 1
    other = launcher.run_task(TaskSpec(**{**spec.__dict__, "client_token": "token-2"}))
    assert other not in arns
    deadline = time.monotonic() + 10
    while sum(e["detail"]["lastStatus"] == "STOPPED" for e in events) < 2:
        assert time.monotonic() < deadline, events
        time.sleep(0.05)
    assert marker.read_text() == "x\nx\n"  # one process per token


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in list(os.environ):
        if key.startswith("MINIWDL"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("MINIWDL_FARGATE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_concurrent_posts_with_one_idempotency_key_start_one_orchestrator(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    agents: list[list[str]] = []
    popen = subprocess.Popen

    def counting_popen(argv: list[str], **kwargs: Any) -> Any:
        if "chalicelib.local_agent" in argv:
            agents.append(argv)
        return popen(argv, **kwargs)

    monkeypatch.setattr(local_launcher.subprocess, "Popen", counting_popen)
    headers, body = multipart(
        {"workflow_url": "hello.wdl"}, {"hello.wdl": (REPO / "examples" / "hello.wdl").read_bytes()}
    )
    start = threading.Barrier(4)
    run_ids: list[str] = []

    def post() -> None:
        start.wait()
        reply = api.submit_run(
            submitter_from_environment(), headers["Content-Type"], body, "one-key"
        )
        run_ids.append(reply["run_id"])

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(run_ids) == 4 and len(set(run_ids)) == 1
    store = submitter_from_environment().plane.store
    deadline = time.monotonic() + 60
    while (run := store.get_run(run_ids[0])) is None or run.state not in (
        State.COMPLETE,
        State.SYSTEM_ERROR,
        State.EXECUTOR_ERROR,
    ):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert run.state == State.COMPLETE, run.error
    assert len(agents) == 1


def test_every_aws_launch_of_a_run_sends_the_same_client_token() -> None:
    deployment = AwsDeployment(
        table="t",
        bus="b",
        cluster="c",
        bucket="bucket",
        orchestrator_task_definition="arn:aws:ecs:us-east-1:1:task-definition/orch:1",
        subnets=("subnet-1",),
    )
    first, again = deployment.orchestrator_spec("run-1"), deployment.orchestrator_spec("run-1")
    assert first.role == ROLE_ORCHESTRATOR
    assert first.client_token == again.client_token == "run-1"
    assert deployment.orchestrator_spec("run-2").client_token == "run-2"
