"""The Chalice app: thin routes and event handlers over ``chalicelib``.

- ``/ga4gh/wes/v1/...``: the GA4GH WES 1.1 API (IAM-authorized unless
  ``MINIWDL_FARGATE_API_AUTH=none`` when the app is packaged or served).
- ``on_submission_created``: S3 "Object Created" events (through EventBridge) for drops under
  the submissions prefix.
- ``on_ecs_task_state_change``: ECS "Task State Change" events, recorded in the store.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from chalice.app import Chalice, CloudWatchEvent, IAMAuthorizer, Request, Response

from chalicelib import api
from chalicelib.deployment import (
    AwsDeployment,
    Submitter,
    control_plane_from_environment,
    submitter_from_environment,
    sweep_from_environment,
)
from chalicelib.ecs_events import run_id_of
from chalicelib.observability import correlate, invocation
from chalicelib.status import handle_ecs_event
from chalicelib.wes import BASE_PATH, ApiError

app = Chalice(app_name="miniwdl-fargate", configure_logs=False)
app.api.binary_types.append("multipart/form-data")

AUTH = os.environ.get("MINIWDL_FARGATE_API_AUTH", "iam").strip().lower() or "iam"
AUTH = "iam" if AUTH == "sigv4" else AUTH  # the CLI's name for the same thing
if AUTH not in ("iam", "none"):
    raise RuntimeError(f"MINIWDL_FARGATE_API_AUTH must be iam (or sigv4) or none, not {AUTH!r}")
authorizer = IAMAuthorizer() if AUTH == "iam" else None
ANY_CONTENT = [
    "multipart/form-data",
    "application/json",
    "application/x-www-form-urlencoded",
    "text/plain",
    "application/octet-stream",
]


@app.middleware("all")
def _log_context(event: Any, get_response: Callable[[Any], Any]) -> Any:
    # an HTTP request's Lambda context is lambda_context (its context is API Gateway's);
    # an event's is context
    context = getattr(event, "lambda_context", None) or getattr(event, "context", None)
    path = getattr(event, "path", None)
    with invocation(context, **({"path": path} if path else {})):
        return get_response(event)


def _wes(handler: Callable[..., dict[str, Any]]) -> Callable[..., Response]:
    """Answer a route with its JSON, or with a WES ErrorResponse for an ``ApiError``."""

    def route(**params: str) -> Response:
        correlate(params.get("run_id", ""))
        try:
            body = handler(**params)
        except ApiError as exn:
            return Response(exn.body(), status_code=exn.status_code)
        return Response(body, status_code=200)

    route.__name__ = handler.__name__
    route.__doc__ = handler.__doc__
    return route


def _request() -> Request:
    request = app.current_request
    assert request is not None, "only called while serving a request"
    return request


def _query() -> dict[str, str]:
    return dict(_request().query_params or {})


def _base_url() -> str:
    request = _request()
    headers: dict[str, str] = dict(request.headers or {})
    host = headers.get("host", "")
    stage = (request.context or {}).get("stage", "")
    scheme = headers.get("x-forwarded-proto", "https" if stage else "http")
    prefix = f"/{stage}" if stage and not host.startswith(("127.0.0.1", "localhost")) else ""
    return f"{scheme}://{host}{prefix}{BASE_PATH}"


@app.route(f"{BASE_PATH}/service-info", methods=["GET"], authorizer=authorizer)
@_wes
def service_info() -> dict[str, Any]:
    return api.service_info(submitter_from_environment(), AUTH)


@app.route(f"{BASE_PATH}/runs", methods=["GET"], authorizer=authorizer)
@_wes
def list_runs() -> dict[str, Any]:
    return api.list_runs(submitter_from_environment(), _query())


@app.route(
    f"{BASE_PATH}/runs",
    methods=["POST"],
    authorizer=authorizer,
    # Any type reaches the handler, so a wrong one gets a WES ErrorResponse, not Chalice's.
    content_types=ANY_CONTENT,
)
@_wes
def submit_run() -> dict[str, Any]:
    request = _request()
    headers: dict[str, str] = dict(request.headers or {})
    body = request.raw_body or b""
    return api.submit_run(
        submitter_from_environment(),
        headers.get("content-type", ""),
        body if isinstance(body, bytes) else body.encode(),
        headers.get("idempotency-key"),
    )


@app.route(f"{BASE_PATH}/runs/{{run_id}}", methods=["GET"], authorizer=authorizer)
@_wes
def get_run_log(run_id: str) -> dict[str, Any]:
    return api.run_log(submitter_from_environment(), run_id, _base_url())


@app.route(f"{BASE_PATH}/runs/{{run_id}}/status", methods=["GET"], authorizer=authorizer)
@_wes
def get_run_status(run_id: str) -> dict[str, Any]:
    run = api.get_run(submitter_from_environment(), run_id)
    return {"run_id": run.run_id, "state": run.state.value}


@app.route(f"{BASE_PATH}/runs/{{run_id}}/tasks", methods=["GET"], authorizer=authorizer)
@_wes
def list_tasks(run_id: str) -> dict[str, Any]:
    return api.list_tasks(submitter_from_environment(), run_id, _query())


@app.route(f"{BASE_PATH}/runs/{{run_id}}/tasks/{{task_id}}", methods=["GET"], authorizer=authorizer)
@_wes
def get_task(run_id: str, task_id: str) -> dict[str, Any]:
    return api.get_task(submitter_from_environment(), run_id, task_id)


@app.route(
    f"{BASE_PATH}/runs/{{run_id}}/cancel",
    methods=["POST"],
    authorizer=authorizer,
    content_types=ANY_CONTENT,  # clients send an empty form or JSON body, or none
)
@_wes
def cancel_run(run_id: str) -> dict[str, Any]:
    return api.cancel(submitter_from_environment(), run_id)


@app.on_cw_event(
    {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"object": {"key": [{"prefix": "submissions/"}]}},
    }
)
def on_submission_created(event: CloudWatchEvent) -> None:
    """Submit the run a dropped request (or inputs) JSON describes; a bad drop is recorded as a
    failed run and announced."""
    deployment = AwsDeployment.from_environment()
    submitter: Submitter = submitter_from_environment()
    bucket = deployment.bucket if deployment else ""
    prefix = deployment.submissions_prefix if deployment else "submissions/"
    correlate(api.handle_drop(submitter, event.to_dict(), bucket, prefix))


@app.on_cw_event({"source": ["aws.ecs"], "detail-type": ["ECS Task State Change"]})
def on_ecs_task_state_change(event: CloudWatchEvent) -> None:
    """Record an ECS task's state change (version-conditional, duplicate-safe)."""
    raw = event.to_dict()
    correlate(run_id_of(raw))
    handle_ecs_event(raw, control_plane_from_environment())


@app.schedule("rate(5 minutes)")
def sweep_stale_records(event: CloudWatchEvent) -> None:
    """Repair the runs and tasks whose ECS events were lost: in-flight records quiet for five
    minutes are looked up (DescribeTasks, 100 a call) and fed through the status handler."""
    sweep_from_environment()  # logs what it repaired
