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
import http.client
import ipaddress
import logging
import os
import posixpath
import socket
import ssl
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .cost import record_cost, tasks_cost
from .deployment import Submitter
from .outputs import recorded_outputs
from .records import RunRecord, TaskRecord, utc_now
from .states import State
from .status import create_run
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
    from .groups import GroupError
    from .submit import IdempotencyConflict, SubmitError, submit
    from .validation import RequestError, validate_run_request

    fetched: list[str] = []
    fetch_errors: list[str] = []

    def fetch_recorded(url: str) -> bytes:
        try:
            data = fetch(url, submitter.read_s3)
        except RequestError as exn:
            fetch_errors.append(str(exn))
            raise
        if not url.startswith("s3://"):  # the stack's own bucket: the submitter's own files
            fetched.append(url)
        return data

    try:
        validated = validate_run_request(request, fetch_recorded)
    except RequestError as exn:
        message = str(exn)
        if message not in fetch_errors:
            message = validation_message(message, fetched)
        raise ApiError(400, message) from None
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
    except GroupError as exn:  # an unknown group, a bad priority, a full queue: nothing ran
        raise ApiError(_group_status(exn) if _group_status(exn) == 429 else 400, str(exn)) from None
    except SubmitError as exn:
        # The run is recorded SYSTEM_ERROR with the reason; the client gets its id.
        log.error("run %s could not start: %s", exn.run_id, exn)
        run = submitter.plane.store.get_run(exn.run_id)
        if run is None:
            raise
        return run


def validation_message(message: str, fetched: Sequence[str]) -> str:
    """The 400 message for a request that did not validate. When a document was fetched from a
    URL, miniwdl's message may quote it, so it is not passed on: a fetched page's content never
    comes back to the client. (A fetch's own failure says nothing of the content: ``_submit``
    passes those on as they are.)"""
    if not fetched:
        return message
    return (
        f"the workflow fetched from {_shown_url(fetched[0])} (or a document it imports) does not"
        " validate; fetched content is not shown: check it with miniwdl check"
    )


def fetch(url: str, read_s3: Callable[[str], bytes]) -> bytes:
    """A workflow (or an import) named by URL: ``s3://`` through the deployment, ``https://``
    from a public address only (``fetch_https``); any failure is a ``RequestError`` saying what
    could not be read, never what was read."""
    from .validation import RequestError

    try:
        if url.startswith("s3://"):
            return read_s3(url)
        return fetch_https(url)
    except FetchRefused as exn:
        raise RequestError(str(exn)) from None
    except (PermissionError, FileNotFoundError) as exn:
        raise RequestError(str(exn)) from None


class FetchRefused(Exception):
    """A URL the service will not fetch, or a fetch that failed; the message says which."""


# Where a server-side fetch may not go: besides what ipaddress calls private, loopback,
# link-local, reserved or multicast, the cloud metadata services' own addresses.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254")
)
MAX_REDIRECTS = 5


def check_fetch_url(url: str) -> tuple[str, int]:
    """(host, port) of a URL the service may fetch: ``https://`` with a host and no user
    info. Where the host resolves to is checked separately (``check_address``)."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port or 443
    except ValueError:
        raise FetchRefused(f"cannot fetch {_shown_url(url)}: not a valid URL") from None
    if parts.scheme.lower() != "https":
        raise FetchRefused(f"cannot fetch {_shown_url(url)}: only https:// and s3:// URLs")
    if not parts.hostname or parts.username is not None or parts.password is not None:
        raise FetchRefused(f"cannot fetch {_shown_url(url)}: the URL needs a host (and no user)")
    return parts.hostname, port


def is_public_address(address: str) -> bool:
    """Whether a server-side fetch may connect to ``address``: a global unicast address, not
    loopback, link-local, private, shared, reserved, multicast or a metadata service (an
    IPv4-mapped or 6to4/Teredo IPv6 address is judged by the IPv4 address inside)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if inner is not None and not is_public_address(str(inner)):
            return False
    return ip.is_global and not ip.is_multicast and ip not in METADATA_ADDRESSES


def resolve_public(host: str, port: int) -> str:
    """The address to connect to for ``host``: every address it resolves to must be public
    (``is_public_address``), so neither a name nor a rebinding DNS answer reaches this machine,
    its network or a metadata service. The connection then goes to the address checked here."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exn:
        raise FetchRefused(f"cannot fetch from {host}: cannot resolve it ({exn})") from None
    addresses = [str(info[4][0]) for info in infos]
    if not addresses or not all(is_public_address(a) for a in addresses):
        raise FetchRefused(
            f"cannot fetch from {host}: it is not a public address (loopback, private,"
            " link-local and metadata addresses are refused)"
        )
    return addresses[0]


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection to an address already checked, with TLS verified for the host."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def fetch_https(
    url: str,
    *,
    max_bytes: int = MAX_FETCH_BYTES,
    timeout: float = FETCH_TIMEOUT_SECONDS,
    connection: Callable[[str, int, str, float], http.client.HTTPConnection] | None = None,
) -> bytes:
    """GET an ``https://`` URL from a public address, following up to ``MAX_REDIRECTS``
    redirects (each checked again), within ``max_bytes`` and ``timeout`` seconds in all.
    ``connection`` makes the connection to a checked address (tests give a plain-HTTP one)."""
    connect = connection or _PinnedHTTPSConnection
    deadline = time.monotonic() + timeout
    shown = _shown_url(url)
    for _ in range(MAX_REDIRECTS + 1):
        host, port = check_fetch_url(url)
        address = resolve_public(host, port)
        parts = urllib.parse.urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn = connect(host, port, address, _remaining(deadline, shown))
        try:
            conn.request("GET", target, headers={"User-Agent": "miniwdl-fargate"})
            response = conn.getresponse()
            if response.status in (301, 302, 303, 307, 308):
                location = response.getheader("Location") or ""
                url = urllib.parse.urljoin(url, location)
                continue
            if response.status != 200:
                raise FetchRefused(f"cannot fetch {shown}: HTTP {response.status}")
            declared = response.getheader("Content-Length") or ""
            if declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
                raise FetchRefused(f"{shown} is larger than {max_bytes // (1024 * 1024)} MiB")
            return _read_bounded(response, conn, max_bytes, deadline, shown)
        except (OSError, http.client.HTTPException) as exn:
            reason = "timed out" if isinstance(exn, TimeoutError) else type(exn).__name__
            raise FetchRefused(f"cannot fetch {shown}: {reason}") from None
        finally:
            conn.close()
    raise FetchRefused(f"cannot fetch {shown}: more than {MAX_REDIRECTS} redirects")


def _read_bounded(
    response: http.client.HTTPResponse,
    conn: http.client.HTTPConnection,
    max_bytes: int,
    deadline: float,
    shown: str,
) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        if conn.sock is not None:
            conn.sock.settimeout(_remaining(deadline, shown))
        chunk = response.read1(64 * 1024)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise FetchRefused(f"{shown} is larger than {max_bytes // (1024 * 1024)} MiB")
        chunks.append(chunk)


def _remaining(deadline: float, shown: str) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise FetchRefused(f"cannot fetch {shown}: timed out")
    return left


def _shown_url(url: str, limit: int = 200) -> str:
    """A URL for a message: without its query (it may carry a signature), cut to ``limit``."""
    text = url.split("?", 1)[0].split("#", 1)[0]
    return text if len(text) <= limit else text[:limit] + "..."


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
    version = "1.0" if run.request.get("wes") else _local_wdl_version(run.request.get("wdl_path"))
    outputs = recorded_outputs(run, submitter.objects) if run.outputs else None
    return wes.run_log(
        run, base_url=base_url, cost=cost, workflow_type_version=version, outputs=outputs
    )


def _local_wdl_version(path: object) -> str:
    """The WDL version of a workflow the CLI submitted from this machine (its ``version``
    line), for the run log's request; "1.0" when the file is gone."""
    from .wes_client import wdl_type_version

    if not isinstance(path, str) or not path:
        return "1.0"
    try:
        with open(path, "rb") as f:
            head = f.read(64 * 1024)
    except OSError:
        return "1.0"
    return wdl_type_version(head.decode("utf-8", errors="replace"))


def list_runs(submitter: Submitter, query: Mapping[str, str]) -> dict[str, Any]:
    """``GET /runs``: newest first, paged (and our ``state`` filter)."""
    from . import wes

    size = wes.page_size(query.get("page_size"))
    state = wes.state_filter(query.get("state"))
    try:
        runs, token = submitter.plane.store.list_runs(
            state=state, page_size=size, page_token=query.get("page_token") or ""
        )
    except (ValueError, RecursionError):  # a token decoding to JSON nested thousands deep
        raise ApiError(400, "page_token is not one this service issued") from None
    return wes.run_list(runs, token)


def list_tasks(
    submitter: Submitter, run_id: str, query: Mapping[str, str], base_url: str
) -> dict[str, Any]:
    """``GET /runs/{run_id}/tasks``: every attempt of every call, oldest first, paged."""
    from . import wes

    get_run(submitter, run_id)
    size = wes.page_size(query.get("page_size"))
    start = _offset(query.get("page_token") or "")
    tasks = submitter.plane.store.list_tasks(run_id)
    page = tasks[start : start + size]
    token = _token(start + size) if start + size < len(tasks) else ""
    prices = submitter.plane.prices
    logs = [
        wes.task_log(t, record_cost(t, prices=prices).as_dict(), base_url=base_url) for t in page
    ]
    return wes.task_list(logs, token)


def get_task(submitter: Submitter, run_id: str, task_id: str, base_url: str) -> dict[str, Any]:
    """``GET /runs/{run_id}/tasks/{task_id}``."""
    from . import wes

    task = _task(submitter, run_id, task_id)
    cost = record_cost(task, prices=submitter.plane.prices).as_dict()
    return wes.task_log(task, cost, base_url=base_url)


def _task(submitter: Submitter, run_id: str, task_id: str) -> TaskRecord:
    task = submitter.plane.store.get_task(task_id)
    if task is None or task.run_id != run_id:
        raise ApiError(404, f"no task {task_id!r} in run {run_id!r}")
    return task


# logs

MAX_LOG_CHUNK_BYTES = 4 * 1024 * 1024  # one answer's most (a Lambda answer is at most 6 MB)
PRESIGNED_URL_SECONDS = 300


@dataclasses.dataclass(frozen=True)
class LogAnswer:
    """What ``GET .../logs/{stream}`` answers: a part of the file (``content`` from byte
    ``start`` of ``size``), or a short-lived URL to redirect to."""

    content: bytes = b""
    start: int = 0
    size: int = 0
    partial: bool = False
    redirect: str = ""


def log_answer(
    submitter: Submitter, run_id: str, task_id: str | None, stream: str, range_header: str
) -> LogAnswer:
    """A run's (or one of its task's) ``stdout`` or ``stderr``, the URLs the run and task logs
    give. The file is the one the store recorded for that run or task, and must lie in the
    run's own directories, so no request can name another file. Locally it is read (up to
    ``MAX_LOG_CHUNK_BYTES`` an answer, ``Range: bytes=...`` for the rest); in S3 it is a
    presigned URL, valid for ``PRESIGNED_URL_SECONDS``."""
    from . import wes

    if stream not in wes.LOG_STREAMS:
        raise ApiError(404, f"no log {stream!r}: logs are {' and '.join(wes.LOG_STREAMS)}")
    run = get_run(submitter, run_id)
    if task_id is None:
        location = wes.run_log_location(run, stream)
        shown = f"run {run_id}"
    else:
        location = wes.task_log_location(_task(submitter, run_id, task_id), stream)
        shown = f"task {task_id}"
    if not location:
        raise ApiError(404, f"{shown} has no {stream} yet")
    location = published_location(submitter, run, location)
    return _file_answer(
        submitter, location, _run_roots(submitter, run), range_header, f"the {stream} of {shown}"
    )


def output_answer(submitter: Submitter, run_id: str, path: str, range_header: str) -> LogAnswer:
    """A file of a run's results (its outputs, ``outputs.json``, its published logs): ``path``
    is relative to the run's results (``results/RUN/``), where the run log's File outputs are.
    Read or redirected as ``log_answer`` does; nothing outside the run's results."""
    from .objects import DirectoryObjects, result_key

    get_run(submitter, run_id)
    relative = posixpath.normpath(path)
    if (
        not path
        or "\0" in path
        or posixpath.isabs(relative)
        or relative.split("/")[0] in ("..", ".")
        or len(path) > 4096
    ):
        raise ApiError(400, "path must be a file's path relative to the run's results")
    location = submitter.objects.location(result_key(run_id, relative))
    roots = []
    if isinstance(submitter.objects, DirectoryObjects):
        roots = [os.path.realpath(submitter.objects.location(result_key(run_id, "")))]
    return _file_answer(
        submitter, location, roots, range_header, f"output {relative!r} of run {run_id}"
    )


def _file_answer(
    submitter: Submitter, location: str, roots: Sequence[str], range_header: str, shown: str
) -> LogAnswer:
    """An ``s3://`` location as a presigned URL; a local one read, if it lies under
    ``roots``."""
    if location.startswith("s3://"):
        return LogAnswer(redirect=_presign(submitter, location))
    path = os.path.realpath(location) if os.path.isabs(location) else ""
    if not path or not any(path == r or path.startswith(r + os.sep) for r in roots):
        raise ApiError(404, f"{shown} cannot be read through the API")
    return _read_log(path, range_header, shown)


def published_location(submitter: Submitter, run: RunRecord, location: str) -> str:
    """Where a log in the run's directory is published when that directory is not on this
    machine (on AWS: EFS, which the API's Lambda does not mount): its copy under the run's
    ``results/RUN/logs/``, once the run has ended. Other locations are as they are."""
    from .objects import DirectoryObjects, result_key

    if isinstance(submitter.objects, DirectoryObjects) or not run.run_dir:
        return location
    relative = posixpath.relpath(posixpath.normpath(location), posixpath.normpath(run.run_dir))
    if relative.startswith("..") or posixpath.isabs(relative):
        return location
    return submitter.objects.location(result_key(run.run_id, f"logs/{relative}"))


def _run_roots(submitter: Submitter, run: RunRecord) -> list[str]:
    """The run's own places on this machine: its work directory, its published logs, the log
    its orchestrator writes (with a local objects store only: on AWS none is on this disk)."""
    from .objects import DirectoryObjects, result_key

    if not isinstance(submitter.objects, DirectoryObjects):
        return []
    roots = [
        submitter.objects.location(result_key(run.run_id, "logs")),
        submitter.orchestrator_spec(run.run_id).log_path or "",
    ]
    if run.run_dir:
        roots.append(run.run_dir)
    return [os.path.realpath(r) for r in roots if r]


def _read_log(path: str, range_header: str, shown: str) -> LogAnswer:
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            start, end = byte_range(range_header, size)
            end = min(end, start + MAX_LOG_CHUNK_BYTES)
            f.seek(start)
            content = f.read(end - start)
    except FileNotFoundError:
        raise ApiError(404, f"{shown} is not there (yet)") from None
    except IsADirectoryError:
        raise ApiError(404, f"{shown} cannot be read through the API") from None
    partial = bool(range_header) or len(content) < size
    return LogAnswer(content=content, start=start, size=size, partial=partial)


def byte_range(header: str, size: int) -> tuple[int, int]:
    """The bytes ``[start, end)`` of a ``size``-byte file an HTTP ``Range`` header asks for
    (one range: ``bytes=A-B``, ``bytes=A-`` or ``bytes=-N``; none: the whole file); a 416 for
    one that cannot be satisfied or is not understood."""
    if not header:
        return 0, size
    unit, _, spec = header.strip().partition("=")
    first, dash, last = spec.strip().partition("-")
    digits = all(not p or (p.isascii() and p.isdigit() and len(p) <= 18) for p in (first, last))
    if unit.strip().lower() != "bytes" or not dash or not digits or not (first or last):
        raise ApiError(416, "Range must be one byte range: bytes=A-B, bytes=A- or bytes=-N")
    if not first:
        return max(0, size - int(last)), size
    start = int(first)
    end = min(size, int(last) + 1) if last else size
    if (start >= size and size > 0) or end < start:
        raise ApiError(416, f"the range {header.strip()!r} is outside the {size} bytes")
    return min(start, size), end


def _presign(submitter: Submitter, location: str) -> str:
    """A GET URL for an ``s3://`` object, valid for ``PRESIGNED_URL_SECONDS``."""
    client = getattr(submitter.objects, "client", None)
    if client is None:
        raise ApiError(404, "logs in S3 cannot be read without the AWS deployment")
    bucket, _, key = location.removeprefix("s3://").partition("/")
    url: str = client.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=PRESIGNED_URL_SECONDS
    )
    return url


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


# run groups: a miniwdl-fargate resource beside WES's runs (docs/run-groups.md)

MAX_GROUP_BODY_BYTES = 16 * 1024


def list_groups(submitter: Submitter) -> dict[str, Any]:
    """``GET /groups``: every run group, ``default`` (its limits from configuration) first."""
    from .admission import read_group
    from .groups import DEFAULT_GROUP

    plane = _grouped(submitter)
    default, _revision = read_group(plane, DEFAULT_GROUP)
    others = [g for g in plane.store.list_groups() if g.name != DEFAULT_GROUP]
    return {"groups": [g.describe() for g in (default, *others)]}


def get_group(submitter: Submitter, name: str) -> dict[str, Any]:
    """``GET /groups/{name}``."""
    from .admission import read_group
    from .groups import GroupError

    try:
        group, _revision = read_group(_grouped(submitter), name)
    except GroupError as exn:
        raise ApiError(_group_status(exn), str(exn)) from None
    return group.describe()


def put_group(submitter: Submitter, body: bytes, name: str | None = None) -> dict[str, Any]:
    """``POST /groups`` (create; the body names it) or ``PATCH /groups/{name}`` (change the
    limits given; ``null`` clears one). The body is JSON: ``name``, ``description``,
    ``max_runs``, ``max_vcpus``, ``max_gpus``, ``max_duration`` (seconds, or "12h"),
    ``max_cost_usd``. Raising a limit admits the runs that now fit."""
    from . import wes
    from .admission import create_or_update_group, read_group
    from .groups import GroupError, check_name, parse_limits

    if len(body) > MAX_GROUP_BODY_BYTES:
        raise ApiError(400, f"a group is at most {MAX_GROUP_BODY_BYTES // 1024} KiB of JSON")
    data = wes.parse_json(body or b"{}", "the group")
    if not isinstance(data, dict):
        raise ApiError(400, "the group must be a JSON object")
    plane = _grouped(submitter)
    try:
        if name is None:
            group_name = check_name(data.get("name"))
            limits = parse_limits(data)
            description = _description(data.get("description", ""))
            record = create_or_update_group(plane, group_name, limits, description, create=True)
        else:
            if "name" in data and data["name"] != name:
                raise GroupError("a group cannot be renamed")
            current, _revision = read_group(plane, check_name(name))
            limits = parse_limits(data, current.limits)
            description = _description(data.get("description", current.description))
            record = create_or_update_group(plane, name, limits, description, create=False)
    except GroupError as exn:
        raise ApiError(_group_status(exn), str(exn)) from None
    return record.describe()


def delete_group(submitter: Submitter, name: str) -> dict[str, Any]:
    """``DELETE /groups/{name}``: only a group with no run admitted or waiting."""
    from .admission import delete_group as delete
    from .groups import GroupError

    try:
        delete(_grouped(submitter), name)
    except GroupError as exn:
        raise ApiError(_group_status(exn), str(exn)) from None
    return {"name": name}


def _grouped(submitter: Submitter) -> Any:
    if submitter.plane.admission is None:
        raise ApiError(501, "run groups are not enabled on this deployment")
    return submitter.plane


def _description(value: object) -> str:
    if not isinstance(value, str) or len(value) > 1024:
        raise ApiError(400, "description must be a string of at most 1024 characters")
    return value


def _group_status(exn: Exception) -> int:
    """The HTTP status of a group error: 404 unknown, 409 busy or taken, 429 queue full."""
    from .admission import GroupBusy, GroupExists, QueueFull, UnknownGroup

    if isinstance(exn, UnknownGroup):
        return 404
    if isinstance(exn, GroupBusy | GroupExists):
        return 409
    if isinstance(exn, QueueFull):
        return 429
    return 400


def _offset(token: str) -> int:
    if not token:
        return 0
    try:
        if len(token) > 32:  # ours encode an int: a longer one is not ours (nor a huge int)
            raise ValueError
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

    body = wes.parse_json(data, "the submission")
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
        create_run(submitter.plane, run)
    except RunExists:
        return run_id
    log.warning("rejected submission %s: %s", source, reason)
    return run_id
