"""Issue #10, API hardening: each finding, as a request that used to get through (or a 500),
now refused with a 4xx WES ErrorResponse, and nothing recorded or launched.

The local server runs in this process (``serve.create_server`` on 127.0.0.1, over a fresh home),
so the tests can set its gate and limits; the fetcher's tests never leave the machine (name
resolution is replaced, and the "remote" servers are local ones).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import http.client
import http.server
import json
import os
import select
import socket
import statistics
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from email.message import Message
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client
from wes_forms import BASE, multipart, post_run

from chalicelib import api, serve, wes, wes_client
from chalicelib.deployment import submitter_from_environment
from chalicelib.records import RunRecord, TaskRecord
from chalicelib.sqlite_store import SqliteStore
from chalicelib.states import State
from chalicelib.validation import RequestError

REPO = Path(__file__).resolve().parent.parent
HELLO = (REPO / "examples" / "hello.wdl").read_bytes()
NOW = "2026-01-01T00:00:00.000Z"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in list(os.environ):
        if key.startswith("MINIWDL"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("MINIWDL_FARGATE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MINIWDL_FARGATE_API_AUTH", "none")
    return tmp_path / "home"


@pytest.fixture
def client(home: Path) -> Iterator[Client]:
    from app import app

    with Client(app) as c:
        yield c


@dataclasses.dataclass
class Served:
    """``serve``'s server in this process: its URL, port and gate."""

    server: serve.PooledHTTPServer
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 10.0,
    ) -> tuple[int, dict[str, Any], bytes]:
        """One request on a new connection: (status, headers, body)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()


@pytest.fixture
def served(home: Path) -> Iterator[Served]:
    from app import app

    server = serve.create_server(app, "127.0.0.1", 0)
    port = int(server.server_address[1])
    server.gate = serve.Gate(hosts=serve.allowed_hosts(serve.host_names("127.0.0.1"), port))
    os.environ[wes.ENV_PUBLIC_URL] = f"http://127.0.0.1:{port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(server, port)
    finally:
        os.environ.pop(wes.ENV_PUBLIC_URL, None)
        server.shutdown()
        server.server_close()


def recorded_runs(home: Path) -> list[RunRecord]:
    store = home / "state.sqlite3"
    return SqliteStore(str(store)).list_runs()[0] if store.exists() else []


def hello_form() -> tuple[dict[str, str], bytes]:
    return multipart({"workflow_url": "hello.wdl", "workflow_params": "{}"}, {"hello.wdl": HELLO})


# 1. Web pages and rebound names


@pytest.mark.parametrize(
    "extra",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},  # a sandboxed frame or a file:// page
        {"Origin": "http://localhost:3000"},  # another local site: same-site, not same-origin
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
)
def test_a_form_post_from_another_page_is_refused_and_runs_nothing(
    served: Served, home: Path, extra: dict[str, str]
) -> None:
    headers, body = hello_form()
    status, _, answer = served.request("POST", f"{BASE}/runs", body, {**headers, **extra})
    assert status == 403
    assert json.loads(answer) == {
        "msg": "requests from other web pages are refused",
        "status_code": 403,
    }
    assert recorded_runs(home) == []


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1:1", ""])
def test_a_host_the_server_was_not_started_for_is_refused(served: Served, host: str) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
    conn.putrequest("GET", f"{BASE}/service-info", skip_host=True)
    if host:
        conn.putheader("Host", host.format(port=served.port))
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 421
    assert json.load(response)["status_code"] == 421


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "LOCALHOST"])
def test_the_servers_own_names_and_pages_are_answered(served: Served, name: str) -> None:
    status, _, _ = served.request(
        "GET",
        f"{BASE}/service-info",
        headers={
            "Host": f"{name}:{served.port}",
            "Origin": f"http://{name.lower()}:{served.port}",
            "Sec-Fetch-Site": "same-origin",
        },
    )
    assert status == 200


def test_with_a_token_every_request_must_carry_it(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    served.server.gate = dataclasses.replace(served.server.gate, token="s3cret-token")
    path = f"{BASE}/service-info"
    assert served.request("GET", path)[0] == 401
    assert served.request("GET", path, headers={"Authorization": "Bearer wrong"})[0] == 401
    assert served.request("GET", path, headers={"Authorization": "Bearer s3cret-token"})[0] == 200
    # the CLI's client sends it from MINIWDL_FARGATE_API_TOKEN, unsigned
    monkeypatch.setenv(wes_client.ENV_API_TOKEN, "s3cret-token")
    monkeypatch.delenv(wes_client.ENV_API_AUTH, raising=False)
    client = wes_client.WesClient(served.url)
    assert not client.signed
    assert client.service_info()["name"] == "miniwdl-fargate"


def test_a_token_is_required_off_loopback() -> None:
    assert serve.api_token("127.0.0.1", False, {}) is None
    assert serve.api_token("::1", False, {}) is None
    assert serve.api_token("localhost", False, {}) is None
    token = serve.api_token("0.0.0.0", False, {})
    assert token and len(token) >= 32 and token != serve.api_token("0.0.0.0", False, {})
    assert serve.api_token("192.168.1.5", False, {wes_client.ENV_API_TOKEN: " mine "}) == "mine"
    assert serve.api_token("0.0.0.0", True, {}) is None  # --allow-unauthenticated


def test_host_names_are_the_ones_the_server_was_started_for() -> None:
    assert serve.host_names("127.0.0.1") == ["127.0.0.1", "localhost", "[::1]"]
    assert serve.host_names("::1")[0] == "[::1]"
    assert serve.host_names("192.168.1.5") == ["192.168.1.5"]
    assert serve.host_names("0.0.0.0", ["box.lan"])[0] == "box.lan"
    assert serve.allowed_hosts(["localhost"], 8080) == frozenset({"localhost:8080"})
    assert serve.allowed_hosts(["localhost"], 80) == frozenset({"localhost:80", "localhost"})


def test_start_up_says_what_the_api_lets_a_caller_do(tmp_path: Path) -> None:
    from test_serve import ServedApi

    api_process = ServedApi(tmp_path)
    try:
        assert "whoever can call this API can run any command as" in api_process.log()
    finally:
        api_process.stop()


# 3. Server-side fetch


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "::1",
        "0.0.0.0",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.0.1",
        "100.64.0.1",  # shared address space (carrier-grade NAT; Alibaba's metadata)
        "169.254.169.254",  # the EC2/ECS metadata service
        "169.254.170.2",  # the ECS task credentials endpoint
        "fd00:ec2::254",  # EC2 metadata over IPv6
        "fe80::1",
        "::ffff:127.0.0.1",  # IPv4-mapped loopback
        "::ffff:169.254.169.254",
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "224.0.0.1",
        "not an address",
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not api.is_public_address(address)


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700:4700::1111", "8.8.8.8"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert api.is_public_address(address)


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/w.wdl",
        "ftp://example.com/w.wdl",
        "https://user:pw@example.com/w.wdl",
        "https:///w.wdl",
        "https://example.com:notaport/",
    ],
)
def test_only_plain_https_urls_are_fetched(url: str) -> None:
    with pytest.raises(api.FetchRefused):
        api.check_fetch_url(url)


def resolving_to(monkeypatch: pytest.MonkeyPatch, table: dict[str, list[str]]) -> None:
    """Name resolution as ``table`` says (other names: as they resolve here)."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in table:
            return [
                (
                    socket.AF_INET6 if ":" in a else socket.AF_INET,
                    socket.SOCK_STREAM,
                    6,
                    "",
                    (a, port),
                )
                for a in table[host]
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.mark.parametrize(
    "addresses",
    [["127.0.0.1"], ["10.0.0.7"], ["169.254.169.254"], ["93.184.215.14", "192.168.1.1"]],
)
def test_a_name_resolving_to_a_private_address_is_not_fetched(
    monkeypatch: pytest.MonkeyPatch, addresses: list[str]
) -> None:
    resolving_to(monkeypatch, {"wdl.example": addresses})
    connections: list[str] = []

    def connect(*args: Any) -> http.client.HTTPConnection:
        connections.append(str(args))
        raise AssertionError("no connection may be made")

    with pytest.raises(api.FetchRefused, match="not a public address"):
        api.fetch_https("https://wdl.example/w.wdl", connection=connect)
    assert connections == []


class _Handler(http.server.BaseHTTPRequestHandler):
    """A local "remote" server: answers as ``self.server.answer(path)`` says."""

    def do_GET(self) -> None:
        self.server.hits.append(self.path)  # type: ignore[attr-defined]
        status, headers, body, delay = self.server.answer(self.path)  # type: ignore[attr-defined]
        time.sleep(delay)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def remote(answer: Any) -> Iterator[http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.answer = answer  # type: ignore[attr-defined]
    server.hits = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def plain_http_to(port: int) -> Any:
    """A connection factory that reaches the local "remote" server over plain HTTP, whatever
    the (already checked) address: TLS is not what these tests are about."""

    def connect(host: str, _port: int, address: str, timeout: float) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    return connect


def test_http_is_refused_before_any_connection() -> None:
    with remote(lambda path: (200, {}, b"version 1.0\nworkflow w {}\n", 0)) as server:
        url = f"http://127.0.0.1:{server.server_address[1]}/w.wdl"
        with pytest.raises(RequestError, match="only https:// and s3:// URLs"):
            api.fetch(url, lambda u: b"")
        assert server.hits == []  # type: ignore[attr-defined]


def test_a_redirect_to_loopback_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    resolving_to(monkeypatch, {"wdl.example": ["93.184.215.14"]})
    with remote(lambda path: (302, {"Location": "https://127.0.0.1/secret"}, b"", 0)) as server:
        with pytest.raises(api.FetchRefused, match=r"127\.0\.0\.1: it is not a public address"):
            api.fetch_https(
                "https://wdl.example/w.wdl", connection=plain_http_to(server.server_address[1])
            )
        assert server.hits == ["/w.wdl"]  # type: ignore[attr-defined]


def test_a_redirect_to_a_public_https_url_is_followed(monkeypatch: pytest.MonkeyPatch) -> None:
    resolving_to(monkeypatch, {"wdl.example": ["93.184.215.14"], "cdn.example": ["8.8.8.8"]})

    def answer(path: str) -> tuple[int, dict[str, str], bytes, float]:
        if path == "/w.wdl":
            return 301, {"Location": "https://cdn.example/real.wdl"}, b"", 0
        return 200, {}, b"version 1.0\n", 0

    with remote(answer) as server:
        data = api.fetch_https(
            "https://wdl.example/w.wdl", connection=plain_http_to(server.server_address[1])
        )
    assert data == b"version 1.0\n"


def test_size_and_time_are_capped_and_nothing_fetched_is_echoed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    resolving_to(monkeypatch, {"wdl.example": ["93.184.215.14"]})
    page = b"<html>SECRET-INTERNAL-PAGE " + b"x" * 5000
    with remote(lambda path: (200, {}, page, 0)) as server:
        connect = plain_http_to(server.server_address[1])
        with pytest.raises(api.FetchRefused) as big:
            api.fetch_https("https://wdl.example/big", max_bytes=1000, connection=connect)
    assert "larger than" in str(big.value) and "SECRET" not in str(big.value)
    with remote(lambda path: (200, {}, page, 3.0)) as server:
        started = time.monotonic()
        with pytest.raises(api.FetchRefused, match="timed out"):
            api.fetch_https(
                "https://wdl.example/slow",
                timeout=0.5,
                connection=plain_http_to(server.server_address[1]),
            )
        assert time.monotonic() - started < 2.5


def test_a_fetched_page_never_comes_back_in_the_error(
    client: Client, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = b"<html><body>SECRET-INTERNAL-PAGE: db_password=hunter2</body></html>\n"
    monkeypatch.setattr(api, "fetch_https", lambda url: page)
    response = post_run(client, {"workflow_url": "https://wdl.example/w.wdl"})
    assert response.status_code == 400
    assert "SECRET" not in response.json_body["msg"] and "hunter2" not in response.json_body["msg"]
    assert "fetched content is not shown" in response.json_body["msg"]
    assert recorded_runs(home) == []
    # without a fetch, miniwdl's message is passed on as it is
    assert api.validation_message("w.wdl:2: unknown call", []) == "w.wdl:2: unknown call"


def test_a_failed_fetch_says_why(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    resolving_to(monkeypatch, {"wdl.example": ["10.0.0.1"]})
    response = post_run(client, {"workflow_url": "https://wdl.example/w.wdl"})
    assert response.status_code == 400
    assert response.json_body["msg"].startswith("cannot fetch from wdl.example: it is not a public")


def test_an_s3_drop_reaches_no_private_address(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    resolving_to(monkeypatch, {"metadata.example": ["169.254.169.254"]})
    request = {"workflow_url": "https://metadata.example/latest/meta-data/w.wdl"}
    submitter = dataclasses.replace(
        submitter_from_environment(), read_s3=lambda url: json.dumps(request).encode()
    )
    event = {
        "detail": {
            "bucket": {"name": "b"},
            "object": {"key": "submissions/r.json", "size": 10, "version-id": "v1"},
        }
    }
    run_id = api.handle_drop(submitter, event, "b", "submissions/")
    run = submitter.plane.store.get_run(run_id)
    assert run is not None and run.state == State.EXECUTOR_ERROR
    assert "not a public address" in run.error["message"]  # type: ignore[index]


# 4. Large and slow bodies


def raw_exchange(port: int, head: bytes, body: bytes = b"", timeout: float = 10.0) -> bytes:
    """Send ``head`` (and ``body``) on a socket and read the answer until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head + body)
        chunks = []
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                chunks.append(chunk)
    return b"".join(chunks)


def post_head(port: int, length: str | None, extra: str = "") -> bytes:
    head = f"POST {BASE}/runs HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
    head += "Content-Type: multipart/form-data; boundary=x\r\n" + extra
    if length is not None:
        head += f"Content-Length: {length}\r\n"
    return (head + "\r\n").encode()


def test_a_huge_body_is_refused_on_its_content_length_unread(served: Served, home: Path) -> None:
    started = time.monotonic()
    # 300 MB announced, none of it sent: the answer comes at once, and the connection closes.
    answer = raw_exchange(served.port, post_head(served.port, str(300 * 1024 * 1024)))
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"Connection: close" in answer
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["status_code"] == 413
    assert time.monotonic() - started < 3
    assert recorded_runs(home) == []


@pytest.mark.parametrize(
    ("length", "extra", "status"),
    [
        (None, "", 411),
        (None, "Transfer-Encoding: chunked\r\n", 411),
        ("abc", "", 400),
        ("\u00b2", "", 400),
        ("-5", "", 400),
        ("1e3", "", 400),
        ("9" * 5000, "", 400),
        ("10, 20", "", 400),
    ],
)
def test_a_missing_or_garbage_content_length_is_refused(
    served: Served, length: str | None, extra: str, status: int
) -> None:
    head = post_head(served.port, None, extra)
    if length is not None:
        head = head[:-2] + f"Content-Length: {length}\r\n\r\n".encode()
    answer = raw_exchange(served.port, head)
    assert answer.startswith(f"HTTP/1.1 {status} ".encode()), answer[:200]


def test_a_slow_body_times_out(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serve, "BODY_TIMEOUT_SECONDS", 1.0)
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
        sock.sendall(post_head(served.port, "1000") + b"--x\r\n")  # and then nothing more
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - started < 5


def test_body_length_is_decided_from_the_headers() -> None:
    def headers(**values: str) -> Message:
        message = Message()
        for key, value in values.items():
            message[key.replace("_", "-")] = value
        return message

    assert serve.body_length("GET", headers(), 100) == 0
    assert serve.body_length("POST", headers(Content_Length="100"), 100) == 100
    with pytest.raises(wes.ApiError) as over:
        serve.body_length("POST", headers(Content_Length="101"), 100)
    assert over.value.status_code == 413


# 5. Concurrency


def test_100_concurrent_clients_are_all_answered(served: Served) -> None:
    """The load test: 100 clients at once (each a new connection, then two more requests on
    it), every one answered by the fixed pool of worker threads; prints the p99 latency of
    GET /runs/ID/status."""
    clients = 100
    barrier = threading.Barrier(clients)
    server_threads: list[int] = []

    def one_client(i: int) -> list[tuple[int, float]]:
        conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
        results = []
        barrier.wait(timeout=30)
        try:
            for _ in range(3):
                started = time.monotonic()
                conn.request("GET", f"{BASE}/runs/run-{i}/status")
                response = conn.getresponse()
                response.read()
                results.append((response.status, time.monotonic() - started))
                # the threads answering requests: the workers, never one per connection
                names = [t.name for t in threading.enumerate()]
                server_threads.append(sum(n.startswith(f"serve-{served.port}-") for n in names))
                assert not any("process_request" in n for n in names)
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
        finally:
            conn.close()
        return results

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = [r for rs in pool.map(one_client, range(clients)) for r in rs]
    elapsed = time.monotonic() - started
    statuses = [s for s, _ in results]
    latencies = sorted(t for _, t in results)
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(
        f"\nload: {clients} clients, {len(results)} requests in {elapsed:.2f} s;"
        f" status latency p50 {statistics.median(latencies) * 1000:.1f} ms,"
        f" p99 {p99 * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms;"
        f" {serve.WORKER_THREADS} worker threads"
    )
    assert statuses == [404] * (clients * 3)  # every one answered (no such runs)
    assert set(server_threads) == {serve.WORKER_THREADS}


def test_idle_kept_alive_connections_do_not_hold_every_worker(served: Served) -> None:
    """As many idle kept-alive connections as there are workers (pollers with a session), and
    one more client: it is answered at once, not after the idle timeout."""
    idle = []
    try:
        for _ in range(serve.WORKER_THREADS):
            conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
            conn.request("GET", f"{BASE}/runs/nope/status")
            conn.getresponse().read()
            idle.append(conn)  # kept alive, idle
        started = time.monotonic()
        status, _, _ = served.request("GET", f"{BASE}/runs/nope/status")
        waited = time.monotonic() - started
        assert status == 404
        assert waited < serve.IDLE_TIMEOUT_SECONDS / 4, waited
        # an idle connection that was given up is closed, and a client opens another
        again = idle[0]
        with contextlib.suppress(http.client.HTTPException, ConnectionError):
            again.request("GET", f"{BASE}/runs/nope/status")
            assert again.getresponse().status == 404
    finally:
        for conn in idle:
            conn.close()


def test_a_kept_alive_connection_is_as_fast_as_a_new_one(served: Served) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
    times = []
    try:
        for _ in range(25):
            started = time.monotonic()
            conn.request("GET", f"{BASE}/runs/nope/status")
            response = conn.getresponse()
            response.read()
            times.append(time.monotonic() - started)
            assert response.status == 404
    finally:
        conn.close()
    # Nagle's algorithm and the client's delayed ACK made each one wait about 40 ms.
    assert statistics.median(times[1:]) < 0.02, times


# Low severity: each used to be a 500


def make_run(home: Path, run_id: str = "run-1", **fields: Any) -> RunRecord:
    run = RunRecord(
        run_id=run_id,
        state=State.COMPLETE,
        created_at=NOW,
        updated_at=NOW,
        workflow_name="w",
        workflow_key="k",
        inputs_key="i",
        **fields,
    )
    home.mkdir(parents=True, exist_ok=True)
    SqliteStore(str(home / "state.sqlite3")).create_run(run)
    return run


@pytest.mark.parametrize("value", ["\u00b2", "\u0661", "9" * 5000, "", " 5", "+5"])
@pytest.mark.parametrize("path", ["/runs", "/runs/run-1/tasks"])
def test_a_page_size_that_is_not_plain_digits_is_a_400(
    client: Client, home: Path, value: str, path: str
) -> None:
    make_run(home)
    response = client.http.get(f"{BASE}{path}?page_size={urllib.request.quote(value)}")
    assert response.status_code == 400, response.body
    assert "page_size must be" in response.json_body["msg"]


@pytest.mark.parametrize("path", ["/runs", "/runs/run-1/tasks"])
def test_a_page_token_of_deeply_nested_json_is_a_400(client: Client, home: Path, path: str) -> None:
    make_run(home)
    token = base64.urlsafe_b64encode(b"[" * 100000).decode()
    response = client.http.get(f"{BASE}{path}?page_token={token}")
    assert response.status_code == 400, response.body
    assert "page_token" in response.json_body["msg"]


@pytest.mark.parametrize("field", ["workflow_params", "tags", "workflow_engine_parameters"])
@pytest.mark.parametrize("depth", [1000, 100000])
def test_deeply_nested_json_fields_are_a_400(
    client: Client, home: Path, field: str, depth: int
) -> None:
    nested = '{"a": ' + "[" * depth + "]" * depth + "}"
    response = post_run(client, {"workflow_url": "hello.wdl", field: nested}, {"hello.wdl": HELLO})
    assert response.status_code == 400, response.body
    assert "nested more than" in response.json_body["msg"]
    assert recorded_runs(home) == []


def test_json_depth_is_measured_without_recursion() -> None:
    value: Any = 1
    for _ in range(10000):
        value = [value]
    assert wes.json_depth(value) == wes.MAX_JSON_DEPTH + 1  # stops counting past the limit
    assert wes.json_depth({"a": [1, {"b": []}]}) == 4
    assert wes.json_depth("x") == 0


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"d": b"1", "d/e": b"2"}, "is a file and also the folder of"),
        ({"x": b"1", "x/": b"2"}, "ends with '/'"),
        ({"a/b": b"1", "a/./b": b"2"}, "are the same file"),
        ({"n" * 300: b"1"}, "is too long"),
        ({"a/" * 3000 + "f": b"1"}, "is too long"),
    ],
)
def test_attachments_that_would_collide_or_cannot_be_written_are_a_400(
    client: Client, home: Path, files: dict[str, bytes], message: str
) -> None:
    response = post_run(client, {"workflow_url": "hello.wdl"}, {"hello.wdl": HELLO, **files})
    assert response.status_code == 400, response.body
    assert message in response.json_body["msg"]
    assert len(response.json_body["msg"]) < 400  # a long name is not echoed whole
    assert recorded_runs(home) == []


# WES conformance


def test_service_info_names_the_engine_version_as_wes_defines_it(client: Client) -> None:
    info = client.http.get(f"{BASE}/service-info").json_body
    assert info["workflow_engine_versions"] == {
        "miniwdl": {"workflow_engine_version": [version("miniwdl")]}
    }
    assert "http" not in info["supported_filesystem_protocols"]


def test_the_run_log_of_a_cli_run_has_the_required_request_fields(
    client: Client, home: Path, tmp_path: Path
) -> None:
    wdl = tmp_path / "w.wdl"
    wdl.write_text("version 1.1\nworkflow w {}\n")
    make_run(home, request={"wdl_path": str(wdl), "workflow_name": "w"})
    request = client.http.get(f"{BASE}/runs/run-1").json_body["request"]
    assert request["workflow_type"] == "WDL"
    assert request["workflow_type_version"] == "1.1"
    assert request["workflow_url"] == str(wdl)


def test_log_locations_are_api_urls_confined_to_the_run(
    client: Client, home: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "work" / "run-1"
    (run_dir / "call-a").mkdir(parents=True)
    (run_dir / "call-a" / "stderr.txt").write_bytes(b"task says hi\n")
    outside = tmp_path / "secret.txt"
    outside.write_text("not yours")
    make_run(home, run_dir=str(run_dir), orchestrator_log=str(outside))
    task = TaskRecord(
        task_id="t1",
        run_id="run-1",
        state=State.COMPLETE,
        updated_at=NOW,
        call_id="call-a",
        stderr=str(run_dir / "call-a" / "stderr.txt"),
        stdout=str(run_dir / ".." / ".." / "secret.txt"),
    )
    SqliteStore(str(home / "state.sqlite3")).put_task(task, None)

    log = client.http.get(f"{BASE}/runs/run-1/tasks/t1").json_body
    assert log["stderr"] == f"{BASE}/runs/run-1/tasks/t1/logs/stderr"
    assert client.http.get(log["stderr"]).body == b"task says hi\n"
    # a recorded path outside the run's own places is not served, whatever the record says
    for path in (log["stdout"], f"{BASE}/runs/run-1/logs/stdout"):
        refused = client.http.get(path)
        assert refused.status_code == 404 and b"not yours" not in refused.body
    for path in (
        f"{BASE}/runs/run-1/logs/..%2F..%2Fsecret.txt",
        f"{BASE}/runs/run-1/logs/passwd",
        f"{BASE}/runs/other/tasks/t1/logs/stderr",
    ):
        assert client.http.get(path).status_code == 404


def test_a_log_is_read_in_ranges() -> None:
    assert api.byte_range("", 10) == (0, 10)
    assert api.byte_range("bytes=-4", 10) == (6, 10)
    assert api.byte_range("bytes=2-", 10) == (2, 10)
    assert api.byte_range("bytes=2-4", 10) == (2, 5)
    assert api.byte_range("bytes=-40", 10) == (0, 10)
    for bad in ("bytes=10-", "bytes=5-2", "lines=1-2", "bytes=\u00b2-", "bytes=-"):
        with pytest.raises(wes.ApiError) as caught:
            api.byte_range(bad, 10)
        assert caught.value.status_code == 416


def test_task_logs_url_ignores_what_the_client_claims(client: Client, home: Path) -> None:
    make_run(home)
    log = client.http.get(
        f"{BASE}/runs/run-1",
        headers={"Host": "evil.example", "X-Forwarded-Proto": "javascript"},
    ).json_body
    assert log["task_logs_url"] == f"{BASE}/runs/run-1/tasks"
    assert "evil" not in json.dumps(log) and "javascript" not in json.dumps(log)


def test_the_api_base_url_comes_from_configuration_or_api_gateway() -> None:
    assert wes.api_base_url({}, "http://127.0.0.1:8080/") == "http://127.0.0.1:8080" + BASE
    gateway = {"domainName": "abc123.execute-api.eu-west-1.amazonaws.com", "stage": "api"}
    assert wes.api_base_url(gateway, "") == (
        "https://abc123.execute-api.eu-west-1.amazonaws.com/api" + BASE
    )
    assert wes.api_base_url({"domainName": "wes.example.org", "stage": "api"}, "") == (
        "https://wes.example.org" + BASE
    )
    assert wes.api_base_url({"domainName": "javascript://x", "stage": "api"}, "") == BASE
    assert wes.api_base_url({}, "") == BASE


def test_the_cli_reads_log_urls_part_by_part(
    served: Served, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = bytes(range(256)) * 40  # 10 KiB, not UTF-8
    run_dir = tmp_path / "work" / "run-1"
    run_dir.mkdir(parents=True)
    (run_dir / "log.txt").write_bytes(content)
    make_run(home, run_dir=str(run_dir), orchestrator_log=str(run_dir / "log.txt"))
    monkeypatch.setattr(api, "MAX_LOG_CHUNK_BYTES", 3000)
    monkeypatch.setenv(wes_client.ENV_API, served.url)
    log = wes_client.WesClient(served.url).get_run("run-1")["run_log"]
    url = str(log["stdout"])
    assert url == f"{served.url}{BASE}/runs/run-1/logs/stdout"
    assert wes_client.read_location(url) == content
    assert wes_client.read_location(url, tail_bytes=100) == content[-100:]


def test_a_redirected_log_url_is_read_without_the_apis_credentials() -> None:
    def answer(path: str) -> tuple[int, dict[str, str], bytes, float]:
        if path.startswith("/api/"):
            return (
                302,
                {"Location": f"http://127.0.0.1:{port}/bucket/log?X-Amz-Signature=s"},
                b"",
                0,
            )
        return 206, {"Content-Range": "bytes 0-2/3"}, b"abc", 0

    seen: list[Any] = []

    class Recording(_Handler):
        def do_GET(self) -> None:
            seen.append((self.path, self.headers.get("Authorization"), self.headers.get("Range")))
            super().do_GET()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recording)
    server.answer = answer  # type: ignore[attr-defined]
    server.hits = []  # type: ignore[attr-defined]
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = wes_client.WesClient(f"http://127.0.0.1:{port}/api", auth="none", token="tok")
        url = f"{client.base_url}/runs/r/logs/stderr"
        assert client.owns(url)
        assert b"".join(client.stream_url(url, tail_bytes=3)) == b"abc"
    finally:
        server.shutdown()
        server.server_close()
    assert seen[0][1] == "Bearer tok" and seen[0][2] == "bytes=-3"
    assert seen[1][1] is None and seen[1][2] == "bytes=-3"  # the presigned URL: no token


def test_a_token_means_no_signature_by_default() -> None:
    assert not wes_client.should_sign("wes.example.org", "", has_token=True)
    assert wes_client.should_sign("wes.example.org", "sigv4", has_token=True)
    request = wes_client.WesClient("http://127.0.0.1:1", token="abc").prepare("GET", "/runs")
    assert request.get_header("Authorization") == "Bearer abc"


def test_on_aws_a_log_is_a_presigned_url_of_its_published_copy(home: Path) -> None:
    class FakeS3:
        def generate_presigned_url(self, op: str, Params: dict[str, str], ExpiresIn: int) -> str:
            assert op == "get_object" and Params["Bucket"] == "bucket"
            return f"https://bucket.s3.example/{Params['Key']}?X-Amz-Expires={ExpiresIn}"

    class S3Objects:
        client = FakeS3()

        def location(self, key: str) -> str:
            return f"s3://bucket/{key}"

    make_run(
        home, run_dir="/mnt/efs/run-1", log_location="s3://bucket/results/run-1/logs/workflow.log"
    )
    task = TaskRecord(
        task_id="t1",
        run_id="run-1",
        state=State.COMPLETE,
        updated_at=NOW,
        stderr="/mnt/efs/run-1/call-a/stderr.txt",
        stdout="/etc/passwd",
    )
    SqliteStore(str(home / "state.sqlite3")).put_task(task, None)
    submitter = dataclasses.replace(submitter_from_environment(), objects=S3Objects())
    answer = api.log_answer(submitter, "run-1", "t1", "stderr", "")
    assert answer.redirect == (
        "https://bucket.s3.example/results/run-1/logs/call-a/stderr.txt?X-Amz-Expires=300"
    )
    run_log = api.log_answer(submitter, "run-1", None, "stderr", "")
    assert run_log.redirect.startswith("https://bucket.s3.example/results/run-1/logs/workflow.log")
    with pytest.raises(wes.ApiError) as outside:
        api.log_answer(submitter, "run-1", "t1", "stdout", "")
    assert outside.value.status_code == 404


def test_the_log_route_redirects_to_a_presigned_url(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    import app as app_module

    presigned = "https://bucket.s3.example/results/r/logs/workflow.log?X-Amz-Signature=x"
    monkeypatch.setattr(
        app_module.api, "log_answer", lambda *args: api.LogAnswer(redirect=presigned)
    )
    response = client.http.get(f"{BASE}/runs/r/logs/stderr")
    assert response.status_code == 302 and response.headers["Location"] == presigned


def test_the_banner_says_what_the_api_allows_and_how_to_pass_the_token() -> None:
    out, warning = serve.banner("/h", "http://box.lan:8080", "0.0.0.0", "tok123", "ada")
    assert "export MINIWDL_FARGATE_API=http://box.lan:8080" in out
    assert "MINIWDL_FARGATE_API_TOKEN=tok123" in out
    assert "can run any command as ada" in warning and "only callers with the token" in warning
    out, warning = serve.banner("/h", "http://127.0.0.1:8080", "127.0.0.1", None, "ada")
    assert "TOKEN" not in out and "this machine only" in warning
    _, warning = serve.banner("/h", "http://box.lan:8080", "0.0.0.0", None, "ada")
    assert "NO authentication" in warning


def test_multipart_parts_nested_thousands_deep_are_a_400(client: Client, home: Path) -> None:
    depth = 2000
    body = b""
    for i in range(depth):
        body += (
            b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n"
            b'Content-Disposition: form-data; name="x%d"\r\n\r\n' % (i, i + 1, i)
        )
    body += b"inner\r\n" + b"".join(b"--b%d--\r\n" % (i + 1) for i in reversed(range(depth)))
    body += b"--b0--\r\n"
    response = client.http.post(
        f"{BASE}/runs", headers={"Content-Type": "multipart/form-data; boundary=b0"}, body=body
    )
    assert response.status_code == 400, response.body
    assert response.json_body["msg"] == "the multipart body is nested too deeply"
    assert recorded_runs(home) == []


def test_serve_needs_only_the_runtime_install() -> None:
    """``make demo`` installs the runtime dependencies only; serve needs Chalice."""
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    runtime = [d.split(">")[0].split("[")[0].strip() for d in project["dependencies"]]
    assert "chalice" in runtime
    assert not any(d.startswith("chalice") for d in project["optional-dependencies"]["dev"])


def test_output_files_are_served_from_the_runs_results_only(
    client: Client, home: Path, tmp_path: Path
) -> None:
    make_run(home)
    results = home / "objects" / "results" / "run-1"
    (results / "call-a" / "work").mkdir(parents=True)
    (results / "call-a" / "work" / "out.txt").write_bytes(b"an output\n")
    (tmp_path / "secret.txt").write_text("not yours")
    (results / "link.txt").symlink_to(tmp_path / "secret.txt")
    outputs_url = client.http.get(f"{BASE}/runs/run-1").json_body["outputs_url"]
    assert outputs_url == f"{BASE}/runs/run-1/outputs"
    answer = client.http.get(f"{outputs_url}?path=call-a/work/out.txt")
    assert answer.status_code == 200 and answer.body == b"an output\n"
    for path, status in [
        ("../../state.sqlite3", 400),
        ("/etc/passwd", 400),
        ("", 400),
        ("link.txt", 404),  # a link out of the results
        ("call-a/missing.txt", 404),
    ]:
        refused = client.http.get(f"{outputs_url}?path={urllib.request.quote(path)}")
        assert refused.status_code == status, (path, refused.body)
        assert b"not yours" not in refused.body


def test_headers_sent_a_byte_at_a_time_time_out(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each byte within the idle timeout, but the whole request line and headers not within
    the header timeout: the connection is closed, and its worker freed."""
    monkeypatch.setattr(serve, "HEADER_TIMEOUT_SECONDS", 1.0)
    head = f"GET {BASE}/service-info HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\nX-Slow: "
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
        sock.sendall(head.encode())
        closed = False
        while time.monotonic() - started < 6:
            try:
                sock.sendall(b"a")
            except OSError:
                closed = True
                break
            readable = select.select([sock], [], [], 0.2)[0]
            if readable and sock.recv(1024) == b"":
                closed = True
                break
    assert closed and time.monotonic() - started < 4
    assert served.request("GET", f"{BASE}/service-info")[0] == 200
