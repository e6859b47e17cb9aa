"""One builder of ECS "Task State Change" events for the tests, as this project's launchers tag
them (``startedBy`` and the identity environment)."""

from __future__ import annotations

from typing import Any

from chalicelib import ecs_events


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
    env = {ecs_events.ENV_RUN_ID: run_id}
    if role == ecs_events.ROLE_TASK:
        env[ecs_events.ENV_CALL_ID] = call_id
        env[ecs_events.ENV_ATTEMPT] = str(attempt)
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
        environment=env,
        exit_code=exit_code,
        stop_code=stop_code,
        stopped_reason=stopped_reason,
        timestamps=timestamps,
    )
