"""The CLI over the WES API (``MINIWDL_FARGATE_API``): the client's pieces on their own, then
the commands against ``miniwdl-fargate serve``, checked as a user sees them (exit codes, stdout,
stderr) with the local mode's home out of the CLI's reach."""

from __future__ import annotations

import email.parser
import email.policy
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from local_mode import REPO, WDL_DIR, Result, leftover_processes
from test_serve import ServedApi

from chalicelib.wes_client import (
    TERMINAL_STATES,
    RunRequest,
    RunRequestError,
    WesClient,
    WesError,
    _error_message,
    encode_multipart,
    package_run,
    region_from_host,
    should_sign,
    wdl_type_version,
)

# The client's pieces


def _parse_form(content_type: str, body: bytes) -> list[tuple[str, str | None, bytes]]:
    """(name, filename, content) of each part, as a standard MIME parser reads the body."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    assert message.is_multipart() and not message.defects
    parts = []
    for part in message.iter_parts():
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        parts.append(
            (part.get_param("name", header="content-disposition"), part.get_filename(), payload)
        )
    return parts


def test_multipart_round_trips_fields_and_binary_files() -> None:
    binary = bytes(range(256)) + b"\r\n--not-the-boundary\r\n\r\n"
    content_type, body = encode_multipart(
        [("workflow_params", '{"w.x": "é"}'), ("tags", "{}")],
        [
            ("workflow_attachment", "main.wdl", b"version 1.0\n"),
            ("workflow_attachment", "d/b", binary),
        ],
    )
    assert content_type.startswith("multipart/form-data; boundary=")
    assert _parse_form(content_type, body) == [
        ("workflow_params", None, '{"w.x": "é"}'.encode()),
        ("tags", None, b"{}"),
        ("workflow_attachment", "main.wdl", b"version 1.0\n"),
        ("workflow_attachment", "d/b", binary),
    ]


def test_multipart_boundary_never_occurs_in_the_content() -> None:
    with pytest.raises(ValueError, match="boundary"):
        encode_multipart([("a", "x--B--y")], boundary="--B--")
    content_type, body = encode_multipart([("a", "")], [("f", 'we"ird\nname', b"")])
    assert b'filename="we%22ird%0Aname"' in body
    assert body.endswith(b"--" + content_type.split("boundary=")[1].encode() + b"--\r\n")


def test_run_request_form_fields() -> None:
    request = RunRequest(
        workflow_url="main.wdl",
        workflow_params={"main.n": 1},
        workflow_type_version="1.1",
        tags={"k": "v"},
        workflow_engine_parameters={"task": "t"},
    )
    fields = {name: data for name, _, data in _parse_form(*request.encode())}
    assert fields == {
        "workflow_url": b"main.wdl",
        "workflow_params": b'{"main.n": 1}',
        "workflow_type": b"WDL",
        "workflow_type_version": b"1.1",
        "tags": b'{"k": "v"}',
        "workflow_engine_parameters": b'{"task": "t"}',
    }


@pytest.fixture
def fake_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.delenv("MINIWDL_FARGATE_API_AUTH", raising=False)


def test_execute_api_requests_are_sigv4_signed(fake_credentials: None) -> None:
    client = WesClient("https://abc123.execute-api.eu-west-1.amazonaws.com:443/api/")
    assert client.base_url == "https://abc123.execute-api.eu-west-1.amazonaws.com/api/ga4gh/wes/v1"
    request = client.prepare(
        "POST", "/runs", body=b"x", headers={"Content-Type": "multipart/form-data; boundary=b"}
    )
    auth = request.get_header("Authorization")
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/execute-api/aws4_request" in auth
    assert "SignedHeaders=" in auth and "host" in auth and "x-amz-date" in auth
    assert request.get_header("X-amz-date")
    other = client.prepare("POST", "/runs", body=b"y", headers={"Content-Type": "a/b"})
    assert other.get_header("Authorization").split("Signature=")[1] != auth.split("Signature=")[1]


def test_local_and_opted_out_apis_are_not_signed(
    fake_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    for url in ("http://127.0.0.1:8080", "http://localhost:1/", "http://[::1]:8080"):
        assert not WesClient(url).prepare("GET", "/runs").has_header("Authorization")
    monkeypatch.setenv("MINIWDL_FARGATE_API_AUTH", "none")
    remote = WesClient("https://abc123.execute-api.us-east-1.amazonaws.com/api")
    assert not remote.prepare("GET", "/runs").has_header("Authorization")
    monkeypatch.setenv("MINIWDL_FARGATE_API_AUTH", "sigv4")
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    forced = WesClient("http://127.0.0.1:8080").prepare("GET", "/service-info")
    assert "/us-west-2/execute-api/" in forced.get_header("Authorization")
    assert should_sign("api.example.com") and not should_sign("LOCALHOST")
    with pytest.raises(WesError, match="must be 'none' or 'sigv4'"):
        should_sign("x", "maybe")
    assert region_from_host("a1.execute-api.ap-south-1.amazonaws.com") == "ap-south-1"
    assert region_from_host("api.example.com") is None


def test_signing_without_credentials_or_region_says_what_to_do(
    fake_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(WesError, match=r"no AWS credentials found .*MINIWDL_FARGATE_API_AUTH=none"):
        WesClient("https://abc123.execute-api.us-east-1.amazonaws.com/api")
    with pytest.raises(WesError, match=r"cannot tell the region of api\.example\.com"):
        WesClient("https://api.example.com")
    with pytest.raises(WesError, match="must be the API's http"):
        WesClient("ftp://x")


def test_error_messages_from_every_kind_of_error_body() -> None:
    assert _error_message(400, b'{"msg": "bad\\n thing", "status_code": 400}', "") == "bad thing"
    assert _error_message(403, b'{"message": "User: x is not authorized"}', "") == (
        "User: x is not authorized"
    )
    assert "API's root URL" in _error_message(
        403, b'{"message":"Missing Authentication Token"}', ""
    )
    assert _error_message(500, b'{"Code": "E", "Message": "boom"}', "") == "boom"
    assert _error_message(502, b"", "Bad Gateway") == "HTTP 502 Bad Gateway"
    assert "s3://" in _error_message(413, b'{"msg": "too big"}', "")


@pytest.mark.parametrize(
    ("source", "version"),
    [
        ("version 1.0\nworkflow w {}", "1.0"),
        ("# a comment\n\n  version 1.2  # trailing\n", "1.2"),
        ("version development\n", "draft-2"),
        ("workflow w {}\n", "draft-2"),
        ("", "draft-2"),
    ],
)
def test_workflow_type_version_from_the_version_line(source: str, version: str) -> None:
    assert wdl_type_version(source) == version


def test_package_attaches_imports_beside_files_and_local_inputs(tmp_path: Path) -> None:
    wdl = tmp_path / "wf"
    (wdl / "lib").mkdir(parents=True)
    (wdl / "names.txt").write_text("x\n")
    (wdl / "main.wdl").write_text(
        "version 1.2\n"
        'import "lib/tasks.wdl" as t\n'
        "workflow main {\n"
        "  input {\n"
        "    Array[File] files\n"
        "    Directory d\n"
        "    String s\n"
        '    File beside = "names.txt"\n'
        '    File remote = "https://example.com/x"\n'
        "  }\n"
        "  call t.count { input: f = files[0] }\n"
        "}\n"
    )
    (wdl / "lib" / "tasks.wdl").write_text(
        "version 1.2\ntask count { input { File f } command <<< wc -l ~{f} >>> }\n"
    )
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "same.txt").write_text(sub)
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "leaf").write_text("leaf")
    request = package_run(
        str(wdl / "main.wdl"),
        [
            f"files={tmp_path / 'a' / 'same.txt'}",
            f"files={tmp_path / 'b' / 'same.txt'}",
            f"d={tree}",
            "s=inputs/a.txt",
            "remote=https://example.com/y",
        ],
        tags={"k": "v"},
    )
    attachments = {a.name: a.data for a in request.attachments}
    assert attachments == {
        "main.wdl": (wdl / "main.wdl").read_bytes(),
        "lib/tasks.wdl": (wdl / "lib" / "tasks.wdl").read_bytes(),
        "names.txt": b"x\n",
        "inputs/same.txt": b"a",
        "inputs/2/same.txt": b"b",
        "inputs/tree/sub/leaf": b"leaf",
    }
    assert request.workflow_url == "main.wdl"
    assert request.workflow_type_version == "1.2"
    assert request.workflow_params == {
        "main.files": ["inputs/same.txt", "inputs/2/same.txt"],
        "main.d": "inputs/tree",
        "main.s": "inputs/a.txt",
        "main.remote": "https://example.com/y",
    }
    assert request.tags == {"k": "v"} and request.workflow_engine_parameters is None


def test_package_names_are_relative_to_the_common_root_of_the_wdl_files(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "t.wdl").write_text("version 1.0\ntask t { command <<< true >>> }\n")
    (tmp_path / "wf").mkdir()
    (tmp_path / "wf" / "main.wdl").write_text(
        'version 1.0\nimport "../shared/t.wdl"\nworkflow main { call t.t }\n'
    )
    request = package_run(str(tmp_path / "wf" / "main.wdl"))
    assert sorted(a.name for a in request.attachments) == ["shared/t.wdl", "wf/main.wdl"]
    assert request.workflow_url == "wf/main.wdl"
    task = package_run(str(WDL_DIR / "needs_input.wdl"), ["who=x", "times=2"], task="say")
    assert task.workflow_engine_parameters == {"task": "say"}
    assert task.workflow_params == {"who": "x", "times": 2}


def test_package_leaves_a_broken_wdl_to_the_api_and_fails_on_unparsable_inputs(
    tmp_path: Path,
) -> None:
    broken = tmp_path / "broken.wdl"
    broken.write_text("version 1.1\nworkflow broken {\n  call\n}\n")
    inputs = tmp_path / "inputs.json"
    inputs.write_text('{"broken.x": 1}')
    request = package_run(str(broken), input_file=str(inputs))
    assert [a.name for a in request.attachments] == ["broken.wdl"]
    assert (request.workflow_url, request.workflow_type_version) == ("broken.wdl", "1.1")
    assert request.workflow_params == {"broken.x": 1}
    with pytest.raises(RunRequestError, match=r"broken\.wdl:4:1: Unexpected token"):
        package_run(str(broken), ["x=1"])  # typed by the WDL: not sent untyped, nor dropped
    with pytest.raises(RunRequestError, match="input times should be Int"):
        package_run(str(WDL_DIR / "needs_input.wdl"), ["who=x", "times=many"])
    with pytest.raises(RunRequestError, match="WDL file not found"):
        package_run(str(tmp_path / "nope.wdl"))
    missing = package_run(str(WDL_DIR / "needs_input.wdl"))  # the API reports it
    assert missing.workflow_params == {}


# The CLI against `serve`


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedApi]:
    api = ServedApi(
        tmp_path_factory.mktemp("served"),
        MINIWDL__TASK_RUNTIME__ENV=json.dumps({"FROM_CONFIG": "!"}),
    )
    yield api
    # Nothing outlives the module: runs a failed test left behind are canceled, and once the
    # server has stopped, no process of its home (agents, orchestrators, tasks) is left.
    client = api.client()
    for run in client.iter_runs():
        if run["state"] not in TERMINAL_STATES:
            client.cancel_run(run["run_id"])
    deadline = time.monotonic() + 30
    while any(r["state"] not in TERMINAL_STATES for r in client.iter_runs()):
        assert time.monotonic() < deadline, "runs still going 30 s after their cancel"
        time.sleep(0.1)
    assert api.stop() == 0
    while leftover_processes(str(api.home)):
        assert time.monotonic() < deadline, leftover_processes(str(api.home))
        time.sleep(0.1)


class ApiCli:
    """The CLI with MINIWDL_FARGATE_API set, and an empty local home it must not touch."""

    def __init__(self, served: ServedApi, root: Path) -> None:
        self.served = served
        self.root = root
        self.client = served.client()

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MINIWDL")}
        env.update(
            MINIWDL_FARGATE_API=self.served.url,
            MINIWDL_FARGATE_HOME=str(self.root / "not-the-home"),
            PYTHONPATH=str(REPO),
        )
        env.update(extra)
        return env

    def __call__(self, *args: str, timeout: float = 120, **env: str) -> Result:
        proc = subprocess.run(
            [sys.executable, "-m", "chalicelib.cli", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env(**env),
            cwd=self.root,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def wait_for(self, predicate: Any, timeout: float = 30.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.1)

    def running_tasks(self, run_id: str) -> int:
        return sum(
            t.get("tags", {}).get("state") == "RUNNING" for t in self.client.all_tasks(run_id)
        )


@pytest.fixture
def cli(served: ServedApi, tmp_path: Path) -> Iterator[ApiCli]:
    yield ApiCli(served, tmp_path)
    assert not (tmp_path / "not-the-home").exists()


pytestmark_e2e = pytest.mark.e2e


@pytestmark_e2e
def test_run_then_status_outputs_logs_and_list_by_prefix(cli: ApiCli) -> None:
    result = cli("run", str(REPO / "examples" / "hello.wdl"))
    assert result.code == 0, result.err
    run_id = result.json()["run_id"]
    outputs = result.json()["outputs"]
    assert outputs["hello.count"] == 3
    greetings = Path(outputs["hello.greetings"])
    assert greetings.read_text().splitlines() == ["Hello, Ada!", "Hello, Grace!", "Hello, Barbara!"]
    assert f"run {run_id} COMPLETE" in result.err  # the progress line

    prefix = run_id[:-3]
    status = cli("status", prefix)
    assert status.code == 0, status.err
    info = status.json()
    assert (info["run_id"], info["state"], info["workflow"]) == (run_id, "COMPLETE", "hello")
    assert info["tasks"] == {"queued": 0, "running": 0, "done": 4, "failed": 0}
    assert info["started"] and info["ended"] and "error" not in info

    assert cli("outputs", prefix).json() == outputs
    log = cli("logs", prefix)
    assert log.code == 0 and "workflow start" in log.out
    stdout = cli("logs", run_id, "--task", "call-say_hello-1", "--stdout")
    assert stdout.out.strip() == "Hello, Grace!"
    missing = cli("logs", run_id, "--task", "call-nope")
    assert missing.code == 2 and "call-say_hello-0" in missing.err

    rows = cli("list").out.splitlines()
    assert rows[0].split() == ["RUN", "STATE", "SUBMITTED", "TASKS", "WORKFLOW"]
    row = next(r.split() for r in rows if r.startswith(run_id))
    assert (row[1], row[-2], row[-1]) == ("COMPLETE", "4/4", "hello")
    assert run_id in cli("list", "--state", "complete").out
    assert run_id not in cli("list", "--state", "EXECUTOR_ERROR").out
    bad = cli("list", "--state", "DONE")
    assert bad.code == 2 and "unknown state" in bad.err


@pytestmark_e2e
def test_local_input_files_and_directories_travel_as_attachments(
    cli: ApiCli, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    for name in ("one", "sub/two", "sub/three"):
        (data / f"{name}.txt").write_text(name + "\n")
    submitted = cli("submit", str(WDL_DIR / "v1_2.wdl"), "data=data")  # relative to the cwd
    assert submitted.code == 0, submitted.err
    run_id = submitted.out.strip()
    cli.wait_for(lambda: cli.client.get_run_status(run_id)["state"] == "COMPLETE", what="done")
    run = cli.client.get_run(run_id)
    assert run["outputs"]["v1_2.greetings"] == ["Hi a !", "Hi b !"]
    for directory in run["outputs"]["v1_2.dirs"]:
        assert Path(directory, "files").read_text().strip() == "3"
    attached = run["request"]["workflow_attachment"]
    assert sorted(attached) == [
        "inputs/data/one.txt",
        "inputs/data/sub/three.txt",
        "inputs/data/sub/two.txt",
        "v1_2.wdl",
    ]

    files = []
    for i, text in enumerate(["a b c", "d e", "f"]):
        (tmp_path / f"f{i}.txt").write_text(text + "\n")
        files.append(str(tmp_path / f"f{i}.txt"))
    (tmp_path / "inputs.json").write_text(json.dumps({"v1_0.files": files}))
    result = cli("run", str(WDL_DIR / "v1_0.wdl"), "-i", "inputs.json")
    assert result.code == 0, result.err
    assert result.json()["outputs"]["v1_0.words"] == [3, 2, 1]


@pytestmark_e2e
def test_failing_task_gives_its_exit_code_and_stderr_tail(cli: ApiCli) -> None:
    result = cli("run", str(WDL_DIR / "fails.wdl"))
    assert result.code == 3, result.err
    assert "EXECUTOR_ERROR" in result.err
    assert "call-fail failed: its command exited with status 3" in result.err
    assert "about to fail on purpose" in result.err
    assert result.out == ""
    run_id = result.err.split("run ", 1)[1].split()[0]
    outputs = cli("outputs", run_id)
    assert outputs.code == 2 and "only a COMPLETE run has outputs" in outputs.err
    assert cli("status", run_id).json()["tasks"]["failed"] == 1


@pytestmark_e2e
def test_cancel_of_a_sleeping_workflow(cli: ApiCli) -> None:
    submitted = cli("submit", str(WDL_DIR / "slow.wdl"))
    assert submitted.code == 0, submitted.err
    run_id = submitted.out.strip()
    cli.wait_for(lambda: cli.running_tasks(run_id) >= 2, what="two running tasks")
    cancel = cli("cancel", run_id[:-2])
    assert cancel.code == 0, cancel.err
    assert cancel.out.strip() == f"run {run_id} CANCELED"
    again = cli("cancel", run_id)
    assert again.code == 2 and "already ended CANCELED" in again.err
    cli.wait_for(lambda: not _run_processes(run_id), timeout=15, what="no process of the run")


def _run_processes(run_id: str) -> list[str]:
    """Live processes of one run (its orchestrator and tasks); the server, which shares the
    home, is not one of them."""
    return leftover_processes("/no-such-home/", run_id)


@pytestmark_e2e
def test_ctrl_c_during_run_cancels_it(cli: ApiCli) -> None:
    before = {r["run_id"] for r in cli.client.iter_runs()}
    proc = subprocess.Popen(
        [sys.executable, "-m", "chalicelib.cli", "run", str(WDL_DIR / "slow.wdl")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli.env(),
        cwd=cli.root,
    )
    run_ids: list[str] = []

    def running() -> bool:
        run_ids[:] = [r["run_id"] for r in cli.client.iter_runs() if r["run_id"] not in before]
        return bool(run_ids) and cli.running_tasks(run_ids[0]) >= 1

    cli.wait_for(running, what="a running task")
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert f"run {run_ids[0]} CANCELED" in err
    assert cli.client.get_run_status(run_ids[0])["state"] == "CANCELED"
    cli.wait_for(lambda: not _run_processes(run_ids[0]), timeout=15, what="no process of the run")


@pytestmark_e2e
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{tmp}/broken.wdl"], "Unexpected token"),
        (["{wdl}/needs_input.wdl"], "missing required inputs for needs_input: who"),
    ],
)
def test_bad_requests_give_the_apis_message_and_exit_2(
    cli: ApiCli, tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "broken.wdl").write_text("version 1.0\nworkflow broken {\n  call\n}\n")
    before = [r["run_id"] for r in cli.client.iter_runs()]
    refused = cli.served.log().count('"POST /ga4gh/wes/v1/runs HTTP/1.1" 400')
    result = cli("submit", *[a.format(wdl=WDL_DIR, tmp=tmp_path) for a in args])
    assert result.code == 2
    assert result.out == ""
    assert result.err.count("\n") == 1 and result.err.startswith("miniwdl-fargate: error: ")
    assert message in result.err
    # The API said it (the CLI does not check these itself), and recorded nothing.
    assert cli.served.log().count('"POST /ga4gh/wes/v1/runs HTTP/1.1" 400') == refused + 1
    assert [r["run_id"] for r in cli.client.iter_runs()] == before


@pytestmark_e2e
def test_one_task_of_the_wdl_with_a_tag(cli: ApiCli) -> None:
    result = cli("run", str(WDL_DIR / "needs_input.wdl"), "who=x", "times=2", "--task", "say")
    assert result.code == 0, result.err
    run_id = result.json()["run_id"]
    stdout = cli("logs", run_id, "--task", "say", "--stdout")  # a task run: no call-
    assert stdout.out.splitlines() == ["x", "x"]
    run = cli.client.get_run(run_id)
    assert run["request"]["workflow_engine_parameters"] == {"task": "say"}
    tagged = cli("submit", str(WDL_DIR / "needs_input.wdl"), "who=y", "--tag", "team=lab")
    assert cli.client.get_run(tagged.out.strip())["tags"] == {"team": "lab"}


@pytestmark_e2e
def test_unknown_and_ambiguous_run_ids(cli: ApiCli) -> None:
    ids = [r["run_id"] for r in cli.client.iter_runs()]
    if len(ids) < 2:
        ids += [cli("submit", str(WDL_DIR / "needs_input.wdl"), "who=x").out.strip()]
        ids += [cli("submit", str(WDL_DIR / "needs_input.wdl"), "who=y").out.strip()]
    first, second = ids[:2]
    shared = first[: next(i for i, (a, b) in enumerate(zip(first, second, strict=False)) if a != b)]
    ambiguous = cli("status", shared)
    assert ambiguous.code == 2 and "matches several runs" in ambiguous.err
    unknown = cli("status", "no-such-run")
    assert unknown.code == 2 and "no run 'no-such-run'" in unknown.err


def test_an_unreachable_api_is_one_clear_error(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIWDL")}
    env.update(MINIWDL_FARGATE_API=f"http://127.0.0.1:{port}", PYTHONPATH=str(REPO))
    for args in (["list"], ["--home", str(tmp_path), "list"]):
        proc = subprocess.run(
            [sys.executable, "-m", "chalicelib.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
        )
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "--home names a local-mode home" in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "chalicelib.cli", "status", "x"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert f"cannot reach the API at http://127.0.0.1:{port}/ga4gh/wes/v1" in proc.stderr
