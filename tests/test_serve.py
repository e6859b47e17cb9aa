"""``miniwdl-fargate serve``: the app's WES API on Chalice's local server, over a local home.

The server runs as a user would start it (a subprocess of the installed console script when
there is one), on a free port; the checks are HTTP calls and the process's exit code.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from local_mode import REPO

from chalicelib import serve
from chalicelib.wes_client import WesClient, encode_multipart

URL_LINE = re.compile(r"MINIWDL_FARGATE_API=(\S+)")


class ServedApi:
    """A ``miniwdl-fargate serve`` process on a free port, over its own local home."""

    def __init__(self, root: Path, **env: str) -> None:
        self.root = root
        self.home = root / "home"
        self.stdout_path = root / "serve.out"
        self.stderr_path = root / "serve.err"
        script = shutil.which("miniwdl-fargate", path=str(Path(sys.executable).parent))
        command = [script] if script else [sys.executable, "-m", "chalicelib.cli"]
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("MINIWDL")}
        full_env.update(MINIWDL_FARGATE_HOME=str(self.home), PYTHONPATH=str(REPO), **env)
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [*command, "serve", "--port", "0"], stdout=out, stderr=err, env=full_env, cwd=root
            )
        self.url = self._wait_for_url()

    def _wait_for_url(self, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = URL_LINE.search(self.stdout_path.read_text())
            if match:
                return match.group(1)
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited {self.proc.returncode}: {self.log()}")
            time.sleep(0.05)
        raise AssertionError(f"serve printed no URL in {timeout} s: {self.log()}")

    def log(self) -> str:
        """The server's stderr: one access-log line per request."""
        return self.stderr_path.read_text()

    def client(self) -> WesClient:
        return WesClient(self.url)

    def stop(self, signum: int = signal.SIGINT) -> int:
        """Ctrl-C (by default), as a user stops it; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture
def served(tmp_path: Path):
    api = ServedApi(tmp_path)
    yield api
    api.stop()


def test_serves_the_apps_wes_routes_and_stops_on_ctrl_c(served: ServedApi) -> None:
    assert served.url.startswith("http://127.0.0.1:")
    assert f"on {served.url}/ga4gh/wes/v1" in served.stdout_path.read_text()
    info = served.client().service_info()
    assert "1.2" in info["workflow_type_versions"]["WDL"]["workflow_type_version"]
    assert info["supported_wes_versions"] == ["1.1.0"]
    with urllib.request.urlopen(f"{served.url}/ga4gh/wes/v1/runs?page_size=5") as response:
        assert json.load(response) == {"runs": [], "next_page_token": ""}
    assert '"GET /ga4gh/wes/v1/service-info HTTP/1.1" 200' in served.log()
    assert served.stop() == 0
    assert served.proc.returncode == 0


def test_multipart_bodies_reach_the_app_intact(served: ServedApi) -> None:
    """A POST /runs body with binary content and CRLFs: the app parses the form (here, to
    refuse a request naming no workflow), so the bytes made it through Chalice's server."""
    content_type, body = encode_multipart(
        [("workflow_type", "WDL"), ("workflow_params", "{}")],
        [("workflow_attachment", "x.bin", bytes(range(256)) * 4 + b"\r\n--\r\n")],
    )
    request = urllib.request.Request(
        f"{served.url}/ga4gh/wes/v1/runs",
        data=body,
        headers={"content-TYPE": content_type},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request)
    answer = json.loads(caught.value.read())
    assert answer == {"msg": "workflow_url is required", "status_code": 400}


def test_unknown_run_is_a_wes_error_response(served: ServedApi) -> None:
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"{served.url}/ga4gh/wes/v1/runs/nope/status")
    assert caught.value.code == 404
    assert json.loads(caught.value.read())["status_code"] == 404


def test_refuses_an_aws_deployments_environment(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIWDL")}
    env.update(MINIWDL_FARGATE_TABLE="runs", PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-m", "chalicelib.cli", "--home", str(tmp_path), "serve", "--port", "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert "MINIWDL_FARGATE_TABLE is set" in proc.stderr and "unset" in proc.stderr


def test_a_port_in_use_is_one_clear_error(served: ServedApi) -> None:
    port = served.url.rsplit(":", 1)[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIWDL")}
    env["PYTHONPATH"] = str(REPO)
    command = [sys.executable, "-m", "chalicelib.cli", "--home", str(served.root)]
    proc = subprocess.run(
        [*command, "serve", "--port", port],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert proc.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr
    assert served.stop(signal.SIGTERM) == 0  # as a service manager stops it


def test_prepare_environment_points_the_app_at_the_home(tmp_path: Path) -> None:
    environ = {"MINIWDL_FARGATE_API_AUTH": "iam"}
    serve.prepare_environment(str(tmp_path / "h"), environ)
    assert environ == {
        "MINIWDL_FARGATE_HOME": str(tmp_path / "h"),
        "MINIWDL_FARGATE_API_AUTH": "none",
    }
    with pytest.raises(serve.ServeError, match="MINIWDL_FARGATE_TABLE is set"):
        serve.prepare_environment(str(tmp_path), {"MINIWDL_FARGATE_TABLE": "t"})


def test_load_app_says_where_app_py_was_expected(tmp_path: Path) -> None:
    with pytest.raises(serve.ServeError, match=r"app\.py beside chalicelib/ .* is missing"):
        serve.load_app(tmp_path / "app.py")
    assert serve.app_path() == REPO / "app.py"
    (tmp_path / "app.py").write_text("app = 1\n")
    with pytest.raises(serve.ServeError, match="no Chalice object named app"):
        serve.load_app(tmp_path / "app.py")


@pytest.mark.parametrize(
    ("content_type", "binary"),
    [
        ("multipart/form-data; boundary=abc", True),
        ("Multipart/Form-Data;boundary=abc", True),
        ("application/json", False),
        ("", False),
    ],
)
def test_binary_types_match_on_the_media_type(content_type: str, binary: bool) -> None:
    assert serve.is_binary_type(content_type, ["multipart/form-data"]) is binary
