"""ECS "Task State Change" events for the tests: one builder, as this project's launchers tag
them (``startedBy`` and the identity environment), and AWS's own samples
(``tests/ecs_event_samples``), grafted with the same tags."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from chalicelib import ecs_events

SAMPLES = Path(__file__).resolve().parent / "ecs_event_samples"


def identity(
    role: str = ecs_events.ROLE_TASK,
    run_id: str = "run1",
    call_id: str = "call-hello",
    attempt: int = 1,
) -> dict[str, str]:
    """The container environment the launcher sets for a task of ``role``."""
    env = {ecs_events.ENV_RUN_ID: run_id}
    if role == ecs_events.ROLE_TASK:
        env[ecs_events.ENV_CALL_ID] = call_id
        env[ecs_events.ENV_ATTEMPT] = str(attempt)
    return env


def ecs_event(
    task_arn: str,
    version: int,
    last_status: str,
    *,
    role: str = ecs_events.ROLE_TASK,
    run_id: str = "run1",
    call_id: str = "call-hello",
    attempt: int = 1,
    exit_code: int | None = None,
    stop_code: str | None = None,
    stopped_reason: str | None = None,
    timestamps: dict[str, str] | None = None,
) -> dict[str, Any]:
    return ecs_events.task_state_change(
        task_arn=task_arn,
        cluster_arn="arn:aws:ecs:us-east-1:123456789012:cluster/cluster",
        task_definition_arn="arn:aws:ecs:us-east-1:123456789012:task-definition/t:1",
        started_by_value=ecs_events.started_by(role, run_id),
        group="family:t",
        version=version,
        last_status=last_status,
        desired_status="STOPPED" if last_status == "STOPPED" else "RUNNING",
        container_name="main",
        environment=identity(role, run_id, call_id, attempt),
        exit_code=exit_code,
        stop_code=stop_code,
        stopped_reason=stopped_reason,
        timestamps=timestamps,
    )


def sample(name: str) -> dict[str, Any]:
    """A fresh copy of ``tests/ecs_event_samples/<name>.json`` (see its README for sources)."""
    loaded: dict[str, Any] = json.loads((SAMPLES / f"{name}.json").read_text())
    return loaded


def sample_names() -> list[str]:
    """Every sample's name."""
    return sorted(path.stem for path in SAMPLES.glob("*.json"))


def graft(
    event: dict[str, Any],
    *,
    container: str,
    role: str = ecs_events.ROLE_TASK,
    run_id: str = "run1",
    call_id: str = "call-hello",
    **elided: Any,
) -> dict[str, Any]:
    """A copy of an AWS sample as if this project's launcher had started the task: our
    ``startedBy``, and our identity environment on the override of ``container`` (an override is
    added if the sample has none by that name). ``elided`` adds ``detail`` fields a published
    snippet left out; it never replaces one the sample has. Everything else stays as AWS sent it.
    """
    grafted = copy.deepcopy(event)
    detail = grafted["detail"]
    replaced = sorted(set(elided) & set(detail))
    assert not replaced, f"graft only adds elided fields; the sample has {replaced}"
    detail.update(elided)
    detail["startedBy"] = ecs_events.started_by(role, run_id)
    environment = [{"name": k, "value": v} for k, v in identity(role, run_id, call_id).items()]
    overrides = detail.setdefault("overrides", {}).setdefault("containerOverrides", [])
    ours = next((o for o in overrides if o.get("name") == container), None)
    if ours is None:
        overrides.append({"name": container, "environment": environment})
    else:
        ours["environment"] = environment
    return grafted
