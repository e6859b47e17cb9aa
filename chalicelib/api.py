"""The WES API's operations and the S3 drop, over the submit path's adapters.

``app.py`` routes each request here and turns an ``ApiError`` into a WES ``ErrorResponse``.
Every bad input is an ``ApiError`` (4xx) raised before anything is written or launched; a
failure of the service itself after the run is recorded is the run's SYSTEM_ERROR, not a lost
request.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import json
import logging
import posixpath
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from .cost import record_cost, tasks_cost
from .deployment import Submitter
from .notifications import run_notification
from .records import RunRecord, utc_now
from .states import State
from .store import RunExists
from .wes import ApiError, RunRequest

log = logging.getLogger(__name__)

MAX_FETCH_BYTES = 16 * 1024 * 1024
FETCH_TIMEOUT_SECONDS = 10.0
COUNTED_STATES = (State.QUEUED, State.INITIALIZING, State.RUNNING, State.CANCELING)


def submit_run(
    submitter: Submitter,
    content_type: str,
    body: bytes,
    idempotency_key: str | None,
) -> dict[str, Any]:
    """``POST /runs``: validate, record, launch; returns ``RunId``."""
    from . import wes

    fields, files = wes.parse_form(content_type, body)
    request = wes.parse_run_request(fields, files)
    run = _submit(submitter, request, wes.parse_idempotency_key(idempotency_key))
    return {"run_id": run.run_id}


def _submit(submitter: Submitter, request: RunRequest, idempotency_key: str | None) -> RunRecord:
    # miniwdl is imported here, on the submit path only: the status Lambda never loads it.
    from .submit import IdempotencyConflict, SubmitError, submit
    from .validation import RequestError, validate_run_request

    try:
        validated = validate_run_request(request, lambda url: fetch(url, submitter.read_s3))
    except RequestError as exn:
        raise ApiError(400, str(exn)) from None
    try:
        return submit(
            validated,
            plane=submitter.plane,
            objects=submitter.objects,
            orchestrator_spec=submitter.orchestrator_spec,
            tags=request.tags,
            idempotency_key=idempotency_key,
            wes_request=request.echo(),
            options={k: v for k, v in request.workflow_engine_parameters.items() if k != "task"},
        )
    except IdempotencyConflict as exn:
        raise ApiError(409, str(exn)) from None
    except SubmitError as exn:
        # The run is recorded SYSTEM_ERROR with the reason; the client gets its id.
        log.error("run %s could not start: %s", exn.run_id, exn)
        run = submitter.plane.store.get_run(exn.run_id)
        if run is None:
            raise
        return run


def fetch(url: str, read_s3: Callable[[str], bytes]) -> bytes:
    """A workflow named by URL: ``s3://`` through the deployment, ``https://`` directly; any
    failure is a ``RequestError`` saying what could not be read."""
    from .validation import RequestError

    try:
        if url.startswith("s3://"):
            return read_s3(url)
        if not url.lower().startswith(("https://", "http://")):
            raise RequestError(f"cannot fetch {url!r}: only https:// and s3:// URLs")
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_SECONDS) as response:
            data: bytes = response.read(MAX_FETCH_BYTES + 1)
    except (PermissionError, FileNotFoundError) as exn:
        raise RequestError(str(exn)) from None
    except urllib.error.HTTPError as exn:
        raise RequestError(f"cannot fetch {url}: HTTP {exn.code}") from None
    except (OSError, ValueError) as exn:
        raise RequestError(f"cannot fetch {url}: {exn}") from None
    if len(data) > MAX_FETCH_BYTES:
        raise RequestError(f"{url} is larger than {MAX_FETCH_BYTES // (1024 * 1024)} MiB")
    return data


# reads


def get_run(submitter: Submitter, run_id: str) -> RunRecord:
    """The run, or a 404."""
    run = submitter.plane.store.get_run(run_id)
    if run is None:
        raise ApiError(404, f"no run {run_id!r}")
    return run


def run_log(submitter: Submitter, run_id: str, base_url: str) -> dict[str, Any]:
    """``GET /runs/{run_id}``: the run log, with its cost so far if it has not ended."""
    from . import wes

    run = get_run(submitter, run_id)
    cost = run.cost
    if cost is None:
        cost = tasks_cost(
            submitter.plane.store.list_tasks(run_id), submitter.plane.prices
        ).as_dict()
    return wes.run_log(run, task_logs_url=f"{base_url}/runs/{run_id}/tasks", cost=cost)


def list_runs(submitter: Submitter, query: Mapping[str, str]) -> dict[str, Any]:
    """``GET /runs``: newest first, paged (and our ``state`` filter)."""
    from . import wes

    size = wes.page_size(query.get("page_size"))
    state = wes.state_filter(query.get("state"))
    try:
        runs, token = submitter.plane.store.list_runs(
            state=state, page_size=size, page_token=query.get("page_token") or ""
        )
    except ValueError:
        raise ApiError(400, "page_token is not one this service issued") from None
    return wes.run_list(runs, token)


def list_tasks(submitter: Submitter, run_id: str, query: Mapping[str, str]) -> dict[str, Any]:
    """``GET /runs/{run_id}/tasks``: every attempt of every call, oldest first, paged."""
    from . import wes

    get_run(submitter, run_id)
    size = wes.page_size(query.get("page_size"))
    start = _offset(query.get("page_token") or "")
    tasks = submitter.plane.store.list_tasks(run_id)
    page = tasks[start : start + size]
    token = _token(start + size) if start + size < len(tasks) else ""
    prices = submitter.plane.prices
    logs = [wes.task_log(t, record_cost(t, prices=prices).as_dict()) for t in page]
    return wes.task_list(logs, token)


def get_task(submitter: Submitter, run_id: str, task_id: str) -> dict[str, Any]:
    """``GET /runs/{run_id}/tasks/{task_id}``."""
    from . import wes

    task = submitter.plane.store.get_task(task_id)
    if task is None or task.run_id != run_id:
        raise ApiError(404, f"no task {task_id!r} in run {run_id!r}")
    return wes.task_log(task, record_cost(task, prices=submitter.plane.prices).as_dict())


def service_info(submitter: Submitter, auth: str) -> dict[str, Any]:
    """``GET /service-info``, counting the runs in flight (up to a page each)."""
    from . import wes

    counts = {
        state.value: len(submitter.plane.store.list_runs(state=state, page_size=1000)[0])
        for state in COUNTED_STATES
    }
    return wes.service_info(counts, auth)


def cancel(submitter: Submitter, run_id: str) -> dict[str, Any]:
    """``POST /runs/{run_id}/cancel``: CANCELING, then the orchestrator is stopped."""
    from .run_control import cancel_run

    get_run(submitter, run_id)
    run = cancel_run(submitter.plane, run_id)
    return {"run_id": run.run_id}


def _offset(token: str) -> int:
    if not token:
        return 0
    try:
        value = int(base64.urlsafe_b64decode(token.encode()).decode())
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ApiError(400, "page_token is not one this service issued") from None
    if value < 0:
        raise ApiError(400, "page_token is not one this service issued")
    return value


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode()).decode()


# S3 drops

DROP_MAX_BYTES = 4 * 1024 * 1024


def handle_drop(submitter: Submitter, event: Mapping[str, Any], bucket: str, prefix: str) -> str:
    """Submit the run an EventBridge "Object Created" event names; returns the run id.

    A drop that cannot run is recorded as a failed run (EXECUTOR_ERROR, its reason as the
    error) and announced, and nothing is launched. The same object version (bucket, key,
    version id or sequencer) always maps to the same run, so redelivered events are no-ops.
    """
    from .submit import idempotent_run_id

    detail = event.get("detail") or {}
    obj = detail.get("object") or {}
    key = str(obj.get("key") or "")
    event_bucket = str((detail.get("bucket") or {}).get("name") or "")
    if event_bucket != bucket or not key.startswith(prefix) or not key.endswith(".json"):
        # WDL files and other objects uploaded beside the submissions are not submissions
        log.info("ignoring object s3://%s/%s (not a submission)", event_bucket, key)
        return ""
    version = obj.get("version-id") or obj.get("sequencer") or obj.get("etag") or ""
    identity = f"s3://{bucket}/{key}#{version}"
    source = f"s3://{bucket}/{key}"
    submitter = dataclasses.replace(submitter, read_s3=functools.cache(submitter.read_s3))
    try:
        size = int(obj.get("size") or 0)
        if size > DROP_MAX_BYTES:
            raise ApiError(400, f"the submission is larger than {DROP_MAX_BYTES // 1024} KiB")
        data = submitter.read_s3(source)
        request = drop_request(data, key, bucket, submitter.read_s3)
        return _submit(submitter, request, identity).run_id
    except ApiError as exn:
        return _record_rejected(submitter, idempotent_run_id(identity), source, exn.msg)
    except FileNotFoundError:
        log.warning("submission %s vanished before it was read", source)
        return ""


def drop_request(data: bytes, key: str, bucket: str, read_s3: Callable[[str], bytes]) -> RunRequest:
    """The run request a dropped JSON object stands for.

    A run request (an object with ``workflow_url``) is taken as it is, with a relative
    ``workflow_url`` resolved against the drop's folder. Any other object is a plain inputs
    JSON, and its workflow is found by convention: ``NAME.wdl`` beside ``NAME.json``, else
    ``workflow.wdl`` in the same folder.
    """
    from . import wes

    try:
        body = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exn:
        raise ApiError(400, f"the submission is not valid JSON: {exn}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the submission must be a JSON object")
    folder = posixpath.dirname(key)
    if "workflow_url" in body:
        url = body["workflow_url"]
        if isinstance(url, str) and url and "://" not in url:
            body["workflow_url"] = (
                f"s3://{bucket}/{posixpath.normpath(posixpath.join(folder, url))}"
            )
        return wes.parse_run_request(body, {})
    candidates = [key.removesuffix(".json") + ".wdl", posixpath.join(folder, "workflow.wdl")]
    for candidate in candidates:
        url = f"s3://{bucket}/{candidate}"
        try:
            read_s3(url)
        except FileNotFoundError:
            continue
        return wes.parse_run_request({"workflow_url": url, "workflow_params": body}, {})
    raise ApiError(
        400,
        "no workflow for this inputs file: looked for "
        + " and ".join(f"s3://{bucket}/{c}" for c in candidates),
    )


def _record_rejected(submitter: Submitter, run_id: str, source: str, reason: str) -> str:
    now = utc_now()
    run = RunRecord(
        run_id=run_id,
        state=State.EXECUTOR_ERROR,
        created_at=now,
        updated_at=now,
        workflow_name="",
        workflow_key="",
        inputs_key="",
        request={"submission": source, "submitted_at": now},
        end_time=now,
        error={"message": f"invalid submission {source}: {reason}", "error": "InvalidRequest"},
    )
    try:
        submitter.plane.store.create_run(run)
    except RunExists:
        return run_id
    note = run_notification(None, run)
    if note is not None:
        submitter.plane.notifier.publish([note])
    log.warning("rejected submission %s: %s", source, reason)
    return run_id
