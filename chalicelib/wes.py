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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from typing import Any
from urllib.parse import quote

from .records import RunRecord, TaskRecord
from .states import State
from .wes_engine_parameters import (
    MAX_ENGINE_PARAMETER_CHARS,
    MINIWDL_PARAMETERS,
    EngineParameterError,
    check_engine_parameter,
)

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
# JSON nested deeper than this is refused before anything recurses over it (miniwdl, the store).
MAX_JSON_DEPTH = 64
# An attachment name: each part a file name a filesystem takes (NAME_MAX), the whole path bounded.
MAX_NAME_PART_BYTES = 255
MAX_ATTACHMENT_NAME_CHARS = 1024
MAX_ATTACHMENT_DEPTH = 32
# The largest page_size any list takes has this many digits at most.
MAX_PAGE_SIZE_DIGITS = 6
LOG_STREAMS = ("stdout", "stderr")
DELETE_AFTER = ("never", "success", "failure", "always")
ENGINE_PARAMETERS = {
    "task": "run this task of the WDL instead of its workflow",
    "delete_after": "delete the run's work directory after it ends: " + " | ".join(DELETE_AFTER),
}
ENGINE_PARAMETERS.update(MINIWDL_PARAMETERS)  # miniwdl run's options (wes_engine_parameters)
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
# Where the API is, when it is not API Gateway's own domain: serve sets it to the URL it prints.
ENV_PUBLIC_URL = "MINIWDL_FARGATE_PUBLIC_URL"
_EXECUTE_API_DOMAIN = re.compile(r"^[a-z0-9]+\.execute-api\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
_DOMAIN = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")


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


def api_base_url(request_context: Mapping[str, Any], public_url: str) -> str:
    """The API's URL (``.../ga4gh/wes/v1``) for the links in run and task logs, never from
    what a client sent: the configured ``public_url`` (``ENV_PUBLIC_URL``), else the domain and
    stage API Gateway received the request on (it routes by them, so they are its own), else
    the bare path."""
    if public_url:
        return public_url.rstrip("/") + BASE_PATH
    domain = str(request_context.get("domainName") or "").lower()
    stage = str(request_context.get("stage") or "")
    if domain and _DOMAIN.match(domain) and re.fullmatch(r"[A-Za-z0-9_-]{1,128}", stage):
        prefix = f"/{stage}" if _EXECUTE_API_DOMAIN.match(domain) else ""
        return f"https://{domain}{prefix}{BASE_PATH}"
    return BASE_PATH


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
    try:
        return _form_parts(BytesParser(policy=policy.HTTP).parsebytes(head + body))
    except RecursionError:  # multipart parts nested in parts, thousands deep
        raise ApiError(400, "the multipart body is nested too deeply") from None


def _form_parts(message: Any) -> tuple[dict[str, str], dict[str, bytes]]:
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
    engine_parameters = _string_map(
        fields,
        "workflow_engine_parameters",
        len(ENGINE_PARAMETERS),
        value_chars=MAX_ENGINE_PARAMETER_CHARS,  # a --cfg file's content, up to 64 KiB
    )
    for key, value in engine_parameters.items():
        if key not in ENGINE_PARAMETERS:
            known = ", ".join(sorted(ENGINE_PARAMETERS))
            raise ApiError(400, f"unknown workflow_engine_parameters key {key!r} (known: {known})")
        if key == "delete_after" and value not in DELETE_AFTER:
            raise ApiError(400, f"delete_after must be one of {', '.join(DELETE_AFTER)}")
        try:
            check_engine_parameter(key, value)
        except EngineParameterError as exn:
            raise ApiError(400, str(exn)) from None
    if len(attachments) > MAX_ATTACHMENTS:
        raise ApiError(400, f"more than {MAX_ATTACHMENTS} attachments")
    check_attachment_names(attachments)
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
    """Refuse names that could land outside the run's directory, name a directory, or that no
    filesystem takes (a part over ``MAX_NAME_PART_BYTES``, too long or too deep a path)."""
    if (
        not name
        or name.startswith("/")
        or "\\" in name
        or "\0" in name
        or ".." in name.split("/")
        or posixpath.normpath(name) in (".", "")
    ):
        raise ApiError(400, f"attachment name {_shown(name)} must be a relative path without '..'")
    if name.endswith("/"):
        raise ApiError(400, f"attachment name {_shown(name)} ends with '/': it must name a file")
    parts = posixpath.normpath(name).split("/")
    if (
        len(name) > MAX_ATTACHMENT_NAME_CHARS
        or len(parts) > MAX_ATTACHMENT_DEPTH
        or any(len(p.encode()) > MAX_NAME_PART_BYTES for p in parts)
    ):
        raise ApiError(
            400,
            f"attachment name {_shown(name)} is too long: at most {MAX_ATTACHMENT_NAME_CHARS}"
            f" characters, {MAX_ATTACHMENT_DEPTH} folders deep, {MAX_NAME_PART_BYTES} bytes a part",
        )


def check_attachment_names(names: Iterable[str]) -> None:
    """Check every name (``check_attachment_name``), and that no two name the same file
    (``a/./b`` and ``a/b``) and no file is also a folder of another (``d`` and ``d/e``): either
    would silently lose one of them when the attachments are written out."""
    normalized: dict[str, str] = {}
    for name in names:
        check_attachment_name(name)
        key = posixpath.normpath(name)
        if key in normalized:
            raise ApiError(
                400, f"attachments {_shown(normalized[key])} and {_shown(name)} are the same file"
            )
        normalized[key] = name
    for key, name in normalized.items():
        parts = key.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder in normalized:
                raise ApiError(
                    400,
                    f"attachment {_shown(normalized[folder])} is a file and also the folder of"
                    f" {_shown(name)}",
                )


def _shown(text: str, limit: int = 80) -> str:
    """``text`` quoted for a message, cut to ``limit`` characters."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


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
        value = parse_json(value, name)
    if not isinstance(value, dict):
        raise ApiError(400, f"{name} must be a JSON object")
    check_json_depth(value, name)
    return value


def parse_json(text: str | bytes, name: str) -> Any:
    """JSON text a client sent, or a 400 (too deep to parse is one too)."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise ApiError(400, f"{name} is nested more than {MAX_JSON_DEPTH} deep") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exn:
        raise ApiError(400, f"{name} is not valid JSON: {exn}") from None
    check_json_depth(value, name)
    return value


def json_depth(value: Any) -> int:
    """How deeply ``value`` nests lists and objects (a scalar: 0), without recursing."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth + 1)
        if deepest > MAX_JSON_DEPTH:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


def check_json_depth(value: Any, name: str) -> None:
    """A 400 for JSON nested more than ``MAX_JSON_DEPTH`` deep."""
    if json_depth(value) > MAX_JSON_DEPTH:
        raise ApiError(400, f"{name} is nested more than {MAX_JSON_DEPTH} deep")


def _string_map(
    fields: Mapping[str, Any], name: str, limit: int, value_chars: int = MAX_TAG_CHARS
) -> dict[str, str]:
    value = _json_object(fields, name)
    if len(value) > limit:
        raise ApiError(400, f"{name} has more than {limit} entries")
    for key, item in value.items():
        if not isinstance(item, str) or len(key) > MAX_TAG_CHARS or len(item) > value_chars:
            raise ApiError(
                400, f"{name} must map names to strings of at most {value_chars} characters"
            )
    return dict(value)


def page_size(raw: str | None, default: int = 50, maximum: int = 1000) -> int:
    """The ``page_size`` query parameter, checked (absent: ``default``; empty is not a
    number)."""
    if raw is None:
        return default
    # ASCII digits only: str.isdigit() also takes "²", which int() refuses; and a bounded length,
    # as int() refuses thousands of digits.
    if (
        not (raw.isascii() and raw.isdigit())
        or len(raw) > MAX_PAGE_SIZE_DIGITS
        or not 1 <= int(raw) <= maximum
    ):
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
    run: RunRecord,
    *,
    base_url: str,
    cost: Mapping[str, float] | None,
    workflow_type_version: str = "1.0",
    outputs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``RunLog``, plus our extensions: ``error``, ``cost``, ``tags``, ``submitted_at``,
    ``run_dir`` (on the work filesystem), ``outputs_location`` and ``outputs_url``.

    ``base_url`` is the API's (``.../ga4gh/wes/v1``): the task list and the logs are URLs under
    it, as WES has them. A run the CLI submitted in the local mode recorded no WES request: its
    ``request`` is made up from what was recorded, with ``workflow_type_version`` as given.
    Fields without a value are left out (the spec's types are not nullable). ``outputs`` are
    the run's outputs when its record holds only their location (they were too large for it).
    """
    if outputs is None:
        outputs = (run.outputs or {}).get("values") if run.outputs else None
    system_logs = []
    if run.error:
        system_logs.append(str(run.error.get("message", "")))
    request = run.request.get("wes") or {
        "workflow_url": run.request.get("wdl_path") or run.workflow_key,
        "workflow_type": WORKFLOW_TYPE,
        "workflow_type_version": workflow_type_version,
        "workflow_params": {},
        "tags": run.tags,
    }
    run_url = f"{base_url}/runs/{run.run_id}"
    log = {
        "name": run.workflow_name,
        "cmd": ["miniwdl", "run", run.request.get("wdl_path") or run.workflow_key],
        "start_time": run.start_time,
        "end_time": run.end_time,
        "stdout": f"{run_url}/logs/stdout" if run.orchestrator_log else None,
        "stderr": f"{run_url}/logs/stderr" if run.log_location or run.orchestrator_log else None,
        "exit_code": run.exit_code,
        "system_logs": system_logs,
    }
    return {
        "run_id": run.run_id,
        "state": run.state.value,
        "request": request,
        "run_log": _present(log),
        "task_logs_url": f"{run_url}/tasks",
        "outputs": dict(outputs or {}),
        "outputs_location": (run.outputs or {}).get("location"),
        # its files: ?path= relative to the run's results (where outputs_location is)
        "outputs_url": f"{run_url}/outputs",
        "error": run.error,
        "cost": dict(cost) if cost is not None else None,
        "tags": run.tags,
        "submitted_at": run.created_at,
        "run_dir": run.run_dir,
    }


def run_log_location(run: RunRecord, stream: str) -> str | None:
    """Where the run's ``stdout`` or ``stderr`` (the URLs ``run_log`` gives) is: the
    orchestrator's output, and miniwdl's ``workflow.log`` once published."""
    if stream == "stdout":
        return run.orchestrator_log
    return run.log_location or run.orchestrator_log


def task_log_location(task: TaskRecord, stream: str) -> str | None:
    """Where a task's ``stdout`` or ``stderr`` is."""
    return task.stdout if stream == "stdout" else task.stderr


_USAGE_TAGS = ("peak_memory_mib", "cpu_seconds", "disk_mib")


def task_log(
    task: TaskRecord, cost: Mapping[str, float] | None = None, *, base_url: str
) -> dict[str, Any]:
    """``TaskLog`` for one attempt of a call; ``stdout``/``stderr`` are URLs under
    ``base_url`` (see ``run_log``)."""
    system_logs = [task.stopped_reason] if task.stopped_reason else []
    if task.waiting:  # a task container waiting for the launch budget (``waiting_tasks``)
        system_logs.append(task.waiting)
    task_url = f"{base_url}/runs/{task.run_id}/tasks/{quote(task.task_id, safe='')}"
    log = {
        "id": task.task_id,
        "name": task.call_id or task.task_id,
        "cmd": [],
        "start_time": task.started_at,
        "end_time": task.stopped_at,
        "stdout": f"{task_url}/logs/stdout" if task.stdout else None,
        "stderr": f"{task_url}/logs/stderr" if task.stderr else None,
        "exit_code": task.exit_code,
        "system_logs": system_logs,
        "tags": {
            "state": task.state.value,
            "attempt": str(task.attempt),
            "task_arn": task.task_arn,
            **({"log_stream": task.log_stream} if task.log_stream else {}),
            **({"stop_code": task.stop_code} if task.stop_code else {}),
            **({"cost_usd": str(cost["usd"])} if cost else {}),
            # what the platform shim measured (``shim``), as WES tags: strings
            **{k: str(v) for k, v in (task.usage or {}).items() if k in _USAGE_TAGS},
        },
    }
    return _present(log)


def _present(log: dict[str, Any]) -> dict[str, Any]:
    """``log`` without its None values."""
    return {k: v for k, v in log.items() if v is not None}


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
        "supported_filesystem_protocols": ["s3", "https"],
        "workflow_engine_versions": {"miniwdl": {"workflow_engine_version": [_miniwdl_version()]}},
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
