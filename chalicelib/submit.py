"""Submit a validated run: store its request, record it QUEUED, launch its orchestrator.

Order matters so that nothing is half-started: the request objects are written before the run
is recorded, and the run is recorded before its orchestrator is launched. A launch that fails
leaves the run SYSTEM_ERROR with the reason, never QUEUED forever.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime

from .launcher import LaunchError, TaskSpec
from .notifications import run_notification
from .objects import ObjectStore, request_key
from .records import RunRecord, utc_now
from .states import State
from .status import ControlPlane, change_run
from .transitions import record_launch_failure, record_orchestrator
from .validation import ValidatedRequest

WORKFLOW_OBJECT = "workflow.zip"
INPUTS_OBJECT = "inputs.json"
REQUEST_OBJECT = "request.json"


class SubmitError(RuntimeError):
    """The run was recorded but its orchestrator could not be launched."""

    def __init__(self, run_id: str, reason: str) -> None:
        super().__init__(f"run {run_id} could not start: {reason}")
        self.run_id = run_id


def new_run_id() -> str:
    """A run id that sorts by submission time and is unique without coordination."""
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(4)


def submit(
    request: ValidatedRequest,
    *,
    plane: ControlPlane,
    objects: ObjectStore,
    orchestrator_spec: Callable[[str], TaskSpec],
    tags: dict[str, str] | None = None,
) -> RunRecord:
    """Record the run and launch its orchestrator; returns the run as recorded."""
    run_id = new_run_id()
    now = utc_now()
    workflow_key = request_key(run_id, WORKFLOW_OBJECT)
    inputs_key = request_key(run_id, INPUTS_OBJECT)
    summary = {
        "workflow_name": request.workflow_name,
        "wdl_path": request.wdl_path,
        "task": request.task,
        "tags": tags or {},
        "submitted_at": now,
    }
    objects.put_bytes(workflow_key, request.bundle)
    objects.put_bytes(inputs_key, json.dumps(request.inputs, indent=2).encode())
    objects.put_bytes(request_key(run_id, REQUEST_OBJECT), json.dumps(summary, indent=2).encode())

    spec = orchestrator_spec(run_id)
    run = RunRecord(
        run_id=run_id,
        state=State.QUEUED,
        created_at=now,
        updated_at=now,
        workflow_name=request.workflow_name,
        workflow_key=workflow_key,
        inputs_key=inputs_key,
        request=summary,
        tags=dict(tags or {}),
        orchestrator_log=spec.log_path,
    )
    plane.store.create_run(run)
    note = run_notification(None, run)
    if note is not None:
        plane.notifier.publish([note])

    try:
        task_arn = plane.launcher.run_task(spec)
    except LaunchError as exn:
        reason = str(exn)
        change_run(plane, run_id, lambda r: record_launch_failure(r, utc_now(), reason))
        raise SubmitError(run_id, reason) from exn
    change_run(plane, run_id, lambda r: record_orchestrator(r, task_arn, utc_now()))
    return plane.store.get_run(run_id) or run
