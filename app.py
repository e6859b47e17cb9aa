"""The Chalice app: thin routes and event handlers over ``chalicelib``.

- ``/ga4gh/wes/v1/...``: the GA4GH WES 1.1 API (IAM-authorized unless
  ``MINIWDL_FARGATE_API_AUTH=none`` when the app is packaged or served), and the run and task
  logs its ``stdout``/``stderr`` URLs name (``.../logs/stdout``, ``.../logs/stderr``), and
  each run's HTML report (``.../runs/{run_id}/report``).
- ``on_submission_created``: S3 "Object Created" events (through EventBridge) for drops under
  the submissions prefix.
- ``on_ecs_task_state_change``: ECS "Task State Change" events, recorded in the store.
- ``cancel_runs_past_deadline``: a run's deadline schedule (EventBridge Scheduler) fired.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, cast

from chalice.app import (
    Chalice,
    CloudWatchEvent,
    EventSourceHandler,
    IAMAuthorizer,
    LambdaFunctionEvent,
    Request,
    Response,
)

from chalicelib import api, report, wes
from chalicelib.deployment import (
    AwsDeployment,
    Submitter,
    cancel_past_deadline_from_environment,
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


def _header(name: str) -> str:
    return str(dict(_request().headers or {}).get(name, ""))


def _base_url() -> str:
    """The API's URL for links, from configuration or API Gateway (never the Host header)."""
    return wes.api_base_url(_request().context or {}, os.environ.get(wes.ENV_PUBLIC_URL, ""))


def _file_response(run_id: str, answer_for: Callable[[], api.LogAnswer]) -> Response:
    """A file's bytes (206 with ``Content-Range`` for a part), a redirect to a presigned URL,
    or a WES ErrorResponse."""
    correlate(run_id)
    try:
        answer = answer_for()
    except ApiError as exn:
        return Response(exn.body(), status_code=exn.status_code)
    if answer.redirect:
        return Response("", headers={"Location": answer.redirect}, status_code=302)
    # Bytes as they are for a client that takes them (API Gateway passes a binary answer only
    # to one that accepts its type); UTF-8 text, any undecodable byte replaced, for the others.
    binary = "application/octet-stream" in _header("accept").lower()
    headers: dict[str, str | list[str]] = {
        "Content-Type": "application/octet-stream" if binary else "text/plain; charset=utf-8",
        "Accept-Ranges": "bytes",
    }
    body = answer.content if binary else answer.content.decode("utf-8", errors="replace")
    if answer.partial and answer.content:
        last = answer.start + len(answer.content) - 1
        headers["Content-Range"] = f"bytes {answer.start}-{last}/{answer.size}"
        return Response(body, headers=headers, status_code=206)
    return Response(body, headers=headers, status_code=200)


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


@app.route(f"{BASE_PATH}/runs/{{run_id}}/logs/{{stream}}", methods=["GET"], authorizer=authorizer)
def get_run_log_stream(run_id: str, stream: str) -> Response:
    """The run's ``stdout`` or ``stderr``: the URLs its run log gives."""
    return _file_response(
        run_id,
        lambda: api.log_answer(
            submitter_from_environment(), run_id, None, stream, _header("range")
        ),
    )


@app.route(f"{BASE_PATH}/runs/{{run_id}}/outputs", methods=["GET"], authorizer=authorizer)
def get_run_output_file(run_id: str) -> Response:
    """A file of the run's results (``?path=`` relative to them): its outputs' files."""
    path = _query().get("path", "")
    return _file_response(
        run_id,
        lambda: api.output_answer(submitter_from_environment(), run_id, path, _header("range")),
    )


@app.route(f"{BASE_PATH}/runs/{{run_id}}/status", methods=["GET"], authorizer=authorizer)
@_wes
def get_run_status(run_id: str) -> dict[str, Any]:
    run = api.get_run(submitter_from_environment(), run_id)
    return {"run_id": run.run_id, "state": run.state.value}


@app.route(f"{BASE_PATH}/runs/{{run_id}}/tasks", methods=["GET"], authorizer=authorizer)
@_wes
def list_tasks(run_id: str) -> dict[str, Any]:
    return api.list_tasks(submitter_from_environment(), run_id, _query(), _base_url())


@app.route(f"{BASE_PATH}/runs/{{run_id}}/tasks/{{task_id}}", methods=["GET"], authorizer=authorizer)
@_wes
def get_task(run_id: str, task_id: str) -> dict[str, Any]:
    return api.get_task(submitter_from_environment(), run_id, task_id, _base_url())


@app.route(
    f"{BASE_PATH}/runs/{{run_id}}/tasks/{{task_id}}/logs/{{stream}}",
    methods=["GET"],
    authorizer=authorizer,
)
def get_task_log_stream(run_id: str, task_id: str, stream: str) -> Response:
    """A task's ``stdout`` or ``stderr``: the URLs its task log gives."""
    return _file_response(
        run_id,
        lambda: api.log_answer(
            submitter_from_environment(), run_id, task_id, stream, _header("range")
        ),
    )


@app.route(
    f"{BASE_PATH}/runs/{{run_id}}/cancel",
    methods=["POST"],
    authorizer=authorizer,
    content_types=ANY_CONTENT,  # clients send an empty form or JSON body, or none
)
@_wes
def cancel_run(run_id: str) -> dict[str, Any]:
    return api.cancel(submitter_from_environment(), run_id)


# The run's HTML report: this project's route beside WES's run log (docs/report.md).

REPORT_HEADERS: dict[str, str | list[str]] = {
    "Content-Type": "text/html; charset=utf-8",
    # the page fetches nothing and runs nothing, even opened straight from the API
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
    "X-Content-Type-Options": "nosniff",
}


@app.route(f"{BASE_PATH}/runs/{{run_id}}/report", methods=["GET"], authorizer=authorizer)
def get_run_report(run_id: str) -> Response:
    """The run's report page (``report.api_page``), or a WES ErrorResponse."""
    correlate(run_id)
    try:
        page = report.api_page(submitter_from_environment(), run_id)
    except ApiError as exn:
        return Response(exn.body(), status_code=exn.status_code)
    return Response(page.decode("utf-8", errors="replace"), headers=REPORT_HEADERS)


# Run groups: this project's resource beside WES's runs (docs/run-groups.md).


@app.route(f"{BASE_PATH}/groups", methods=["GET"], authorizer=authorizer)
@_wes
def list_groups() -> dict[str, Any]:
    return api.list_groups(submitter_from_environment())


@app.route(
    f"{BASE_PATH}/groups", methods=["POST"], authorizer=authorizer, content_types=ANY_CONTENT
)
@_wes
def create_group() -> dict[str, Any]:
    return api.put_group(submitter_from_environment(), _body())


@app.route(f"{BASE_PATH}/groups/{{name}}", methods=["GET"], authorizer=authorizer)
@_wes
def get_group(name: str) -> dict[str, Any]:
    return api.get_group(submitter_from_environment(), name)


@app.route(
    f"{BASE_PATH}/groups/{{name}}",
    methods=["PATCH"],
    authorizer=authorizer,
    content_types=ANY_CONTENT,
)
@_wes
def update_group(name: str) -> dict[str, Any]:
    return api.put_group(submitter_from_environment(), _body(), name)


@app.route(f"{BASE_PATH}/groups/{{name}}", methods=["DELETE"], authorizer=authorizer)
@_wes
def delete_group(name: str) -> dict[str, Any]:
    return api.delete_group(submitter_from_environment(), name)


def _body() -> bytes:
    body = _request().raw_body or b""
    return body if isinstance(body, bytes) else body.encode()


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
def on_ecs_task_state_change(event: LambdaFunctionEvent) -> None:
    """Record an ECS task's state change (version-conditional, duplicate-safe); the raw event is
    validated by ``handle_ecs_event``."""
    raw = event.to_dict()
    correlate(run_id_of(raw))
    handle_ecs_event(raw, control_plane_from_environment())


# Chalice wraps an on_cw_event payload in a CloudWatchEvent, whose constructor reads every envelope
# key (region, time, ...) before any middleware or handler runs: an event missing one would fail
# there with a KeyError. Its raw-event wrapper hands the payload on untouched, so the handler does
# all the validating; the function and its EventBridge rule stay Chalice's.
cast(EventSourceHandler, on_ecs_task_state_change).event_class = LambdaFunctionEvent


@app.schedule("rate(5 minutes)")
def sweep_stale_records(event: CloudWatchEvent) -> None:
    """Repair the runs and tasks whose ECS events were lost: in-flight records quiet for five
    minutes are looked up (DescribeTasks, 100 a call) and fed through the status handler."""
    sweep_from_environment()  # logs what it repaired


@app.lambda_function(name="cancel_runs_past_deadline")
def cancel_runs_past_deadline(event: dict[str, Any], context: Any) -> None:
    """A run's one-time deadline schedule fired (``{"run_id": ...}``): the run is canceled,
    with the reason, if it is still going and past its deadline (``chalicelib.deadlines``)."""
    correlate(str(event.get("run_id", "")) if isinstance(event, dict) else "")
    cancel_past_deadline_from_environment(event)
