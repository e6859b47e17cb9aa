"""``miniwdl-fargate serve``: the app's GA4GH WES API on this machine, over the local mode.

The routes are the Chalice app's own (``app.py``), run by Chalice's local gateway, so the API
the CLI talks to locally is the one API Gateway serves on AWS. The app picks its adapters from the
environment (``chalicelib.deployment``): serving sets ``MINIWDL_FARGATE_HOME`` and refuses an AWS
deployment's ``MINIWDL_FARGATE_TABLE``.

Whoever can call the API can run commands as this user, and any web page the user visits can
send requests to this machine. So the HTTP server in front of the gateway (``create_server``)
answers only its own names, no other page, and the token off loopback (``refusal``); judges a
body's length before reading it (``body_length``) and times slow ones out; and serves many
clients at once with a fixed pool of threads (``PooledHTTPServer``).

``app.py`` sits at the root of the project checkout, beside ``chalicelib/`` (the package is
installed editable from it), and is loaded from there by path.
"""

from __future__ import annotations

import contextlib
import getpass
import hmac
import importlib.util
import ipaddress
import json
import os
import queue
import secrets
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import FrameType, ModuleType
from typing import TYPE_CHECKING, Any

from . import wes
from .deployment import ENV_TABLE
from .local_mode import ENV_HOME
from .wes import ApiError
from .wes_client import ENV_API_AUTH, ENV_API_TOKEN

if TYPE_CHECKING:
    from chalice.app import Chalice

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
APP_MODULE = "miniwdl_fargate_app"


class ServeError(RuntimeError):
    """The API cannot be served; the message says why, in one line."""


def app_path() -> Path:
    """Where ``app.py`` is: the project root, the parent of this package's directory."""
    return Path(__file__).resolve().parent.parent / "app.py"


def load_app(path: Path | None = None) -> Chalice:
    """Import ``app.py`` from ``path`` (default: the checkout's) and return its ``app``."""
    path = path or app_path()
    if not path.is_file():
        raise ServeError(
            f"serve needs the project's app.py beside chalicelib/ ({path} is missing):"
            " install miniwdl-fargate editable from a checkout (pip install -e .)"
        )
    try:
        from chalice.app import Chalice
    except ImportError:
        raise ServeError(
            "serve needs Chalice, a dependency of miniwdl-fargate: reinstall it (pip install -e .)"
        ) from None
    module = _import_file(path)
    app = getattr(module, "app", None)
    if not isinstance(app, Chalice):
        raise ServeError(f"{path} defines no Chalice object named app")
    return app


def _import_file(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(APP_MODULE, path)
    if spec is None or spec.loader is None:
        raise ServeError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[APP_MODULE] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[APP_MODULE]
        raise
    return module


def prepare_environment(home: str, environ: MutableMapping[str, str]) -> None:
    """Point the app at the local mode's ``home``; refuse an AWS deployment's environment.

    The app reads both when it is imported and per request. Chalice's local server cannot check
    IAM signatures (it admits every request), so the app is told its API is unauthenticated,
    which its service-info then says.
    """
    if environ.get(ENV_TABLE):
        raise ServeError(
            f"{ENV_TABLE} is set, which selects the AWS control plane; serve runs the local"
            f" mode's API: unset {ENV_TABLE}"
        )
    environ[ENV_HOME] = os.path.abspath(home)
    environ[ENV_API_AUTH] = "none"


# Limits of the local server (API Gateway has its own on AWS).
WORKER_THREADS = 16  # requests served at once; more connections wait in the queue
MAX_WAITING_CONNECTIONS = 1024  # accepted and waiting for a worker; beyond, refused at once
LISTEN_BACKLOG = 128  # connections the kernel holds before they are accepted
IDLE_TIMEOUT_SECONDS = 10.0  # a request line and headers, or the next request on a connection
IDLE_POLL_SECONDS = 0.1  # how soon an idle kept-alive connection yields to a waiting one
HEADER_TIMEOUT_SECONDS = 10.0  # a request line and all its headers
WATCHDOG_INTERVAL_SECONDS = 0.25  # how often late headers are looked for
BODY_TIMEOUT_SECONDS = 30.0  # a whole request body
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# Sec-Fetch-Site values a browser sends only for the server's own pages or a typed URL.
SAME_ORIGIN_FETCH_SITES = frozenset({"same-origin", "none"})


@dataclass(frozen=True)
class Gate:
    """Who may call the local API: requests whose ``Host`` is one of ``hosts`` (``name:port``
    as a client writes it), from no browser page but the server's own (``Origin``,
    ``Sec-Fetch-Site``), and with the ``token`` as a bearer token when there is one."""

    hosts: frozenset[str]
    token: str | None = None

    @property
    def origins(self) -> frozenset[str]:
        """The browser origins of the server's own pages."""
        return frozenset(f"http://{h}" for h in self.hosts)


def is_loopback(host: str) -> bool:
    """Whether listening on ``host`` reaches only this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_wildcard(host: str) -> bool:
    """Whether listening on ``host`` means every address of this machine."""
    return host.strip("[]") in ("", "0.0.0.0", "::")


def host_names(host: str, machine_names: Sequence[str] = ()) -> list[str]:
    """The names a client may use for a server listening on ``host``, the one to show first:
    the loopback names for a loopback address; for a wildcard address those and
    ``machine_names`` (this machine's host names, the first shown); else ``host`` itself."""
    bare = host.strip("[]").lower()
    loopback = ["127.0.0.1", "localhost", "[::1]"]
    if is_wildcard(bare):
        machine = [n.lower() for n in machine_names if n]
        return list(dict.fromkeys([*machine, *loopback]))
    if is_loopback(bare):
        shown = f"[{bare}]" if ":" in bare else ("127.0.0.1" if bare == "localhost" else bare)
        return list(dict.fromkeys([shown, *loopback]))
    return [f"[{bare}]" if ":" in bare else bare]


def allowed_hosts(names: Sequence[str], port: int) -> frozenset[str]:
    """``Host`` header values for ``names`` on ``port`` (no port needed on 80)."""
    hosts = {f"{n}:{port}" for n in names}
    if port == 80:
        hosts |= set(names)
    return frozenset(h.lower() for h in hosts)


def refusal(headers: Message, gate: Gate) -> ApiError | None:
    """Why the local API refuses a request, from its headers alone (None: it may go on).

    A web page the user visits can send a request to this machine (a form POST needs no CORS
    preflight), and a DNS-rebinding page can do it under its own name; the API runs commands
    as this user, so it answers only its own names, no other page, and the token when set.
    """
    hosts = headers.get_all("Host") or []
    if len(hosts) != 1 or hosts[0].strip().lower() not in gate.hosts:
        return ApiError(421, "this server does not answer for that Host")
    origin = headers.get("Origin")
    if origin is not None and origin.strip().lower() not in gate.origins:
        return ApiError(403, "requests from other web pages are refused")
    site = headers.get("Sec-Fetch-Site")
    if site is not None and site.strip().lower() not in SAME_ORIGIN_FETCH_SITES:
        return ApiError(403, "requests from other web pages are refused")
    if gate.token is not None:
        scheme, _, presented = (headers.get("Authorization") or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            presented.strip().encode(), gate.token.encode()
        ):
            return ApiError(
                401, f"send the API token: Authorization: Bearer TOKEN ({ENV_API_TOKEN})"
            )
    return None


def body_length(method: str, headers: Message, max_bytes: int) -> int:
    """The request body's length, checked before any of it is read: one plain decimal
    ``Content-Length`` (required with a body method), within ``max_bytes``; no chunked bodies."""
    if headers.get("Transfer-Encoding") is not None:
        raise ApiError(411, "send the body with a Content-Length, not Transfer-Encoding")
    values = {v.strip() for v in headers.get_all("Content-Length") or []}
    if not values:
        if method.upper() in BODY_METHODS:
            raise ApiError(411, f"{method.upper()} needs a Content-Length")
        return 0
    value = values.pop()
    if values or not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise ApiError(400, "Content-Length must be one whole number of bytes")
    length = int(value)
    if length > max_bytes:
        raise ApiError(413, f"the request body is over {max_bytes // (1024 * 1024)} MiB")
    return length


def api_token(host: str, allow_unauthenticated: bool, environ: Mapping[str, str]) -> str | None:
    """The token a server on ``host`` requires: none on a loopback address (only this
    machine's users reach it) or when ``allow_unauthenticated``; else ``ENV_API_TOKEN`` if
    set, else a new random one."""
    if is_loopback(host) or allow_unauthenticated:
        return None
    return environ.get(ENV_API_TOKEN, "").strip() or secrets.token_urlsafe(32)


class PooledHTTPServer(HTTPServer):
    """An HTTP server with a fixed pool of worker threads and a deep listen backlog.

    Accepted connections wait in a queue for a worker (up to ``MAX_WAITING_CONNECTIONS``;
    beyond that they are closed at once), so many clients at once are all answered with
    ``WORKER_THREADS`` threads. A kept-alive connection keeps its worker only while no other
    connection waits (see ``RequestHandler.end_headers``), and a request's line and headers
    must all arrive within ``HEADER_TIMEOUT_SECONDS`` (``watch``), so that clients sending them
    a byte at a time cannot hold every worker.
    """

    request_queue_size = LISTEN_BACKLOG
    gate = Gate(hosts=frozenset())

    def __init__(self, address: tuple[str, int], handler: Any, workers: int = WORKER_THREADS):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self._waiting: queue.Queue[tuple[socket.socket, Any] | None] = queue.Queue()
        self._workers: list[threading.Thread] = []
        self._deadlines: dict[socket.socket, float] = {}
        self._deadlines_lock = threading.Lock()
        self._closed = threading.Event()
        super().__init__(address, handler)  # binds, or closes and raises
        self._workers = [
            threading.Thread(target=self._work, name=f"serve-{self.server_address[1]}-{i}")
            for i in range(workers)
        ]
        for worker in self._workers:
            worker.daemon = True
            worker.start()
        threading.Thread(target=self._watchdog, name="serve-watchdog", daemon=True).start()

    def watch(self, connection: socket.socket, seconds: float) -> None:
        """Close ``connection`` unless ``unwatch`` is called within ``seconds``."""
        with self._deadlines_lock:
            self._deadlines[connection] = time.monotonic() + seconds

    def unwatch(self, connection: socket.socket) -> bool:
        """End the watch of ``connection``; whether it ended in time (not closed)."""
        with self._deadlines_lock:
            return self._deadlines.pop(connection, None) is not None

    def _watchdog(self) -> None:
        while not self._closed.wait(WATCHDOG_INTERVAL_SECONDS):
            now = time.monotonic()
            with self._deadlines_lock:
                late = [c for c, deadline in self._deadlines.items() if deadline < now]
                for connection in late:
                    del self._deadlines[connection]
            for connection in late:
                with contextlib.suppress(OSError):  # the client may have gone already
                    connection.shutdown(socket.SHUT_RDWR)

    def process_request(self, request: Any, client_address: Any) -> None:
        if self._waiting.qsize() >= MAX_WAITING_CONNECTIONS:
            self.shutdown_request(request)
            return
        self._waiting.put((request, client_address))

    def others_waiting(self) -> bool:
        """Whether a connection waits for a worker."""
        return not self._waiting.empty()

    def _work(self) -> None:
        while (item := self._waiting.get()) is not None:
            request, client_address = item
            try:
                self.finish_request(request, client_address)
            except Exception:  # noqa: BLE001  # one bad connection must not end a worker
                self.handle_error(request, client_address)
            finally:
                self.shutdown_request(request)

    def server_close(self) -> None:
        super().server_close()
        self._closed.set()
        for _ in self._workers:
            self._waiting.put(None)


def create_server(app: Chalice, host: str, port: int) -> PooledHTTPServer:
    """The local server for ``app`` on ``host:port`` (port 0: any free port), its ``gate``
    still to be set (it needs the bound port).

    Requests become API Gateway proxy events through Chalice's local gateway; bodies of the
    app's ``binary_types`` (the ``multipart/form-data`` of ``POST /runs``) arrive
    base64-encoded, as API Gateway sends them. Before that, ``refusal`` and ``body_length``
    judge the headers, and a body is read only when both pass.
    """
    from chalice.config import Config
    from chalice.local import (
        ChaliceRequestHandler,
        CustomLocalChalice,
        LambdaEventConverter,
        LocalChalice,
        LocalGateway,
        LocalGatewayException,
        RouteMatcher,
    )

    if not isinstance(app, LocalChalice):
        # As Chalice's own local server does: the current request becomes per thread.
        CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
        app.__class__ = CustomLocalChalice

    class MediaTypeEventConverter(LambdaEventConverter):
        """Chalice's converter compares the whole Content-Type (boundary included) under a
        lower-case header name only; API Gateway matches the media type, any header case."""

        def _is_binary(self, headers: dict[str, Any]) -> bool:
            content_type = next(
                (str(v) for k, v in headers.items() if k.lower() == "content-type"), ""
            )
            return is_binary_type(content_type, self._binary_types)

    config = Config.create(app_name=app.app_name, lambda_timeout=900, lambda_memory_size=512)
    gateway = LocalGateway(app, config)
    gateway.event_converter = MediaTypeEventConverter(
        RouteMatcher(list(app.routes)), app.api.binary_types
    )

    class RequestHandler(ChaliceRequestHandler):
        """Chalice's handler, gated (``refusal``, ``body_length``), with timeouts, and each
        answer sent in one write with Nagle's algorithm off (a kept-alive connection otherwise
        waits for the client's delayed ACK between the headers and the body)."""

        timeout = IDLE_TIMEOUT_SECONDS
        wbufsize = 1 << 16
        disable_nagle_algorithm = True
        server: PooledHTTPServer

        def __init__(self, request: Any, client_address: Any, server: Any) -> None:
            self.local_gateway = gateway
            BaseHTTPRequestHandler.__init__(self, request, client_address, server)

        def _generic_handle(self) -> None:
            if not self.server.unwatch(self.connection):
                # the headers came too late: the watchdog closed the connection
                self.close_connection = True
                return
            try:
                error = refusal(self.headers, self.server.gate)
                length = body_length(self.command, self.headers, wes.MAX_BODY_BYTES)
            except ApiError as exn:
                error = error or exn
            if error is not None:
                self._refuse(error)
                return
            try:
                body = self._read_body(length)
            except TimeoutError:
                self._refuse(
                    ApiError(408, f"the body did not arrive in {BODY_TIMEOUT_SECONDS:g} s")
                )
                return
            except ConnectionError:
                self.close_connection = True
                return
            self._answer(body)

        def _answer(self, body: bytes | None) -> None:
            """Chalice's handling of one request, from its parsed headers and body."""
            try:
                response = self.local_gateway.handle_request(
                    method=self.command, path=self.path, headers=dict(self.headers), body=body
                )
                headers = response["headers"].copy()
                headers.update(response["multiValueHeaders"])
                response = self._handle_binary(response)
                self._send_http_response(response["statusCode"], headers, response["body"])
            except LocalGatewayException as exn:
                self._send_error_response(exn)

        def _read_body(self, length: int) -> bytes | None:
            """``length`` bytes of body, all within ``BODY_TIMEOUT_SECONDS``."""
            if length == 0:
                return None
            deadline = time.monotonic() + BODY_TIMEOUT_SECONDS
            chunks: list[bytes] = []
            remaining = length
            try:
                while remaining:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise TimeoutError
                    self.connection.settimeout(min(left, IDLE_TIMEOUT_SECONDS))
                    chunk = self.rfile.read1(min(remaining, 1 << 16))
                    if not chunk:
                        raise ConnectionError("the client closed the connection")
                    chunks.append(chunk)
                    remaining -= len(chunk)
            finally:
                self.connection.settimeout(self.timeout)
            return b"".join(chunks)

        def _refuse(self, error: ApiError) -> None:
            """Answer a WES ErrorResponse and close: the body, if any, is left unread."""
            data = json.dumps(error.body()).encode()
            self.send_response(error.status_code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if error.status_code == 401:
                self.send_header("WWW-Authenticate", "Bearer")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)

        def handle_one_request(self) -> None:
            # the request line and headers, until _generic_handle: within the header timeout
            self.server.watch(self.connection, HEADER_TIMEOUT_SECONDS)
            try:
                super().handle_one_request()
            finally:
                self.server.unwatch(self.connection)

        def handle(self) -> None:
            self.close_connection = True
            self.handle_one_request()
            while not self.close_connection and self._next_request_comes():
                self.handle_one_request()

        def _next_request_comes(self) -> bool:
            """Whether the client sends another request on this kept-alive connection within
            ``IDLE_TIMEOUT_SECONDS``: once it has idled ``IDLE_POLL_SECONDS``, its worker is
            given up as soon as another connection waits for one. Not sooner: a client sending
            its next request right after a response (which said keep-alive) would find the
            connection closed under it, and clients need not retry that."""
            if self._buffered():
                return True
            deadline = time.monotonic() + IDLE_TIMEOUT_SECONDS
            while (left := deadline - time.monotonic()) > 0:
                readable, _, _ = select.select(
                    [self.connection], [], [], min(left, IDLE_POLL_SECONDS)
                )
                if readable:
                    return True
                if self.server.others_waiting():
                    return False
            return False

        def _buffered(self) -> bool:
            """Whether the next request is already read (pipelined behind the last one)."""
            self.connection.settimeout(0.0)
            try:
                return bool(self.rfile.peek(1))
            except OSError:
                return False
            finally:
                self.connection.settimeout(self.timeout)

        # Chalice's class binds its own handler to these names: bind ours.
        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

        def __getattr__(self, name: str) -> Any:
            # Every method goes to the app (``do_TRACE`` too), which answers 405 for the ones a
            # route does not take, as API Gateway does, instead of the base class's HTML 501.
            if name.startswith("do_") and name[3:].isalpha():
                return self._generic_handle
            raise AttributeError(name)

        def end_headers(self) -> None:
            # A kept-alive connection would hold its worker while others wait: close it.
            if not self.close_connection and self.server.others_waiting():
                self.send_header("Connection", "close")
            super().end_headers()

    return PooledHTTPServer((host, port), RequestHandler)


def is_binary_type(content_type: str, binary_types: list[str]) -> bool:
    """Whether a request's Content-Type names one of ``binary_types`` (its media type only)."""
    media = content_type.split(";", 1)[0].strip().lower()
    types = {t.lower() for t in binary_types}
    return bool(media) and (media in types or "*/*" in types)


def banner(home: str, url: str, host: str, token: str | None, user: str) -> tuple[str, str]:
    """What ``serve`` prints when it starts: where the API is and how to use it (stdout), and
    what the API lets a caller do (stderr)."""
    lines = [
        f"serving the WES API of {home} on {url}/ga4gh/wes/v1",
        f"use it with: export MINIWDL_FARGATE_API={url}",
    ]
    if token is not None:
        lines += [
            f"and: export {ENV_API_TOKEN}={token}",
            "(other clients send the token as the header: Authorization: Bearer TOKEN)",
        ]
    if token is None and is_loopback(host):
        reach = "It listens on this machine only."
    elif token is None:
        reach = f"It listens on {host} with NO authentication: anyone who can reach it can."
    else:
        reach = f"It listens on {host}: only callers with the token can."
    warning = (
        f"warning: whoever can call this API can run any command as {user}: a WDL task is a"
        f" shell script run on this machine. {reach}"
    )
    return "\n".join(lines), warning


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name, no password entry
        return "this user"


def serve(
    home: str,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    allow_unauthenticated: bool = False,
) -> int:
    """Serve the API until Ctrl-C (or SIGTERM); returns the exit code, 0.

    On a loopback address only this machine's users can connect, and the ``Host``, ``Origin``
    and ``Sec-Fetch-Site`` checks keep web pages out. On any other address a token is required
    too (``MINIWDL_FARGATE_API_TOKEN`` if set, else a new one, printed), unless
    ``allow_unauthenticated``.
    """
    prepare_environment(home, os.environ)
    app = load_app()
    try:
        server = create_server(app, host, port)
    except OSError as exn:
        raise ServeError(f"cannot listen on {host}:{port}: {exn.strerror or exn}") from None
    bound_port = int(server.server_address[1])
    # (looked up only when needed: getfqdn asks DNS, which may be slow)
    machine = [socket.getfqdn(), socket.gethostname()] if is_wildcard(host) else []
    names = host_names(host, machine)
    token = api_token(host, allow_unauthenticated, os.environ)
    server.gate = Gate(hosts=allowed_hosts(names, bound_port), token=token)
    url = f"http://{names[0]}:{bound_port}"
    os.environ[wes.ENV_PUBLIC_URL] = url
    out, warning = banner(os.environ[ENV_HOME], url, host, token, _user())
    print(out, flush=True)
    print(warning, file=sys.stderr, flush=True)

    def stop(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.server_close()
    print("stopped serving", file=sys.stderr)
    return 0
