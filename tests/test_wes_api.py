"""The WES API (app.py) over the local mode's adapters, through ``chalice.test.Client``: real
runs, every bad input a 4xx WES ErrorResponse with nothing recorded or launched."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from chalice.test import Client
from local_mode import leftover_processes
from wes_forms import post_run

from app import app
from chalicelib.sqlite_store import SqliteStore

REPO = Path(__file__).resolve().parent.parent
WDL_DIR = Path(__file__).parent / "wdl"
BASE = "/ga4gh/wes/v1"
HELLO = (REPO / "examples" / "hello.wdl").read_bytes()
NEEDS_INPUT = (WDL_DIR / "needs_input.wdl").read_bytes()
TERMINAL = {"COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR", "CANCELED"}

FILE_INPUT_WDL = b"""version 1.0
workflow count_lines {
  input { File data }
  call wc { input: data = data }
  output { Int n = wc.n }
}
task wc {
  input { File data }
  command <<< wc -l < ~{data} >>>
  output { Int n = read_int(stdout()) }
}
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in list(os.environ):
        if key.startswith("MINIWDL"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("MINIWDL_FARGATE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def client(home: Path) -> Iterator[Client]:
    with Client(app) as c:
        yield c


def wait(client: Client, run_id: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = str(client.http.get(f"{BASE}/runs/{run_id}/status").json_body["state"])
        if state in TERMINAL:
            return state
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} did not end in {timeout} s")


def test_service_info(client: Client) -> None:
    info = client.http.get(f"{BASE}/service-info").json_body
    assert info["workflow_type_versions"]["WDL"]["workflow_type_version"] == [
        "1.0",
        "1.1",
        "1.2",
        "draft-2",
    ]
    assert info["supported_wes_versions"] == ["1.1.0"]
    assert info["system_state_counts"]["RUNNING"] == 0


@pytest.mark.e2e
def test_a_run_through_the_api_completes_with_its_log_tasks_and_outputs(client: Client) -> None:
    response = post_run(
        client,
        {
            "workflow_url": "hello.wdl",
            "workflow_type": "WDL",
            "workflow_type_version": "1.1",
            "workflow_params": json.dumps({"hello.names": ["Ada", "Alan"]}),
            "tags": json.dumps({"project": "demo"}),
        },
        {"hello.wdl": HELLO},
    )
    assert response.status_code == 200, response.body
    run_id = response.json_body["run_id"]
    assert wait(client, run_id) == "COMPLETE"

    log = client.http.get(f"{BASE}/runs/{run_id}").json_body
    assert log["run_id"] == run_id and log["state"] == "COMPLETE"
    assert log["request"]["workflow_params"] == {"hello.names": ["Ada", "Alan"]}
    assert log["request"]["tags"] == {"project": "demo"}
    assert log["tags"] == {"project": "demo"}
    assert log["outputs"]["hello.count"] == 2
    greetings = Path(log["outputs"]["hello.greetings"])
    assert greetings.read_text().splitlines() == ["Hello, Ada!", "Hello, Alan!"]
    # the output's file through the API, relative to the run's results
    relative = os.path.relpath(greetings, Path(log["outputs_location"]).parent)
    served = client.http.get(f"{log['outputs_url']}?path={relative}")
    assert served.status_code == 200 and served.body == greetings.read_bytes()
    assert log["run_log"]["exit_code"] == 0
    # stdout and stderr are URLs of the API (WES), serving the run's files
    assert log["run_log"]["stderr"] == f"{BASE}/runs/{run_id}/logs/stderr"
    workflow_log = client.http.get(log["run_log"]["stderr"])
    assert workflow_log.status_code == 200 and b"workflow start" in workflow_log.body
    tail = client.http.get(log["run_log"]["stderr"], headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.body == workflow_log.body[-10:]
    assert log["task_logs_url"].endswith(f"/runs/{run_id}/tasks")
    assert log["cost"]["vcpu_seconds"] > 0
    assert log["submitted_at"] <= log["run_log"]["start_time"] <= log["run_log"]["end_time"]
    assert Path(log["run_dir"]).is_dir()

    first = client.http.get(f"{BASE}/runs/{run_id}/tasks?page_size=2").json_body
    assert len(first["task_logs"]) == 2 and first["next_page_token"]
    rest = client.http.get(
        f"{BASE}/runs/{run_id}/tasks?page_size=2&page_token={first['next_page_token']}"
    ).json_body
    logs = first["task_logs"] + rest["task_logs"]
    assert rest["next_page_token"] == ""
    assert sorted(t["name"] for t in logs) == [
        "call-gather",
        "call-say_hello-0-Ada",
        "call-say_hello-1-Alan",
    ]
    assert all(t["exit_code"] == 0 and t["tags"]["state"] == "COMPLETE" for t in logs)
    one = client.http.get(f"{BASE}/runs/{run_id}/tasks/{logs[0]['id']}").json_body
    assert one == logs[0]
    gather = next(t for t in logs if t["name"] == "call-gather")
    assert gather["stdout"].startswith(f"{BASE}/runs/{run_id}/tasks/")
    assert client.http.get(gather["stdout"]).status_code == 200

    runs = client.http.get(f"{BASE}/runs").json_body
    assert runs == {"runs": [{"run_id": run_id, "state": "COMPLETE"}], "next_page_token": ""}


@pytest.mark.e2e
def test_an_attached_input_file_travels_with_the_run(client: Client) -> None:
    response = post_run(
        client,
        {
            "workflow_url": "wf/count.wdl",
            "workflow_params": json.dumps({"count_lines.data": "data/lines.txt"}),
            "workflow_type_version": "draft-2",  # what wes-client sends; tolerated
        },
        {"wf/count.wdl": FILE_INPUT_WDL, "wf/data/lines.txt": b"a\nb\nc\n"},
    )
    assert response.status_code == 200, response.body
    run_id = response.json_body["run_id"]
    assert wait(client, run_id) == "COMPLETE"
    assert client.http.get(f"{BASE}/runs/{run_id}").json_body["outputs"] == {"count_lines.n": 3}


def test_an_idempotency_key_gives_one_run(client: Client, home: Path) -> None:
    fields = {"workflow_url": "needs_input.wdl", "workflow_params": '{"needs_input.who": "x"}'}
    files = {"needs_input.wdl": NEEDS_INPUT}
    key = {"Idempotency-Key": "client-retry-1"}
    first = post_run(client, fields, files, key)
    again = post_run(client, fields, files, key)
    assert first.status_code == again.status_code == 200
    assert first.json_body["run_id"] == again.json_body["run_id"]
    other = post_run(client, {**fields, "workflow_params": '{"needs_input.who": "y"}'}, files, key)
    assert other.status_code == 409
    assert "different request" in other.json_body["msg"]
    assert len(SqliteStore(str(home / "state.sqlite3")).list_runs()[0]) == 1
    wait(client, first.json_body["run_id"])


HUGE = b"x" * (5 * 1024 * 1024)
BAD_REQUESTS: list[tuple[str, dict[str, str], dict[str, bytes], int, str]] = [
    ("no workflow_url", {"workflow_params": "{}"}, {}, 400, "workflow_url is required"),
    (
        "malformed JSON params",
        {"workflow_url": "hello.wdl", "workflow_params": "{not json"},
        {"hello.wdl": HELLO},
        400,
        "workflow_params is not valid JSON",
    ),
    (
        "params not an object",
        {"workflow_url": "hello.wdl", "workflow_params": "[1, 2]"},
        {"hello.wdl": HELLO},
        400,
        "workflow_params must be a JSON object",
    ),
    (
        "tags of the wrong type",
        {"workflow_url": "hello.wdl", "tags": '{"a": 1}'},
        {"hello.wdl": HELLO},
        400,
        "tags must map names to strings",
    ),
    (
        "unknown workflow_type",
        {"workflow_url": "hello.wdl", "workflow_type": "CWL"},
        {"hello.wdl": HELLO},
        400,
        "workflow_type must be WDL",
    ),
    (
        "unknown version",
        {"workflow_url": "hello.wdl", "workflow_type_version": "2.0"},
        {"hello.wdl": HELLO},
        400,
        "workflow_type_version must be one of",
    ),
    ("unknown field", {"workflow_url": "hello.wdl", "colour": "red"}, {}, 400, "unknown field"),
    (
        "unknown engine parameter",
        {"workflow_url": "hello.wdl", "workflow_engine_parameters": '{"turbo": "yes"}'},
        {"hello.wdl": HELLO},
        400,
        "unknown workflow_engine_parameters key 'turbo'",
    ),
    (
        "bad delete_after",
        {"workflow_url": "hello.wdl", "workflow_engine_parameters": '{"delete_after": "soon"}'},
        {"hello.wdl": HELLO},
        400,
        "delete_after must be one of",
    ),
    (
        "a huge body",
        {"workflow_url": "hello.wdl"},
        {"hello.wdl": HELLO, "big.bin": HUGE},
        413,
        "over 4 MiB",
    ),
    (
        "attachment name with ..",
        {"workflow_url": "hello.wdl"},
        {"../hello.wdl": HELLO},
        400,
        "must be a relative path without '..'",
    ),
    (
        "absolute attachment name",
        {"workflow_url": "hello.wdl"},
        {"/etc/hello.wdl": HELLO},
        400,
        "must be a relative path without '..'",
    ),
    (
        "workflow_url that is not attached",
        {"workflow_url": "other.wdl"},
        {"hello.wdl": HELLO},
        400,
        "neither a URL nor the name of an attachment",
    ),
    (
        "workflow_url of another scheme",
        {"workflow_url": "file:///etc/passwd"},
        {},
        400,
        "must be https://, s3:// or an attachment",
    ),
    (
        "an input naming a local absolute path",
        {"workflow_url": "count.wdl", "workflow_params": '{"count_lines.data": "/etc/passwd"}'},
        {"count.wdl": FILE_INPUT_WDL},
        400,
        "names a path outside the run",
    ),
    (
        "an input escaping the attachments",
        {"workflow_url": "count.wdl", "workflow_params": '{"count_lines.data": "../../x"}'},
        {"count.wdl": FILE_INPUT_WDL},
        400,
        "outside the run's attachments",
    ),
    (
        "an input file that is not attached",
        {"workflow_url": "count.wdl", "workflow_params": '{"count_lines.data": "d.txt"}'},
        {"count.wdl": FILE_INPUT_WDL},
        400,
        "is not among the attachments",
    ),
    (
        "an invalid WDL",
        {"workflow_url": "bad.wdl"},
        {"bad.wdl": b"version 1.0\nworkflow w { call nothing }\n"},
        400,
        "bad.wdl:2:",
    ),
    (
        "an import outside the attachments",
        {"workflow_url": "imp.wdl"},
        {"imp.wdl": b'version 1.0\nimport "/etc/x.wdl"\nworkflow w {}\n'},
        400,
        "imports must be relative",
    ),
    (
        "unknown inputs",
        {"workflow_url": "hello.wdl", "workflow_params": '{"hello.nobody": "x"}'},
        {"hello.wdl": HELLO},
        400,
        "unknown input/output: hello.nobody",
    ),
    (
        "missing required input",
        {"workflow_url": "needs_input.wdl"},
        {"needs_input.wdl": NEEDS_INPUT},
        400,
        "missing required inputs for needs_input: who",
    ),
    (
        "wrong-typed input",
        {
            "workflow_url": "needs_input.wdl",
            "workflow_params": '{"needs_input.who": "x", "needs_input.times": "many"}',
        },
        {"needs_input.wdl": NEEDS_INPUT},
        400,
        "needs_input.times",
    ),
    (
        "a WDL that is not UTF-8",
        {"workflow_url": "bin.wdl"},
        {"bin.wdl": b"\xff\xfe\x00version"},
        400,
        "bin.wdl",
    ),
]


@pytest.mark.parametrize(
    "fields,files,status,message",
    [case[1:] for case in BAD_REQUESTS],
    ids=[case[0] for case in BAD_REQUESTS],
)
def test_a_bad_request_is_a_4xx_with_a_clear_message_and_nothing_recorded(
    client: Client,
    home: Path,
    fields: dict[str, str],
    files: dict[str, bytes],
    status: int,
    message: str,
) -> None:
    response = post_run(client, fields, files)
    assert response.status_code == status, response.body
    assert response.json_body["status_code"] == status
    assert message in response.json_body["msg"]
    assert "\n" not in response.json_body["msg"]
    store = home / "state.sqlite3"
    assert not store.exists() or SqliteStore(str(store)).list_runs()[0] == []
    assert not (home / "tasks").exists() or os.listdir(home / "tasks") == []


@pytest.mark.parametrize(
    "content_type,body,status",
    [
        ("application/json", b'{"workflow_url": "x"}', 415),
        ("multipart/form-data", b"--x\r\n", 415),  # no boundary
        ("multipart/form-data; boundary=zzz", b"garbage without parts", 400),
    ],
)
def test_a_body_that_is_not_a_form_is_refused(
    client: Client, content_type: str, body: bytes, status: int
) -> None:
    response = client.http.post(f"{BASE}/runs", headers={"Content-Type": content_type}, body=body)
    assert response.status_code == status, response.body
    assert response.json_body["status_code"] == status


@pytest.mark.parametrize(
    "path,method",
    [
        ("/runs/nope", "get"),
        ("/runs/nope/status", "get"),
        ("/runs/nope/tasks", "get"),
        ("/runs/nope/tasks/t1", "get"),
        ("/runs/nope/cancel", "post"),
    ],
)
def test_an_unknown_run_is_a_404(client: Client, path: str, method: str) -> None:
    response = getattr(client.http, method)(BASE + path)
    assert response.status_code == 404
    assert response.json_body == {"msg": "no run 'nope'", "status_code": 404} or (
        "no task" in response.json_body["msg"]
    )


@pytest.mark.parametrize(
    "query,message",
    [
        ("page_size=0", "page_size must be"),
        ("page_size=abc", "page_size must be"),
        ("page_token=bogus", "page_token is not one this service issued"),
        ("state=SLEEPING", "unknown state"),
    ],
)
def test_bad_list_parameters_are_400(client: Client, query: str, message: str) -> None:
    response = client.http.get(f"{BASE}/runs?{query}")
    assert response.status_code == 400
    assert message in response.json_body["msg"]


@pytest.mark.e2e
def test_cancel_through_the_api_leaves_nothing_running(client: Client, home: Path) -> None:
    slow = (WDL_DIR / "slow.wdl").read_bytes()
    response = post_run(client, {"workflow_url": "slow.wdl"}, {"slow.wdl": slow})
    run_id = response.json_body["run_id"]
    store = SqliteStore(str(home / "state.sqlite3"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if sum(t.state.value == "RUNNING" for t in store.list_tasks(run_id)) == 2:
            break
        time.sleep(0.1)
    cancel = client.http.post(
        f"{BASE}/runs/{run_id}/cancel",
        headers={"Content-Type": "application/x-www-form-urlencoded"},  # what curl -d '' sends
        body=b"",
    )
    assert cancel.json_body == {"run_id": run_id}
    assert wait(client, run_id) == "CANCELED"
    tasks = store.list_tasks(run_id)
    assert len(tasks) == 2 and all(t.state.value == "CANCELED" for t in tasks)
    deadline = time.monotonic() + 10
    while leftover_processes(str(home), run_id) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert leftover_processes(str(home), run_id) == []


@pytest.mark.e2e
def test_a_resubmitted_run_reuses_finished_calls_and_delete_after_cleans_up(
    client: Client, home: Path
) -> None:
    fields = {"workflow_url": "hello.wdl", "workflow_params": '{"hello.names": ["Ada"]}'}
    first = post_run(client, fields, {"hello.wdl": HELLO}).json_body["run_id"]
    assert wait(client, first) == "COMPLETE"
    again = post_run(
        client,
        {**fields, "workflow_engine_parameters": '{"delete_after": "success"}'},
        {"hello.wdl": HELLO},
    ).json_body["run_id"]
    assert wait(client, again) == "COMPLETE"
    store = SqliteStore(str(home / "state.sqlite3"))
    assert len(store.list_tasks(first)) == 2
    assert store.list_tasks(again) == []  # both calls came from the call cache
    log = client.http.get(f"{BASE}/runs/{again}").json_body
    assert Path(log["outputs"]["hello.greetings"]).read_text() == "Hello, Ada!\n"
    assert not Path(log["run_dir"]).exists()  # delete_after=success
    assert Path(client.http.get(f"{BASE}/runs/{first}").json_body["run_dir"]).is_dir()
