"""The WES API against the pinned WES 1.1.0 OpenAPI (``tests/openapi/``), with schemathesis.

Every operation of the spec is called with generated requests, positive and negative, through
``serve``'s own server (on 127.0.0.1, over an empty local home), and every answer is checked:
no server errors, documented status codes, content types and headers, response bodies that
match the schemas, and invalid requests refused. Nothing reaches the network: a workflow_url the
generator makes up resolves to loopback only, which the fetcher refuses.

Where the spec is silent or ambiguous, ``SPEC_GAPS`` lists, narrowly and with the reason, the
status codes this API answers that the spec does not document for an operation.
"""

from __future__ import annotations

import copy
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from schemathesis import checks

from chalicelib import serve

SPEC_DIR = Path(__file__).parent / "openapi"
SERVICE_INFO_REF = (
    "https://raw.githubusercontent.com/ga4gh-discovery/ga4gh-service-info/v1.0.0/"
    "service-info.yaml#/components/schemas/Service"
)
MAX_EXAMPLES = 40
# (method, path) -> {status: why the spec does not list it}
SPEC_GAPS: dict[tuple[str, str], dict[str, str]] = {
    ("get", "/runs/{run_id}/tasks"): {
        "400": "a bad page_size or page_token: ListRuns documents 400 for them, ListTasks,"
        " with the same parameters, omits it",
    },
    ("post", "/runs"): {
        "413": "a body over 4 MiB (API Gateway's payload limit); the spec sets no limit",
        "415": "a body that is not multipart/form-data, the only type the spec defines",
    },
    ("post", "/runs/{run_id}/cancel"): {
        "409": "never answered today; listed so a cancel of an ended run may say so",
    },
}
# Checks that test what WES does not promise: positive_data_acceptance expects 2xx for any
# schema-valid request, but a RunWorkflow form the schema allows (every field an optional
# string) is almost never a runnable WDL request, and the spec documents 400 for it.
EXCLUDED_CHECKS = [checks.positive_data_acceptance]


def load_spec() -> dict[str, Any]:
    """The pinned spec with the external service-info ``Service`` schema inlined, and the
    ``SPEC_GAPS`` documented as responses (ErrorResponse)."""
    spec: dict[str, Any] = yaml.safe_load(
        (SPEC_DIR / "workflow_execution_service.openapi.yaml").read_text()
    )
    service_info = yaml.safe_load((SPEC_DIR / "service-info.yaml").read_text())
    schemas = spec["components"]["schemas"]
    schemas.update(service_info["components"]["schemas"])
    for part in schemas["ServiceInfo"]["allOf"]:
        if part.get("$ref") == SERVICE_INFO_REF:
            part["$ref"] = "#/components/schemas/Service"
    error = copy.deepcopy(spec["paths"]["/runs"]["get"]["responses"][400])
    for (method, path), codes in SPEC_GAPS.items():
        responses = spec["paths"][path][method]["responses"]
        for code, why in codes.items():
            responses[int(code)] = {**copy.deepcopy(error), "description": why}
    return spec


SCHEMA = schemathesis.openapi.from_dict(load_spec())


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``serve``'s server for the app, on 127.0.0.1, over an empty home."""
    home = tmp_path_factory.mktemp("openapi-home")
    patch = pytest.MonkeyPatch()
    for key in [k for k in list(__import__("os").environ) if k.startswith("MINIWDL")]:
        patch.delenv(key)
    real_getaddrinfo = socket.getaddrinfo

    def loopback_only(host: Any, *args: Any, **kwargs: Any) -> Any:
        # Whatever a generated workflow_url names resolves to loopback (which the fetcher
        # refuses): no request of this test leaves the machine.
        return real_getaddrinfo("127.0.0.1", *args, **kwargs)

    patch.setattr(socket, "getaddrinfo", loopback_only)
    environ: dict[str, str] = {}
    serve.prepare_environment(str(home), environ)
    for key, value in environ.items():
        patch.setenv(key, value)
    from app import app

    server = serve.create_server(app, "127.0.0.1", 0)
    port = int(server.server_address[1])
    server.gate = serve.Gate(hosts=serve.allowed_hosts(serve.host_names("127.0.0.1"), port))
    patch.setenv("MINIWDL_FARGATE_PUBLIC_URL", f"http://127.0.0.1:{port}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}/ga4gh/wes/v1"
    server.shutdown()
    server.server_close()
    patch.undo()


CALLS: list[float] = []


@SCHEMA.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_every_operation_conforms(case: schemathesis.Case, api_url: str) -> None:
    started = time.monotonic()
    case.call_and_validate(base_url=api_url, excluded_checks=EXCLUDED_CHECKS, timeout=30)
    CALLS.append(time.monotonic() - started)


def test_the_spec_gaps_are_narrow() -> None:
    """Each listed gap is a 4xx on an operation the spec has, and is not already documented."""
    spec = yaml.safe_load((SPEC_DIR / "workflow_execution_service.openapi.yaml").read_text())
    for (method, path), codes in SPEC_GAPS.items():
        documented = {str(c) for c in spec["paths"][path][method]["responses"]}
        assert all(c.startswith("4") and c not in documented for c in codes), (method, path)


def test_many_requests_were_checked() -> None:
    """The run above made its examples (it runs first in this module): at least 10 for each of
    the spec's 8 operations, and says how many in how long."""
    if not CALLS:
        pytest.skip("the schemathesis test did not run in this session")
    print(f"\nschemathesis: {len(CALLS)} requests checked, {sum(CALLS):.1f} s in calls")
    assert len(CALLS) >= 8 * 10


def test_the_logs_of_a_recorded_run_match_the_schemas(api_url: str) -> None:
    """The answers about an existing run (which generated ids never hit), its tasks and the
    service: every field WES types, as WES types it (no nulls), and the log URLs readable."""
    import os

    import requests

    from chalicelib.records import RunRecord, TaskRecord
    from chalicelib.sqlite_store import SqliteStore
    from chalicelib.states import State

    home = Path(os.environ["MINIWDL_FARGATE_HOME"])
    run_dir = home / "work" / "run-openapi"
    run_dir.mkdir(parents=True)
    (run_dir / "stderr.txt").write_text("task stderr\n")
    now = "2026-01-01T00:00:00.000Z"
    store = SqliteStore(str(home / "state.sqlite3"))
    store.create_run(
        RunRecord(
            run_id="run-openapi",
            state=State.RUNNING,
            created_at=now,
            updated_at=now,
            workflow_name="w",
            workflow_key="k",
            inputs_key="i",
            request={"wdl_path": "/nowhere/w.wdl"},  # as the CLI records a local run
            run_dir=str(run_dir),
            start_time=now,
        )
    )
    for task_id, stderr in (("t-done", str(run_dir / "stderr.txt")), ("t-queued", None)):
        store.put_task(
            TaskRecord(
                task_id=task_id,
                run_id="run-openapi",
                state=State.COMPLETE if stderr else State.QUEUED,
                updated_at=now,
                call_id="call-a",
                exit_code=0 if stderr else None,
                stderr=stderr,
            ),
            None,
        )
    checked = {
        ("/service-info", "/service-info"),
        ("/runs", "/runs?page_size=5"),
        ("/runs/{run_id}", "/runs/run-openapi"),
        ("/runs/{run_id}/status", "/runs/run-openapi/status"),
        ("/runs/{run_id}/tasks", "/runs/run-openapi/tasks?page_size=1"),
        ("/runs/{run_id}/tasks/{task_id}", "/runs/run-openapi/tasks/t-queued"),
        ("/runs/{run_id}/tasks/{task_id}", "/runs/run-openapi/tasks/t-done"),
    }
    for template, path in sorted(checked):
        response = requests.get(api_url + path, timeout=30)
        assert response.status_code == 200, (path, response.text)
        SCHEMA[template]["GET"].validate_response(response)
    task = requests.get(api_url + "/runs/run-openapi/tasks/t-done", timeout=30).json()
    assert requests.get(task["stderr"], timeout=30).text == "task stderr\n"
