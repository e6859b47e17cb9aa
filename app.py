"""The Chalice app: thin routes and event handlers over ``chalicelib``."""

from __future__ import annotations

from chalice.app import Chalice, CloudWatchEvent

from chalicelib.deployment import control_plane_from_environment
from chalicelib.status import handle_ecs_event

app = Chalice(app_name="miniwdl-fargate", configure_logs=False)


@app.on_cw_event({"source": ["aws.ecs"], "detail-type": ["ECS Task State Change"]})
def on_ecs_task_state_change(event: CloudWatchEvent) -> None:
    """Record an ECS task's state change (version-conditional, duplicate-safe)."""
    handle_ecs_event(event.to_dict(), control_plane_from_environment())
