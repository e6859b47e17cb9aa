"""GA4GH WES 1.1: run requests in, run logs out (pure, no I/O).

Parsing turns a ``POST /runs`` multipart form (or an S3 drop) into a checked ``RunRequest``, or
an ``ApiError`` whose message says what is wrong; the routes in ``app.py`` answer it as a WES
``ErrorResponse``. Shaping turns the store's records into the spec's ``RunLog``, ``TaskLog``,
``RunListResponse`` and ``ServiceInfo``.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from typing import Any

from .records import RunRecord, TaskRecord
from .states import State

BASE_PATH = "/ga4gh/wes/v1"
WORKFLOW_TYPE = "WDL"
# "draft-2" is what the common wes-client sends for any WDL file.
WORKFLOW_TYPE_VERSIONS = ("1.0", "1.1", "1.2", "draft-2")
SUPPORTED_WES_VERSIONS = ("1.1.0",)
# API Gateway base64-encodes binary bodies and a synchronous Lambda payload is at most 6 MB.
MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_ATTACHMENTS = 500
MAX_TAGS = 50
MAX_TAG_CHARS = 256
MAX_IDEMPOTENCY_KEY_CHARS = 128
DELETE_AFTER = ("never", "success", "failure", "always")
ENGINE_PARAMETERS = {
    "task": "run this task of the WDL instead of its workflow",
    "delete_after": "delete the run's work directory after it ends: " + " | ".join(DELETE_AFTER),
}
FORM_FIELDS = (
    "workflow_params",
    "workflow_type",
    "workflow_type_version",
    "tags",
    "workflow_engine",
    "workflow_engine_version",
    "workflow_engine_parameters",
    "workflow_url",
)
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(text: str) -> bool:
    """Whether ``text`` starts with a URL scheme (``s3://``, ``https://``, ...)."""
    return bool(_URL.match(text))


class ApiError(Exception):
    """A request the API refuses: ``status_code`` (4xx) and a message for the client."""

    def __init__(self, status_code: int, msg: str) -> None:
        super().__init__(msg)
        self.status_code = status_code
        self.msg = msg

    def body(self) -> dict[str, Any]:
        """The WES ``ErrorResponse``."""
        return error_body(self.status_code, self.msg)


def error_body(status_code: int, msg: str) -> dict[str, Any]:
    """A WES ``ErrorResponse``."""
    return {"msg": msg, "status_code": status_code}


@dataclass(frozen=True)
class RunRequest:
    """A checked WES ``RunRequest`` with its attachments (name -> content)."""

    workflow_url: str
    workflow_params: dict[str, Any] = field(default_factory=dict)
    workflow_type: str = WORKFLOW_TYPE
    workflow_type_version: str = "1.0"
    tags: dict[str, str] = field(default_factory=dict)
    workflow_engine_parameters: dict[str, str] = field(default_factory=dict)
    attachments: dict[str, bytes] = field(default_factory=dict)

    @property
    def task(self) -> str | None:
        """The task to run instead of the workflow, if the request names one."""
        return self.workflow_engine_parameters.get("task") or None

    @property
    def delete_after(self) -> str:
        """When to delete the run's work directory (``DELETE_AFTER``)."""
        return self.workflow_engine_parameters.get("delete_after", "never")

    def echo(self) -> dict[str, Any]:
        """The request as the run log shows it (attachments by name only)."""
        return {
            "workflow_url": self.workflow_url,
            "workflow_type": self.workflow_type,
            "workflow_type_version": self.workflow_type_version,
            "tags": self.tags,
            "workflow_engine_parameters": self.workflow_engine_parameters,
            "workflow_attachment": sorted(self.attachments),
        }


# requests in


def parse_form(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, bytes]]:
    """Split a ``multipart/form-data`` body into text fields and file parts (by file name)."""
    if len(body) > MAX_BODY_BYTES:
        raise ApiError(413, f"the request body is over {MAX_BODY_BYTES // (1024 * 1024)} MiB")
    if not content_type.lower().startswith("multipart/form-data") or "boundary=" not in (
        content_type.lower()
    ):
        raise ApiError(415, "POST /runs takes multipart/form-data (with a boundary)")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise ApiError(400, "the multipart body could not be parsed")
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or not name:
            raise ApiError(400, "a form part has no name")
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if name == "workflow_attachment":
            if not filename:
                raise ApiError(400, "a workflow_attachment part has no filename")
            if filename in files:
                raise ApiError(400, f"attachment {filename!r} is given twice")
            files[filename] = data
        elif name in fields:
            raise ApiError(400, f"form field {name} is given twice")
        else:
            try:
                fields[name] = data.decode("utf-8")
            except UnicodeDecodeError:
                raise ApiError(400, f"form field {name} is not UTF-8 text") from None
    return fields, files


def parse_run_request(fields: Mapping[str, Any], attachments: Mapping[str, bytes]) -> RunRequest:
    """Check a RunRequest's fields (strings, or already-decoded JSON values from an S3 drop)."""
    unknown = sorted(set(fields) - set(FORM_FIELDS))
    if unknown:
        raise ApiError(400, f"unknown field(s): {', '.join(unknown)}")
    url = fields.get("workflow_url")
    if not isinstance(url, str) or not url.strip():
        raise ApiError(400, "workflow_url is required")
    url = url.strip()
    workflow_type = _text(fields, "workflow_type", WORKFLOW_TYPE)
    if workflow_type.upper() != WORKFLOW_TYPE:
        raise ApiError(400, f"workflow_type must be WDL, not {workflow_type!r}")
    version = _text(fields, "workflow_type_version", "1.0")
    if version not in WORKFLOW_TYPE_VERSIONS:
        raise ApiError(
            400,
            f"workflow_type_version must be one of {', '.join(WORKFLOW_TYPE_VERSIONS)},"
            f" not {version!r}",
        )
    engine = _text(fields, "workflow_engine", "miniwdl")
    if engine.lower() not in ("miniwdl", ""):
        raise ApiError(400, f"workflow_engine must be miniwdl, not {engine!r}")
    params = _json_object(fields, "workflow_params")
    tags = _string_map(fields, "tags", MAX_TAGS)
    engine_parameters = _string_map(fields, "workflow_engine_parameters", len(ENGINE_PARAMETERS))
    for key, value in engine_parameters.items():
        if key not in ENGINE_PARAMETERS:
            known = ", ".join(sorted(ENGINE_PARAMETERS))
            raise ApiError(400, f"unknown workflow_engine_parameters key {key!r} (known: {known})")
        if key == "delete_after" and value not in DELETE_AFTER:
            raise ApiError(400, f"delete_after must be one of {', '.join(DELETE_AFTER)}")
    if len(attachments) > MAX_ATTACHMENTS:
        raise ApiError(400, f"more than {MAX_ATTACHMENTS} attachments")
    for name in attachments:
        check_attachment_name(name)
    if not is_url(url):
        relative = posixpath.normpath(url)
        check_attachment_name(url)
        if relative not in {posixpath.normpath(n) for n in attachments}:
            raise ApiError(
                400, f"workflow_url {url!r} is neither a URL nor the name of an attachment"
            )
    elif not url.lower().startswith(("https://", "http://", "s3://")):
        raise ApiError(400, f"workflow_url must be https://, s3:// or an attachment, not {url!r}")
    return RunRequest(
        workflow_url=url,
        workflow_params=params,
        workflow_type=WORKFLOW_TYPE,
        workflow_type_version=version,
        tags=tags,
        workflow_engine_parameters=engine_parameters,
        attachments=dict(attachments),
    )


def check_attachment_name(name: str) -> None:
    """Refuse names that could land outside the run's directory."""
    if (
        not name
        or name.startswith("/")
        or "\\" in name
        or "\0" in name
        or ".." in name.split("/")
        or posixpath.normpath(name) in (".", "")
    ):
        raise ApiError(400, f"attachment name {name!r} must be a relative path without '..'")


def parse_idempotency_key(value: str | None) -> str | None:
    """The client's ``Idempotency-Key`` header, checked."""
    if value is None or value == "":
        return None
    if len(value) > MAX_IDEMPOTENCY_KEY_CHARS or not value.isprintable():
        raise ApiError(
            400, f"Idempotency-Key must be printable and at most {MAX_IDEMPOTENCY_KEY_CHARS} chars"
        )
    return value


def _text(fields: Mapping[str, Any], name: str, default: str) -> str:
    value = fields.get(name, default)
    if not isinstance(value, str):
        raise ApiError(400, f"{name} must be a string")
    return value.strip() or default


def _json_object(fields: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = fields.get(name)
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exn:
            raise ApiError(400, f"{name} is not valid JSON: {exn}") from None
    if not isinstance(value, dict):
        raise ApiError(400, f"{name} must be a JSON object")
    return value


def _string_map(fields: Mapping[str, Any], name: str, limit: int) -> dict[str, str]:
    value = _json_object(fields, name)
    if len(value) > limit:
        raise ApiError(400, f"{name} has more than {limit} entries")
    for key, item in value.items():
        if not isinstance(item, str) or len(key) > MAX_TAG_CHARS or len(item) > MAX_TAG_CHARS:
            raise ApiError(
                400, f"{name} must map names to strings of at most {MAX_TAG_CHARS} characters"
            )
    return dict(value)


def page_size(raw: str | None, default: int = 50, maximum: int = 1000) -> int:
    """The ``page_size`` query parameter, checked."""
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise ApiError(400, f"page_size must be a whole number from 1 to {maximum}")
    return int(raw)


def state_filter(raw: str | None) -> State | None:
    """Our ``state`` extension to ``GET /runs``."""
    if not raw:
        return None
    try:
        return State(raw.upper())
    except ValueError:
        raise ApiError(400, f"unknown state {raw!r}") from None


# responses out


def run_status(run: RunRecord) -> dict[str, Any]:
    """``RunStatus``."""
    return {"run_id": run.run_id, "state": run.state.value}


def run_list(runs: Sequence[RunRecord], next_page_token: str) -> dict[str, Any]:
    """``RunListResponse``."""
    return {"runs": [run_status(r) for r in runs], "next_page_token": next_page_token}


def run_log(
    run: RunRecord, *, task_logs_url: str, cost: Mapping[str, float] | None
) -> dict[str, Any]:
    """``RunLog``, plus our extensions: ``error``, ``cost``, ``tags``, ``submitted_at``,
    ``run_dir`` (on the work filesystem) and ``outputs_location``."""
    outputs = (run.outputs or {}).get("values") if run.outputs else None
    system_logs = []
    if run.error:
        system_logs.append(str(run.error.get("message", "")))
    return {
        "run_id": run.run_id,
        "state": run.state.value,
        "request": run.request.get("wes") or {"workflow_url": run.request.get("wdl_path")},
        "run_log": {
            "name": run.workflow_name,
            "cmd": ["miniwdl", "run", run.request.get("wdl_path") or run.workflow_key],
            "start_time": run.start_time,
            "end_time": run.end_time,
            "stdout": run.orchestrator_log,
            "stderr": run.log_location or run.orchestrator_log,
            "exit_code": run.exit_code,
            "system_logs": system_logs,
        },
        "task_logs_url": task_logs_url,
        "outputs": outputs or {},
        "outputs_location": (run.outputs or {}).get("location"),
        "error": run.error,
        "cost": dict(cost) if cost is not None else None,
        "tags": run.tags,
        "submitted_at": run.created_at,
        "run_dir": run.run_dir,
    }


def task_log(task: TaskRecord, cost: Mapping[str, float] | None = None) -> dict[str, Any]:
    """``TaskLog`` for one attempt of a call."""
    system_logs = [task.stopped_reason] if task.stopped_reason else []
    return {
        "id": task.task_id,
        "name": task.call_id or task.task_id,
        "cmd": [],
        "start_time": task.started_at,
        "end_time": task.stopped_at,
        "stdout": task.stdout,
        "stderr": task.stderr,
        "exit_code": task.exit_code,
        "system_logs": system_logs,
        "tags": {
            "state": task.state.value,
            "attempt": str(task.attempt),
            "task_arn": task.task_arn,
            **({"log_stream": task.log_stream} if task.log_stream else {}),
            **({"stop_code": task.stop_code} if task.stop_code else {}),
            **({"cost_usd": str(cost["usd"])} if cost else {}),
        },
    }


def task_list(logs: Sequence[dict[str, Any]], next_page_token: str) -> dict[str, Any]:
    """``TaskListResponse``."""
    return {"task_logs": list(logs), "next_page_token": next_page_token}


def service_info(system_state_counts: Mapping[str, int], auth: str) -> dict[str, Any]:
    """``ServiceInfo``: what this service runs and how to call it."""
    return {
        "id": "org.miniwdl-fargate",
        "name": "miniwdl-fargate",
        "type": {"group": "org.ga4gh", "artifact": "wes", "version": "1.1.0"},
        "organization": {"name": "miniwdl-fargate", "url": "https://github.com/miniwdl-fargate"},
        "version": "0.1.0",
        "workflow_type_versions": {
            WORKFLOW_TYPE: {"workflow_type_version": list(WORKFLOW_TYPE_VERSIONS)}
        },
        "supported_wes_versions": list(SUPPORTED_WES_VERSIONS),
        "supported_filesystem_protocols": ["s3", "https", "http"],
        "workflow_engine_versions": {"miniwdl": _miniwdl_version()},
        "default_workflow_engine_parameters": [
            {
                "name": name,
                "type": "string",
                "default_value": "never" if name == "delete_after" else "",
            }
            for name in ENGINE_PARAMETERS
        ],
        "system_state_counts": dict(system_state_counts),
        "auth_instructions_url": "https://docs.aws.amazon.com/IAM/latest/UserGuide/"
        "reference_sigv-create-signed-request.html"
        if auth == "iam"
        else "",
        "tags": {"auth": auth},
    }


def _miniwdl_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("miniwdl")
    except PackageNotFoundError:
        return "unknown"
