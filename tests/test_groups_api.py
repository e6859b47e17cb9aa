"""Run groups through the API (``api``, the Chalice routes beside WES) and the CLI
(``group_cli``): create, list, update (admits what now fits), delete; hostile bodies refused."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client
from test_admission import Launcher, Notes, orchestrator, submit

import app as app_module
from chalicelib import api, group_cli
from chalicelib.admission import Admission
from chalicelib.deployment import Submitter
from chalicelib.groups import Limits
from chalicelib.memory_store import MemoryStore
from chalicelib.objects import DirectoryObjects
from chalicelib.states import State
from chalicelib.status import ControlPlane
from chalicelib.wes import ApiError


@pytest.fixture
def submitter(tmp_path: Path) -> Submitter:
    plane = ControlPlane(
        store=MemoryStore(),
        notifier=Notes(),
        launcher=Launcher(),
        admission=Admission(orchestrator, Limits(max_runs=5)),
    )
    return Submitter(plane, DirectoryObjects(str(tmp_path)), orchestrator, lambda url: b"")


@pytest.fixture
def client(submitter: Submitter, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    monkeypatch.setattr(app_module, "submitter_from_environment", lambda: submitter)
    with Client(app_module.app) as c:
        yield c


def call(client: Client, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    kwargs: dict[str, Any] = {}
    if body is not None:
        kwargs = {
            "body": body if isinstance(body, bytes) else json.dumps(body).encode(),
            "headers": {"Content-Type": "application/json"},
        }
    response = getattr(client.http, method)(f"/ga4gh/wes/v1{path}", **kwargs)
    return response.status_code, json.loads(response.body or b"{}")


def test_group_lifecycle_through_the_routes(client: Client, submitter: Submitter) -> None:
    status, body = call(client, "post", "/groups", {"name": "lab-a", "max_runs": 1})
    assert status == 200 and body["max_runs"] == 1 and body["runs_admitted"] == 0
    assert call(client, "post", "/groups", {"name": "lab-a"})[0] == 409
    status, body = call(client, "get", "/groups")
    assert [g["name"] for g in body["groups"]] == ["default", "lab-a"]
    assert body["groups"][0]["max_runs"] == 5  # from configuration
    plane = submitter.plane
    submit(plane, "r0")
    waiting = submit(plane, "r1")
    assert waiting.waiting == "waiting: group lab-a has 1 of 1 runs"
    status, body = call(client, "patch", "/groups/lab-a", {"max_runs": 2, "max_duration": "12h"})
    assert status == 200 and body["max_duration_seconds"] == 43200.0
    assert body["runs_admitted"] == 2 and body["runs_waiting"] == 0
    assert plane.launcher.launched == ["r0", "r1"]  # type: ignore[attr-defined]
    assert plane.store.get_run("r1").deadline is not None
    assert call(client, "delete", "/groups/lab-a")[0] == 409  # runs admitted
    assert call(client, "get", "/groups/nope")[0] == 404
    assert call(client, "patch", "/groups/default", {"max_runs": 9})[0] == 400
    assert call(client, "delete", "/groups/default")[0] == 400


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        {"name": "bad name"},
        {"name": "ok", "max_runs": -3},
        {"name": "ok", "max_runs": "lots"},
        {"name": "ok", "max_duration": "forever"},
        {"name": "ok", "unknown": 1},
        {"name": "ok", "description": ["x"]},
        {"name": "ok", "description": "x" * 2000},
        b"[" * 100000,
    ],
)
def test_hostile_group_bodies_are_400(client: Client, body: Any) -> None:
    status, answer = call(client, "post", "/groups", body)
    assert status == 400, answer
    assert answer["status_code"] == 400 and answer["msg"]
    assert call(client, "get", "/groups")[1]["groups"][1:] == []


def test_a_group_cannot_be_renamed(client: Client) -> None:
    call(client, "post", "/groups", {"name": "lab-a"})
    assert call(client, "patch", "/groups/lab-a", {"name": "lab-b"})[0] == 400


def test_cancel_of_a_waiting_run_through_the_api(submitter: Submitter) -> None:
    api.put_group(submitter, json.dumps({"name": "lab-a", "max_runs": 0}).encode())
    submit(submitter.plane, "r0")
    assert api.cancel(submitter, "r0") == {"run_id": "r0"}
    assert submitter.plane.store.get_run("r0").state == State.CANCELED
    assert submitter.plane.launcher.launched == []  # type: ignore[attr-defined]


def test_groups_need_admission(submitter: Submitter) -> None:
    import dataclasses

    bare = dataclasses.replace(
        submitter, plane=dataclasses.replace(submitter.plane, admission=None)
    )
    with pytest.raises(ApiError) as caught:
        api.list_groups(bare)
    assert caught.value.status_code == 501


# the CLI


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="miniwdl-fargate")
    parser.add_argument("--home")
    group_cli.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def run_cli(home: Path, argv: list[str]) -> int:
    args = parse(["--home", str(home), *argv])
    result: int = args.handler(args, None)
    return result


def test_cli_over_the_local_home(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MINIWDL_FARGATE_API", raising=False)
    home = tmp_path / "home"
    argv = ["group", "create", "lab-a", "--max-runs", "10", "--max-duration", "12h"]
    assert run_cli(home, [*argv, "--description", "overnight"]) == 0
    assert run_cli(home, ["group", "update", "lab-a", "--max-vcpus", "500"]) == 0
    capsys.readouterr()
    assert run_cli(home, ["group", "list"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["GROUP", "RUNS", "WAITING", "VCPUS", "GPUS", "DURATION"]
    assert table[2].split() == ["lab-a", "0/10", "0", "500", "-", "12h"]
    assert run_cli(home, ["group", "update", "lab-a", "--max-runs", "none"]) == 0
    assert run_cli(home, ["group", "show", "lab-a"]) == 0
    shown = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert shown["max_runs"] is None and shown["description"] == "overnight"
    assert run_cli(home, ["group", "delete", "lab-a"]) == 0
    with pytest.raises(group_cli.GroupCommandError, match="no run group"):
        run_cli(home, ["group", "delete", "lab-a"])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["group", "create", "lab a"], "group name"),
        (["group", "create", "ok", "--max-runs", "1.5"], "integer"),
        (["group", "create", "ok", "--max-vcpus", "many"], "number"),
        (["group", "create", "ok", "--max-duration", "soon"], "duration"),
        (["group", "update", "ok"], "nothing to change"),
    ],
)
def test_cli_refuses_bad_input_before_any_call(
    tmp_path: Path, argv: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(group_cli, "groups_for", lambda args: pytest.fail("called"))
    with pytest.raises(group_cli.GroupCommandError, match=message):
        run_cli(tmp_path, argv)


def test_cli_over_the_api_uses_the_group_routes() -> None:
    calls: list[tuple[str, str, Any]] = []

    class FakeClient:
        def _call(self, method: str, path: str, **kw: Any) -> Any:
            calls.append((method, path, json.loads(kw["body"]) if kw.get("body") else None))
            return {"groups": []} if path == "/groups" and method == "GET" else {"name": "x"}

    groups = group_cli.ApiGroups(FakeClient())
    groups.create({"name": "lab-a", "max_runs": 3})
    groups.update("lab-a", {"max_runs": None})
    groups.list()
    groups.delete("lab-a")
    assert calls == [
        ("POST", "/groups", {"name": "lab-a", "max_runs": 3}),
        ("PATCH", "/groups/lab-a", {"max_runs": None}),
        ("GET", "/groups", None),
        ("DELETE", "/groups/lab-a", None),
    ]


def test_submissions_join_their_group_through_post_runs(
    client: Client, submitter: Submitter
) -> None:
    from aws_stack import REPO
    from wes_forms import post_run

    hello = (REPO / "examples" / "hello.wdl").read_bytes()
    call(client, "post", "/groups", {"name": "lab-a", "max_runs": 1})

    def post(tags: dict[str, str], params: dict[str, str] | None = None) -> Any:
        fields = {"workflow_url": "hello.wdl", "tags": json.dumps(tags)}
        if params is not None:
            fields["workflow_engine_parameters"] = json.dumps(params)
        return post_run(client, fields, {"hello.wdl": hello})

    refused = post({"group": "nope"})
    assert refused.status_code == 400 and "no run group 'nope'" in refused.json_body["msg"]
    assert post({"priority": "urgent"}).status_code == 400
    assert submitter.plane.store.list_runs() == ([], "")  # nothing recorded for either
    ids = [post({"group": "lab-a"}).json_body["run_id"] for _ in range(2)]
    store = submitter.plane.store
    assert store.get_run(ids[0]).admitted_at and store.get_run(ids[0]).group == "lab-a"
    assert store.get_run(ids[1]).waiting == "waiting: group lab-a has 1 of 1 runs"
    assert submitter.plane.launcher.launched == [ids[0]]  # type: ignore[attr-defined]
    unlimited = post({}).json_body["run_id"]  # the default group (5 at once, configured)
    assert store.get_run(unlimited).group == "default"
    assert submitter.plane.launcher.launched == [ids[0], unlimited]  # type: ignore[attr-defined]
