"""Submit a validated run: store its request, record it QUEUED, launch its orchestrator.

Four calls to the outside on AWS, in an order that leaves nothing half-started: the request
bundle is written (one S3 PutObject) before the run is recorded (one conditional PutItem), the
run is announced (one PutEvents), and its orchestrator is launched (one RunTask, with the run id
as its ``clientToken``, and the run's tags beside the project's: ``fargate.with_run_tags``). The
orchestrator's task ARN reaches the run from its own events and from the orchestrator itself,
not from a fifth write here.

Submission is idempotent: given an idempotency key, the run id is derived from it, so the
conditional PutItem lets only the first submission through. A repeat returns the same run (and
relaunches its orchestrator with the same client token if the first attempt died before
launching, which ECS turns into a no-op if it had launched after all).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .fargate import with_run_tags
from .launcher import LaunchError, TaskSpec
from .objects import ObjectStore, request_key
from .records import RunRecord, utc_now
from .states import State
from .status import ControlPlane, change_run, create_run
from .store import RunExists
from .transitions import record_launch_failure
from .validation import ValidatedRequest

# Inputs up to this size are kept on the run record too (the run log shows them); larger ones
# only in the request bundle (a DynamoDB item holds at most 400 KB).
MAX_RECORDED_PARAMS_BYTES = 64 * 1024
MAX_RECORDED_ATTACHMENT_NAMES = 50


class SubmitError(RuntimeError):
    """The run was recorded but its orchestrator could not be launched."""

    def __init__(self, run_id: str, reason: str) -> None:
        super().__init__(f"run {run_id} could not start: {reason}")
        self.run_id = run_id


class IdempotencyConflict(ValueError):
    """An idempotency key used before with a different request."""


def new_run_id() -> str:
    """A run id that sorts by submission time and is unique without coordination."""
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(4)


def idempotent_run_id(idempotency_key: str) -> str:
    """The run id of every submission with this key (a valid ECS client token, too)."""
    return "req-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:28]


def request_digest(request: ValidatedRequest, extra: dict[str, Any]) -> str:
    """What makes two submissions the same request."""
    digest = hashlib.sha256(request.bundle)
    digest.update(json.dumps(extra, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def submit(
    request: ValidatedRequest,
    *,
    plane: ControlPlane,
    objects: ObjectStore,
    orchestrator_spec: Callable[[str], TaskSpec],
    tags: dict[str, str] | None = None,
    idempotency_key: str | None = None,
    wes_request: dict[str, Any] | None = None,
    options: dict[str, str] | None = None,
    cwd: str | None = None,
) -> RunRecord:
    """Record the run and launch its orchestrator; returns the run as recorded.

    ``wes_request`` is the WES RunRequest to echo in the run log; ``options`` are engine
    parameters the orchestrator honours (``delete_after``). ``cwd`` is the local submitter's
    directory (the CLI's), which the orchestrator runs miniwdl in. Raises
    ``IdempotencyConflict`` and ``SubmitError``.
    """
    tags = dict(tags or {})
    options = dict(options or {})
    group, priority = _group_of(plane, tags, options)
    digest = request_digest(request, {"tags": tags, "options": options, "task": request.task})
    run_id = idempotent_run_id(idempotency_key) if idempotency_key else new_run_id()
    now = utc_now()
    bundle_key = request_key(run_id, f"bundle-{digest[:16]}.zip")
    summary: dict[str, Any] = {
        "workflow_name": request.workflow_name,
        "wdl_path": request.wdl_path,
        "task": request.task,
        "tags": tags,
        "options": options,
        "submitted_at": now,
        "digest": digest,
    }
    if wes_request is not None:
        echo = dict(wes_request)
        params = json.dumps(request.inputs)
        if len(params) <= MAX_RECORDED_PARAMS_BYTES:
            echo["workflow_params"] = request.inputs
        names = echo.get("workflow_attachment")
        if isinstance(names, list) and len(names) > MAX_RECORDED_ATTACHMENT_NAMES:
            # the bundle has them all; the record (at most 400 KB on DynamoDB) names the first
            echo["workflow_attachment"] = names[:MAX_RECORDED_ATTACHMENT_NAMES]
            echo["workflow_attachment_count"] = len(names)
        summary["wes"] = echo
    if idempotency_key:
        summary["idempotency_key"] = idempotency_key
    if cwd:
        summary["cwd"] = cwd

    location = objects.put_bytes(bundle_key, request.bundle)
    summary["bundle_location"] = location
    spec = orchestrator_spec(run_id)
    run = RunRecord(
        run_id=run_id,
        state=State.QUEUED,
        created_at=now,
        updated_at=now,
        workflow_name=request.workflow_name,
        workflow_key=bundle_key,
        inputs_key=bundle_key,
        request=summary,
        tags=tags,
        orchestrator_log=spec.log_path,
        group=group,
        priority=priority,
        waiting="waiting for admission" if group else None,
    )
    try:
        create_run(plane, run)
    except RunExists:
        return _repeat(run, digest, plane, spec)
    if group:
        return _admit(run, plane)  # launched by admission, tagged there too
    _launch(run, plane, with_run_tags(spec, run_id, tags))
    return run


def _group_of(
    plane: ControlPlane, tags: dict[str, str], options: dict[str, str]
) -> tuple[str, int]:
    """The run's group and priority where runs are admitted by group ("" and 0 elsewhere);
    raises ``groups.GroupError`` (an unknown group, a bad priority) before anything is
    written."""
    if plane.admission is None:
        return "", 0
    from .admission import check_room_to_wait, read_group
    from .groups import DEFAULT_GROUP, Limits, run_group

    group, priority = run_group(tags, options)
    if group == DEFAULT_GROUP and plane.admission.default_limits == Limits():
        # An unlimited default group admits every run at once: it keeps no count, and the
        # common submission costs no group reads or writes.
        return "", 0
    record, _revision = read_group(plane, group)
    check_room_to_wait(record)  # a full group refuses the run before anything is written
    return group, priority


def _admit(run: RunRecord, plane: ControlPlane) -> RunRecord:
    """Queue the run in its group; launched now if it fits (``admission``)."""
    from .admission import admit_submitted

    admitted = admit_submitted(plane, run)
    if admitted.state == State.SYSTEM_ERROR:
        message = (admitted.error or {}).get("message", "the orchestrator could not be started")
        raise SubmitError(run.run_id, str(message))
    return admitted


def _repeat(run: RunRecord, digest: str, plane: ControlPlane, spec: TaskSpec) -> RunRecord:
    existing = plane.store.get_run(run.run_id)
    if existing is None:  # expired between the two calls; vanishingly rare
        raise IdempotencyConflict("the idempotency key's earlier run has just expired; retry")
    if existing.request.get("digest") != digest:
        raise IdempotencyConflict(
            f"the idempotency key was used for run {existing.run_id} with a different request"
        )
    if existing.state == State.QUEUED and existing.group and not existing.admitted_at:
        return _admit(existing, plane)  # queued once in its group however often repeated
    if existing.state == State.QUEUED and not existing.orchestrator_arn:
        # the same client token: ECS starts at most one task
        _launch(existing, plane, with_run_tags(spec, existing.run_id, existing.tags))
    return existing


def _launch(run: RunRecord, plane: ControlPlane, spec: TaskSpec) -> None:
    try:
        plane.launcher.run_task(spec)
    except LaunchError as exn:
        reason = str(exn)
        change_run(plane, run.run_id, lambda r: record_launch_failure(r, utc_now(), reason))
        raise SubmitError(run.run_id, reason) from exn
