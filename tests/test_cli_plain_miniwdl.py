"""Plain ``miniwdl run`` with the ``aws_fargate`` backend on a machine that mounts the EFS (how
miniwdl-aws is used interactively), as docs/cli.md tells it step by step: the settings are the
deployment's, taken from the environment, so its tasks land in the deployment's store and are
announced on its bus. Run against the emulated stack, each task on the fake Fargate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_stack import ORCHESTRATOR_FAMILY, REPO, Stack

from chalicelib import backend_fargate, fargate
from chalicelib.backend_fargate import FargateContainer
from chalicelib.states import State

pytestmark = pytest.mark.e2e


def deployment_settings(stack: Stack) -> dict[str, str]:
    """What the docs' step 3 exports: the orchestrator task definition's miniwdl settings, and
    the deployment's table, bus and cluster as ``[miniwdl_fargate]`` options."""
    definition = stack.aws["ecs"].describe_task_definition(taskDefinition=ORCHESTRATOR_FAMILY)
    env = {
        e["name"]: e["value"]
        for e in definition["taskDefinition"]["containerDefinitions"][0]["environment"]
    }
    settings = {k: v for k, v in env.items() if k.startswith("MINIWDL__")}
    for key in ("TABLE", "BUS", "CLUSTER"):
        settings[f"MINIWDL__MINIWDL_FARGATE__{key}"] = env[f"MINIWDL_FARGATE_{key}"]
    return settings


def test_plain_miniwdl_run_shares_the_deployments_store_and_notifications(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from WDL import CLI

    settings = deployment_settings(stack)
    assert settings["MINIWDL__SCHEDULER__CONTAINER_BACKEND"] == "aws_fargate"
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MINIWDL__MINIWDL_FARGATE__RUN_ID", "interactive-1")
    monkeypatch.setenv("MINIWDL__CALL_CACHE__GET", "false")
    # the harness runs each task's own command (the stack's harness wraps orchestrators)
    monkeypatch.setattr(stack.harness, "wrap_command", lambda task, command: command)
    # this process's ECS client is the one the fake Fargate harness answers
    ecs = fargate.new_ecs_client("us-east-1")
    monkeypatch.setattr(backend_fargate, "new_ecs_client", lambda region, **kw: ecs)
    monkeypatch.setattr(FargateContainer, "_runtime", None)
    monkeypatch.setattr(FargateContainer, "_global_init", False, raising=False)

    out = tmp_path / "out.json"
    run_dir = stack.efs_root / "interactive"  # step 4: the run directory on the EFS
    argv = ["run", str(REPO / "examples" / "hello.wdl"), "--dir", f"{run_dir}/.", "-o", str(out)]
    try:
        CLI.main(argv)
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    result = json.loads(out.read_text())
    assert code == 0, result
    assert result["outputs"]["hello.count"] == 3
    assert Path(result["outputs"]["hello.greetings"]).read_text().startswith("Hello, Ada!")

    tasks = stack.store.list_tasks("interactive-1")
    assert len(tasks) == 4 and all(t.state == State.COMPLETE for t in tasks)
    announced = [
        n
        for n in stack.notifications()
        if n.get("detail-type") == "WDL Task State Change"
        and n.get("detail", {}).get("run_id") == "interactive-1"
    ]
    assert {n["detail"].get("state") for n in announced} >= {"COMPLETE"}
    assert len(stack.harness.tasks) == 4  # one Fargate task per call, no orchestrator
