"""A small client of the project's GA4GH WES API, for the CLI (``MINIWDL_FARGATE_API``).

Three parts, each usable alone:

- ``WesClient``: typed calls to the API's routes over ``urllib`` (no extra dependency), signed
  with SigV4 for API Gateway's IAM authorization unless the API is on this machine. Errors the API
  reports (``{"msg", "status_code"}``) and failures to reach it become one ``WesError`` with a
  one-line message.
- ``package_run``: turn a local WDL file and ``miniwdl run``-style inputs into a WES run request:
  the WDL, the files it imports and names beside itself, and the local input files all travel as
  ``workflow_attachment`` parts (the API never reads the submitter's disk), with the inputs
  rewritten to the attachments' names.
- ``encode_multipart`` and ``read_location``: the request body, and reading the log locations the
  API returns (its own log URLs, read with the client's credentials; a presigned URL; a local
  path; or an ``s3://`` URI read with boto3).

A ``serve`` on another machine requires a token: ``MINIWDL_FARGATE_API_TOKEN`` (sent as
``Authorization: Bearer``; with it set, requests are not SigV4-signed unless asked).
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import logging
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict, cast

if TYPE_CHECKING:
    import WDL

ENV_API = "MINIWDL_FARGATE_API"
ENV_API_AUTH = "MINIWDL_FARGATE_API_AUTH"
# The token a non-loopback ``serve`` requires (it prints it), sent as a bearer token.
ENV_API_TOKEN = "MINIWDL_FARGATE_API_TOKEN"
WES_BASE_PATH = "/ga4gh/wes/v1"
USER_AGENT = "miniwdl-fargate-cli"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
TERMINAL_STATES = frozenset({"COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR", "CANCELED", "PREEMPTED"})
WDL_VERSIONS = ("1.0", "1.1", "1.2")
DEFAULT_WDL_VERSION = "draft-2"
INPUTS_PREFIX = "inputs"
# Answers worth one more try: throttling and API Gateway's transient errors. A POST /runs retried
# after one of these carries the same Idempotency-Key, so it cannot start a second run.
_RETRY_STATUS = frozenset({429, 502, 503, 504})
_EXECUTE_API_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")
_VERSION_LINE = re.compile(r"^\s*version\s+(\S+)")

log = logging.getLogger(__name__)


class WesError(Exception):
    """The API refused a call (its message), or could not be reached; ``str()`` is one line."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class WesConnectionError(WesError):
    """The API could not be reached at all."""


class RunRequestError(ValueError):
    """A run request that cannot be put together on this side (a missing file, bad inputs)."""


class LocationError(OSError):
    """A log or output location that cannot be read from here."""


# The API's shapes (GA4GH WES 1.1 plus this project's extensions). Every key may be absent.


class RunSummary(TypedDict):
    """One row of ``GET /runs``."""

    run_id: str
    state: str


class Log(TypedDict, total=False):
    """WES ``Log``: the run's own log, or a task's. ``stdout``/``stderr`` are locations."""

    name: str
    cmd: list[str]
    start_time: str | None
    end_time: str | None
    stdout: str | None
    stderr: str | None
    exit_code: int | None
    system_logs: list[str]


class TaskLog(Log, total=False):
    """WES ``TaskLog``: one ECS task (a WDL call attempt); ``tags`` has its state and attempt."""

    id: str
    tags: dict[str, Any]


class RunLog(TypedDict, total=False):
    """WES ``RunLog`` with the extensions ``error`` and ``cost``."""

    run_id: str
    state: str
    request: dict[str, Any]
    run_log: Log
    task_logs_url: str | None
    outputs: dict[str, Any]
    error: dict[str, Any] | None
    cost: dict[str, Any] | None


# The request


@dataclass(frozen=True)
class Attachment:
    """One ``workflow_attachment`` part: its name (relative, ``/``-separated) and content."""

    name: str
    data: bytes


@dataclass(frozen=True)
class RunRequest:
    """A WES ``RunRequest`` with its attachments, ready to encode."""

    workflow_url: str
    workflow_params: dict[str, Any]
    workflow_type_version: str
    attachments: tuple[Attachment, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    workflow_engine_parameters: dict[str, Any] | None = None
    workflow_type: str = "WDL"

    def encode(self) -> tuple[str, bytes]:
        """The ``multipart/form-data`` body: (content type, bytes)."""
        fields = [
            ("workflow_url", self.workflow_url),
            ("workflow_params", json.dumps(self.workflow_params)),
            ("workflow_type", self.workflow_type),
            ("workflow_type_version", self.workflow_type_version),
            ("tags", json.dumps(self.tags)),
        ]
        if self.workflow_engine_parameters is not None:
            fields.append(
                ("workflow_engine_parameters", json.dumps(self.workflow_engine_parameters))
            )
        files = [("workflow_attachment", a.name, a.data) for a in self.attachments]
        return encode_multipart(fields, files)


def encode_multipart(
    fields: Sequence[tuple[str, str]],
    files: Sequence[tuple[str, str, bytes]] = (),
    *,
    boundary: str | None = None,
) -> tuple[str, bytes]:
    """Encode form fields and file parts as ``multipart/form-data`` (RFC 7578).

    ``files`` are (field name, file name, content). Names are sent as UTF-8, with ``"``, CR and
    LF percent-encoded as browsers do. The boundary is checked against every part, so content
    that happens to contain it cannot cut the body short. Returns (content type, body).
    """
    contents = [value.encode() for _, value in fields] + [data for _, _, data in files]
    if boundary is None:
        boundary = "miniwdl-fargate-" + uuid.uuid4().hex
        while any(boundary.encode() in c for c in contents):
            boundary = "miniwdl-fargate-" + uuid.uuid4().hex
    elif any(boundary.encode() in c for c in contents):
        raise ValueError("the multipart boundary occurs in a part's content")
    delimiter = b"--" + boundary.encode()
    out = io.BytesIO()
    for name, value in fields:
        out.write(delimiter + b"\r\n")
        out.write(b'Content-Disposition: form-data; name="%s"\r\n' % _quote(name))
        out.write(b"\r\n" + value.encode() + b"\r\n")
    for name, filename, data in files:
        out.write(delimiter + b"\r\n")
        out.write(
            b'Content-Disposition: form-data; name="%s"; filename="%s"\r\n'
            % (_quote(name), _quote(filename))
        )
        out.write(b"Content-Type: application/octet-stream\r\n")
        out.write(b"\r\n" + data + b"\r\n")
    out.write(delimiter + b"--\r\n")
    return f"multipart/form-data; boundary={boundary}", out.getvalue()


def _quote(name: str) -> bytes:
    return name.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A").encode()


# The client


def should_sign(host: str, auth: str = "", *, has_token: bool = False) -> bool:
    """Whether requests to ``host`` are SigV4-signed: always with ``auth`` "sigv4" (or "iam", the
    app's name for it), never with "none", and otherwise (the default) unless the API is on this
    machine (``serve``) or a ``serve`` token is given (``has_token``)."""
    mode = auth.strip().lower()
    if mode == "none":
        return False
    if mode in ("sigv4", "iam"):
        return True
    if mode:
        raise WesError(f"{ENV_API_AUTH} must be 'none' or 'sigv4', not {auth!r}")
    return not has_token and host.lower().strip("[]") not in LOOPBACK_HOSTS


def region_from_host(host: str) -> str | None:
    """The region of an API Gateway endpoint (``ID.execute-api.REGION.amazonaws.com``)."""
    match = _EXECUTE_API_HOST.match(host.lower())
    return match.group(1) if match else None


class _SigV4Signer:
    """Signs requests for API Gateway's IAM authorization (service ``execute-api``)."""

    def __init__(self, host: str) -> None:
        import boto3

        session = boto3.Session()
        region = region_from_host(host) or session.region_name or os.environ.get("AWS_REGION")
        if not region:
            raise WesError(
                f"cannot tell the region of {host} to sign requests; set AWS_DEFAULT_REGION"
                f" (or {ENV_API_AUTH}=none for an API without IAM authorization)"
            )
        credentials = session.get_credentials()
        if credentials is None:
            raise WesError(
                f"no AWS credentials found to sign requests to {host}; configure them"
                f" (or set {ENV_API_AUTH}=none for an API without IAM authorization)"
            )
        self.region = region
        self.credentials = credentials

    def sign(self, method: str, url: str, body: bytes | None, headers: dict[str, str]) -> None:
        """Add the SigV4 headers (``Authorization``, ``X-Amz-Date``, token) to ``headers``."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        request = AWSRequest(method=method, url=url, data=body or b"", headers=dict(headers))
        frozen = self.credentials.get_frozen_credentials()
        SigV4Auth(frozen, "execute-api", self.region).add_auth(request)
        headers.update(request.headers.items())


class WesClient:
    """Calls to the WES API at ``base_url`` (the API's root, e.g. ``https://ID.execute-api.
    REGION.amazonaws.com/api`` or ``http://127.0.0.1:8080``; ``/ga4gh/wes/v1`` is added)."""

    def __init__(
        self,
        base_url: str,
        *,
        auth: str | None = None,
        token: str | None = None,
        timeout: float = 60.0,
        retries: int = 2,
        retry_delay: float = 0.5,
    ) -> None:
        parsed = urllib.parse.urlsplit(base_url.strip())
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise WesError(f"{ENV_API} must be the API's http(s) URL, not {base_url!r}")
        host = parsed.hostname
        netloc = f"[{host}]" if ":" in host else host
        default_port = 443 if parsed.scheme == "https" else 80
        if parsed.port is not None and parsed.port != default_port:
            netloc += f":{parsed.port}"
        path = parsed.path.rstrip("/")
        if not path.endswith(WES_BASE_PATH):
            path += WES_BASE_PATH
        self.base_url = urllib.parse.urlunsplit((parsed.scheme, netloc, path, "", ""))
        self.host = host
        self.is_local = host.lower() in LOOPBACK_HOSTS
        self.timeout = timeout
        self.retries = retries
        self.retry_delay = retry_delay
        if auth is None:
            auth = os.environ.get(ENV_API_AUTH, "")
        if token is None:
            token = os.environ.get(ENV_API_TOKEN, "")
        self.token = token.strip()
        signs = should_sign(host, auth, has_token=bool(self.token))
        self._signer = _SigV4Signer(host) if signs else None
        # A proxy from the environment must not carry calls to this machine's own API; and a
        # redirect (a log's presigned S3 URL) is followed without the API's credentials.
        handlers: list[urllib.request.BaseHandler] = [_NoRedirect()]
        if self.is_local:
            handlers.append(urllib.request.ProxyHandler({}))
        self._opener = urllib.request.build_opener(*handlers)

    @classmethod
    def from_environment(cls) -> WesClient | None:
        """The client ``MINIWDL_FARGATE_API`` names, or None when it is unset."""
        url = os.environ.get(ENV_API, "").strip()
        return cls(url) if url else None

    @property
    def signed(self) -> bool:
        """Whether requests carry SigV4 signatures."""
        return self._signer is not None

    # routes

    def service_info(self) -> dict[str, Any]:
        """``GET /service-info``."""
        return cast(dict[str, Any], self._call("GET", "/service-info"))

    def list_runs(
        self, *, page_size: int = 100, page_token: str = "", state: str | None = None
    ) -> tuple[list[RunSummary], str]:
        """One page of ``GET /runs`` (newest first): (runs, next page token or "")."""
        query: dict[str, str] = {"page_size": str(page_size)}
        if page_token:
            query["page_token"] = page_token
        if state:
            query["state"] = state
        body = self._call("GET", "/runs", query=query)
        return list(body.get("runs") or []), str(body.get("next_page_token") or "")

    def iter_runs(self, *, state: str | None = None, page_size: int = 100) -> Iterator[RunSummary]:
        """Every run, newest first, page by page."""
        token = ""
        while True:
            runs, token = self.list_runs(page_size=page_size, page_token=token, state=state)
            yield from runs
            if not token:
                return

    def submit_run(self, request: RunRequest, *, idempotency_key: str | None = None) -> str:
        """``POST /runs``; returns the new run's id. The same ``idempotency_key`` sent again (a
        retry) returns the same run instead of starting another."""
        content_type, body = request.encode()
        headers = {"Content-Type": content_type}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        answer = self._call(
            "POST", "/runs", body=body, headers=headers, retry=bool(idempotency_key)
        )
        return str(answer["run_id"])

    def get_run(self, run_id: str) -> RunLog:
        """``GET /runs/{run_id}``."""
        return cast(RunLog, self._call("GET", f"/runs/{_segment(run_id)}"))

    def get_run_status(self, run_id: str) -> RunSummary:
        """``GET /runs/{run_id}/status``."""
        return cast(RunSummary, self._call("GET", f"/runs/{_segment(run_id)}/status"))

    def list_tasks(
        self, run_id: str, *, page_size: int = 100, page_token: str = ""
    ) -> tuple[list[TaskLog], str]:
        """One page of ``GET /runs/{run_id}/tasks``: (task logs, next page token or "")."""
        query = {"page_size": str(page_size)}
        if page_token:
            query["page_token"] = page_token
        body = self._call("GET", f"/runs/{_segment(run_id)}/tasks", query=query)
        return list(body.get("task_logs") or []), str(body.get("next_page_token") or "")

    def all_tasks(self, run_id: str) -> list[TaskLog]:
        """Every task log of the run (all pages)."""
        tasks: list[TaskLog] = []
        token = ""
        while True:
            page, token = self.list_tasks(run_id, page_token=token)
            tasks += page
            if not token:
                return tasks

    def get_task(self, run_id: str, task_id: str) -> TaskLog:
        """``GET /runs/{run_id}/tasks/{task_id}``."""
        path = f"/runs/{_segment(run_id)}/tasks/{_segment(task_id)}"
        return cast(TaskLog, self._call("GET", path))

    def cancel_run(self, run_id: str) -> str:
        """``POST /runs/{run_id}/cancel``; returns the run id."""
        # No body, so no Content-Type: urllib would call an empty body a form, which the route
        # (JSON by default) refuses with 415.
        answer = self._call("POST", f"/runs/{_segment(run_id)}/cancel")
        return str(answer.get("run_id") or run_id)

    # transport

    def prepare(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> urllib.request.Request:
        """The HTTP request for one call, signed when the client signs."""
        url = self.base_url + path
        if query:
            url += "?" + urllib.parse.urlencode(sorted(query.items()), quote_via=urllib.parse.quote)
        return self._request(method, url, body, {"Accept": "application/json", **(headers or {})})

    def _request(
        self, method: str, url: str, body: bytes | None, headers: Mapping[str, str]
    ) -> urllib.request.Request:
        """A request to a URL of this API, with its credentials (signature or token)."""
        all_headers = {"User-Agent": USER_AGENT, **headers}
        if self._signer is not None:
            self._signer.sign(method, url, body, all_headers)
        elif self.token:
            all_headers["Authorization"] = f"Bearer {self.token}"
        return urllib.request.Request(url, data=body, headers=all_headers, method=method)

    def owns(self, url: str) -> bool:
        """Whether ``url`` is one of this API's (a log URL in a run or task log)."""
        return url.startswith(self.base_url + "/")

    def stream_url(
        self, url: str, *, tail_bytes: int | None = None, chunk_size: int = 1 << 16
    ) -> Iterator[bytes]:
        """The content at one of this API's log URLs (or wherever it redirects), in chunks;
        all of it, part by part (``Range``), or its last ``tail_bytes``."""
        start = 0
        while True:
            if tail_bytes is not None:
                byte_range = f"bytes=-{tail_bytes}"
            else:
                byte_range = f"bytes={start}-" if start else ""
            headers = {"Accept": "application/octet-stream"}
            if byte_range:
                headers["Range"] = byte_range
            request = self._request("GET", url, None, headers)
            with _open_location(self._opener, request, url) as response:
                if response is None:  # nothing in that range: an empty file
                    return
                yield from iter(lambda: response.read(chunk_size), b"")
                end, total = _content_range(response.headers.get("Content-Range"))
            if tail_bytes is not None or end is None or total is None or end + 1 >= total:
                return
            start = end + 1

    def _call(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        retry: bool = True,
    ) -> Any:
        attempt = 0
        while True:
            attempt += 1
            last_try = not retry or attempt > self.retries
            request = self.prepare(method, path, query=query, body=body, headers=headers)
            try:
                with self._opener.open(request, timeout=self.timeout) as response:
                    data = response.read()
            except urllib.error.HTTPError as exn:
                with contextlib.closing(exn):
                    data = exn.read()
                if exn.code in _RETRY_STATUS and not last_try:
                    time.sleep(self.retry_delay * attempt)
                    continue
                raise WesError(_error_message(exn.code, data, exn.reason), exn.code) from None
            except (urllib.error.URLError, OSError, http.client.HTTPException) as exn:
                reason = exn.reason if isinstance(exn, urllib.error.URLError) else exn
                refused = isinstance(reason, ConnectionRefusedError)
                if not refused and not last_try:
                    time.sleep(self.retry_delay * attempt)
                    continue
                raise WesConnectionError(
                    f"cannot reach the API at {self.base_url}: {_reason_text(reason)}"
                ) from None
            try:
                return json.loads(data) if data.strip() else {}
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise WesError(
                    f"the API answered {method} {path} with something that is not JSON"
                ) from None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Hands redirects back (as ``HTTPError``) instead of following them with the headers."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@contextlib.contextmanager
def _open_location(
    opener: urllib.request.OpenerDirector, request: urllib.request.Request, shown: str
) -> Iterator[Any]:
    """The response to a log URL's GET, following one redirect (to a presigned URL) without
    the API's credentials; None for a range past the end (416). ``LocationError`` else."""
    try:
        try:
            response = opener.open(request, timeout=60)
        except urllib.error.HTTPError as exn:
            location = exn.headers.get("Location") if exn.code in (301, 302, 303, 307) else None
            exn.close()
            if location is None:
                raise
            headers = {k: v for k, v in request.header_items() if k.lower() == "range"}
            plain = urllib.request.Request(location, headers=headers)
            response = urllib.request.build_opener(_NoRedirect()).open(plain, timeout=60)
    except urllib.error.HTTPError as exn:
        with contextlib.closing(exn):
            data = exn.read()
        if exn.code == 416:
            yield None
            return
        message = _error_message(exn.code, data, exn.reason)
        raise LocationError(f"cannot read {shown}: {message}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exn:
        reason = exn.reason if isinstance(exn, urllib.error.URLError) else exn
        raise LocationError(f"cannot read {shown}: {_reason_text(reason)}") from None
    with response:
        yield response


def _content_range(header: str | None) -> tuple[int | None, int | None]:
    """(last byte, total size) of a ``Content-Range: bytes A-B/TOTAL`` header."""
    match = re.fullmatch(r"\s*bytes\s+\d+-(\d+)/(\d+)\s*", header or "")
    if not match:
        return None, None
    return int(match.group(1)), int(match.group(2))


def _segment(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _reason_text(reason: object) -> str:
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__


def _error_message(status: int, data: bytes, reason: str) -> str:
    """One line from an error answer: WES's ``msg``, API Gateway's ``message``, Chalice's
    ``Message``, else the body's start."""
    message = ""
    try:
        body = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict):
        for key in ("msg", "message", "Message"):
            if isinstance(body.get(key), str) and body[key].strip():
                message = body[key]
                break
    if not message:
        message = data.decode(errors="replace").strip()[:300] or f"HTTP {status} {reason}"
    message = " ".join(message.split())
    if status == 413:
        message += " (pass large inputs as s3:// or https:// URIs instead of local files)"
    elif status == 403 and message in ("Missing Authentication Token", "Forbidden"):
        message += f" (is {ENV_API} the API's root URL, and are requests signed?)"
    return message


# Packaging a local WDL as a run request


def wdl_type_version(source: str) -> str:
    """``workflow_type_version`` of a WDL source: its ``version`` line (1.0, 1.1, 1.2), else
    "draft-2" (WDL before 1.0 had no version line)."""
    for line in source.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _VERSION_LINE.match(line)
        if match and match.group(1) in WDL_VERSIONS:
            return match.group(1)
        return DEFAULT_WDL_VERSION
    return DEFAULT_WDL_VERSION


def package_run(
    wdl_path: str,
    inputs: Sequence[str] = (),
    input_file: str | None = None,
    *,
    task: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> RunRequest:
    """A run request for a local WDL file and ``miniwdl run``-style inputs.

    The WDL is loaded with miniwdl to find what must travel with it: the files it imports, the
    files WDL 1.2 names relative to it, and the local ``File``/``Directory`` inputs (rewritten to
    their names under ``inputs/``). Attachment names are relative to the directory holding the
    WDL files. A WDL that does not load, or inputs missing, are left for the API to report, so its
    message is the one the user sees; inputs that cannot even be parsed fail here, and so do
    ``name=value`` inputs to a WDL that does not load here (their types come from the WDL: they
    could only be dropped, and the run might then start without them).
    """
    path = os.path.abspath(os.path.expanduser(wdl_path))
    if not os.path.isfile(path):
        raise RunRequestError(f"WDL file not found: {wdl_path}")
    main_source = _read(path, wdl_path)
    params_json = _read_inputs_file(input_file) if input_file else None
    version = wdl_type_version(main_source.decode(errors="replace"))
    engine = {"task": task} if task else None
    doc = _load(path)
    if doc is None:
        if inputs:
            raise RunRequestError(_local_message(wdl_path, inputs, input_file, task, None))
        # The API loads it again and says what is wrong.
        return RunRequest(
            workflow_url=os.path.basename(path),
            workflow_params=params_json or {},
            workflow_type_version=version,
            attachments=(Attachment(os.path.basename(path), main_source),),
            tags=dict(tags or {}),
            workflow_engine_parameters=engine,
        )

    from .validation import source_relative_files

    wdl_files = _local_wdl_files(doc)
    root = os.path.commonpath([os.path.dirname(f) for f in wdl_files])
    attachments: dict[str, bytes] = {}
    for wdl_file in wdl_files:
        attachments[_relative(wdl_file, root)] = _read(wdl_file, wdl_file)
    for extra in source_relative_files(doc):
        for file_path in _files_under(extra):
            attachments[_relative(file_path, root)] = _read(file_path, file_path)

    params, local_paths = _typed_inputs(doc, path, inputs, input_file, params_json, task)
    names = _input_names(local_paths, set(attachments))
    for local, name in names.items():
        if os.path.isdir(local):
            for file_path in _files_under(local):
                attachments[name + "/" + _relative(file_path, local)] = _read(file_path, file_path)
        else:
            attachments[name] = _read(local, local)
    return RunRequest(
        workflow_url=_relative(wdl_files[0], root),
        workflow_params=_rewrite_inputs(doc, params, names, task),
        workflow_type_version=version,
        attachments=tuple(Attachment(n, d) for n, d in attachments.items()),
        tags=dict(tags or {}),
        workflow_engine_parameters=engine,
    )


def _read(path: str, shown: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exn:
        raise RunRequestError(f"cannot read {shown}: {exn.strerror or exn}") from None


def _read_inputs_file(input_file: str) -> dict[str, Any]:
    """The ``-i`` file, with the local mode's messages."""
    try:
        with open(input_file, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as exn:
        raise RunRequestError(
            f"cannot read inputs file {input_file}: {exn.strerror or exn}"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exn:
        raise RunRequestError(f"inputs file {input_file} is not valid JSON: {exn}") from None
    if not isinstance(data, dict):
        raise RunRequestError(f"inputs file {input_file} must hold a JSON object")
    return data


def _load(path: str) -> WDL.Tree.Document | None:
    import WDL
    from WDL import Error as wdl_error

    try:
        return WDL.load(path)
    except (
        wdl_error.SyntaxError,
        wdl_error.ValidationError,
        wdl_error.ImportError,
        wdl_error.MultipleValidationErrors,
        OSError,
    ):
        return None


def _local_wdl_files(doc: WDL.Tree.Document) -> list[str]:
    """The main WDL file, then every file it imports from the local disk (transitively)."""
    found: list[str] = []

    def visit(d: WDL.Tree.Document) -> None:
        path = os.path.realpath(d.pos.abspath)
        if path in found:
            return
        found.append(path)
        for imported in d.imports:
            if imported.doc is not None and not _is_url(imported.uri):
                visit(imported.doc)

    visit(doc)
    return found


def _is_url(uri: str) -> bool:
    scheme = urllib.parse.urlsplit(uri).scheme
    return len(scheme) > 1 and scheme != "file"


def _files_under(path: str) -> list[str]:
    """``path`` itself if it is a file, else the files in its tree, sorted."""
    if not os.path.isdir(path):
        return [path]
    found = []
    for directory, subdirs, files in os.walk(path):
        subdirs.sort()
        found += [os.path.join(directory, f) for f in sorted(files)]
    return found


def _relative(path: str, root: str) -> str:
    return os.path.relpath(path, root).replace(os.sep, "/")


def _typed_inputs(
    doc: WDL.Tree.Document,
    wdl_path: str,
    inputs: Sequence[str],
    input_file: str | None,
    params_json: dict[str, Any] | None,
    task: str | None,
) -> tuple[Any, list[str]]:
    """The inputs as miniwdl's typed bindings, and the local files and directories they name.

    Required inputs are not checked here (the API does, with its message). A parse error is
    reported with the local mode's message.
    """
    from WDL import CLI as wdl_cli
    from WDL import Error as wdl_error
    from WDL import Value
    from WDL.runtime import config as wdl_config
    from WDL.runtime import download as wdl_download

    cfg = wdl_config.Loader(log)
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # miniwdl prints a help text on errors
            _target, env, _json = wdl_cli.runner_input(
                doc,
                list(inputs),
                json.dumps(params_json) if params_json is not None else None,
                [],
                [],
                task=task,
                check_required=False,
                downloadable=lambda fn, is_dir: wdl_download.able(cfg, fn, directory=is_dir),
                root="/",
            )
    except (
        wdl_error.InputError,
        wdl_error.SyntaxError,
        wdl_error.ValidationError,
        ValueError,
    ) as exn:
        raise RunRequestError(_local_message(wdl_path, inputs, input_file, task, exn)) from None

    local: list[str] = []

    def collect(value: Value.File | Value.Directory) -> str:
        if os.path.isabs(value.value) and os.path.exists(value.value):
            real = os.path.realpath(value.value)
            if real not in local:
                local.append(real)
        return str(value.value)

    Value.rewrite_env_paths(env, collect)
    return env, local


def _local_message(
    wdl_path: str,
    inputs: Sequence[str],
    input_file: str | None,
    task: str | None,
    exn: Exception | None,
) -> str:
    """The one-line message the local mode gives for this request (a WDL that does not load,
    inputs that do not parse)."""
    from .validation import RequestError, validate_request

    try:
        validate_request(wdl_path, list(inputs), input_file, task=task)
    except RequestError as error:
        return str(error)
    return " ".join(str(exn).split()) if exn else f"cannot load {wdl_path}"


def _input_names(local_paths: list[str], taken: set[str]) -> dict[str, str]:
    """An attachment name under ``inputs/`` for each local input path, never clashing with
    another attachment: ``inputs/NAME``, else ``inputs/2/NAME``, ``inputs/3/NAME``..."""
    names: dict[str, str] = {}
    used = set(taken)

    def clashes(name: str) -> bool:
        return any(u == name or u.startswith(name + "/") or name.startswith(u + "/") for u in used)

    for path in local_paths:
        base = os.path.basename(path.rstrip(os.sep)) or "input"
        name = f"{INPUTS_PREFIX}/{base}"
        k = 2
        while clashes(name):
            name = f"{INPUTS_PREFIX}/{k}/{base}"
            k += 1
        names[path] = name
        used.add(name)
    return names


def _rewrite_inputs(
    doc: WDL.Tree.Document, env: Any, names: dict[str, str], task: str | None
) -> dict[str, Any]:
    """The inputs JSON, local paths replaced by their attachment names."""
    from WDL import CLI as wdl_cli
    from WDL import Tree, Value, values_to_json

    def rename(value: Value.File | Value.Directory) -> str:
        if os.path.isabs(value.value) and os.path.exists(value.value):
            return names[os.path.realpath(value.value)]
        return str(value.value)

    target = wdl_cli.runner_exe(doc, task)
    rewritten = Value.rewrite_env_paths(env, rename)
    namespace = target.name if isinstance(target, Tree.Workflow) else ""
    return dict(values_to_json(rewritten, namespace=namespace))


# Reading locations


def read_location(location: str, *, tail_bytes: int | None = None) -> bytes:
    """The content at a location the API gave: an ``http(s)://`` URL (the API's log URLs), a
    local path, ``file://`` or ``s3://``.

    With ``tail_bytes``, only that many bytes from the end (an S3 ranged read).
    """
    return b"".join(stream_location(location, tail_bytes=tail_bytes))


def stream_location(
    location: str, *, tail_bytes: int | None = None, chunk_size: int = 1 << 16
) -> Iterator[bytes]:
    """The content at a location, in chunks (see ``read_location``)."""
    parsed = urllib.parse.urlsplit(location)
    if parsed.scheme == "s3":
        yield from _stream_s3(parsed.netloc, parsed.path.lstrip("/"), tail_bytes, chunk_size)
        return
    if parsed.scheme in ("http", "https"):
        yield from _stream_http(location, tail_bytes, chunk_size)
        return
    if parsed.scheme == "file":
        path = urllib.parse.unquote(parsed.path)
    elif os.path.isabs(location):
        path = location
    else:
        raise LocationError(f"cannot read {location} from here")
    try:
        with open(path, "rb") as f:
            if tail_bytes is not None:
                f.seek(max(0, os.fstat(f.fileno()).st_size - tail_bytes))
            while chunk := f.read(chunk_size):
                yield chunk
    except OSError as exn:
        raise LocationError(f"cannot read {location}: {exn.strerror or exn}") from None


def _stream_http(location: str, tail_bytes: int | None, chunk_size: int) -> Iterator[bytes]:
    """A log URL: through the API's client (its credentials) when it is one of the API's
    (``MINIWDL_FARGATE_API``), else a plain GET (a presigned URL)."""
    try:
        client = WesClient.from_environment()
    except WesError as exn:
        raise LocationError(f"cannot read {location}: {exn}") from None
    if client is not None and client.owns(location):
        yield from client.stream_url(location, tail_bytes=tail_bytes, chunk_size=chunk_size)
        return
    headers = {"Range": f"bytes=-{tail_bytes}"} if tail_bytes is not None else {}
    request = urllib.request.Request(location, headers={"User-Agent": USER_AGENT, **headers})
    with _open_location(urllib.request.build_opener(_NoRedirect()), request, location) as resp:
        if resp is not None:
            yield from iter(lambda: resp.read(chunk_size), b"")


def _stream_s3(bucket: str, key: str, tail_bytes: int | None, chunk_size: int) -> Iterator[bytes]:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    kwargs = {"Bucket": bucket, "Key": key}
    if tail_bytes is not None:
        kwargs["Range"] = f"bytes=-{tail_bytes}"
    try:
        body = boto3.client("s3").get_object(**kwargs)["Body"]
        yield from body.iter_chunks(chunk_size)
    except ClientError as exn:
        code = exn.response.get("Error", {}).get("Code", "")
        if code == "InvalidRange":  # an empty object has no last bytes
            return
        raise LocationError(f"cannot read s3://{bucket}/{key}: {exn}") from None
    except BotoCoreError as exn:
        raise LocationError(f"cannot read s3://{bucket}/{key}: {exn}") from None
