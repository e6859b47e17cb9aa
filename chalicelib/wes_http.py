"""The HTTP client of the project's GA4GH WES API (``MINIWDL_FARGATE_API``), for the CLI.

``WesClient`` makes typed calls to the API's routes over ``urllib`` (no extra dependency), signed
with SigV4 for API Gateway's IAM authorization unless the API is on this machine. Errors the API
reports (``{"msg", "status_code"}``) and failures to reach it become one ``WesError`` with a
one-line message. A ``serve`` on another machine requires a token: ``MINIWDL_FARGATE_API_TOKEN``
(sent as ``Authorization: Bearer``; with it set, requests are not SigV4-signed unless asked).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypedDict, cast

if TYPE_CHECKING:
    from .wes_package import RunRequest

ENV_API = "MINIWDL_FARGATE_API"
ENV_API_AUTH = "MINIWDL_FARGATE_API_AUTH"
# The token a non-loopback ``serve`` requires (it prints it), sent as a bearer token.
ENV_API_TOKEN = "MINIWDL_FARGATE_API_TOKEN"
WES_BASE_PATH = "/ga4gh/wes/v1"
USER_AGENT = "miniwdl-fargate-cli"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
TERMINAL_STATES = frozenset({"COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR", "CANCELED", "PREEMPTED"})
# Answers worth one more try: throttling and API Gateway's transient errors. A POST /runs retried
# after one of these carries the same Idempotency-Key, so it cannot start a second run.
_RETRY_STATUS = frozenset({429, 502, 503, 504})
_EXECUTE_API_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")


class WesError(Exception):
    """The API refused a call (its message), or could not be reached; ``str()`` is one line."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class WesConnectionError(WesError):
    """The API could not be reached at all."""


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
        self,
        url: str,
        *,
        tail_bytes: int | None = None,
        chunk_size: int = 1 << 16,
        start: int = 0,
    ) -> Iterator[bytes]:
        """The content at one of this API's log URLs (or wherever it redirects), in chunks;
        all of it from byte ``start``, part by part (``Range``), or its last ``tail_bytes``."""
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
                if response is None:  # nothing in that range: an empty file, or no more
                    return
                end, total = _content_range(response.headers.get("Content-Range"))
                if start and end is None and tail_bytes is None:
                    response.read(start)  # the whole file came back, not the range asked for
                yield from iter(lambda: response.read(chunk_size), b"")
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
            if location is None:
                raise  # open: its body (the API's message) is read below
            exn.close()
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
