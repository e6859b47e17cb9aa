"""The run report on AWS (the emulated stack: moto, the fake Fargate, the Chalice app): written
to S3 with the outputs when the run ends, named in the orchestrator's log, served by the API;
and the orchestrator's own ECS task carries the run's tags beside the project's."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from aws_stack import BUCKET, REPO, Stack
from test_admission import Launcher, end, make_group, plane_for, submit
from wes_forms import post_run

from chalicelib.admission import admit_submitted
from chalicelib.fargate import with_run_tags
from chalicelib.launcher import TaskSpec
from chalicelib.memory_store import MemoryStore
from chalicelib.records import RunRecord, utc_now
from chalicelib.states import State

BASE = "/ga4gh/wes/v1"
HELLO = (REPO / "examples" / "hello.wdl").read_bytes()
RUN_TAGS = {"team": "genomics", "cost center": "lab/1", "aws:created": "refused", "x": "a\tb"}
EXPECTED_RUN_TAGS = {"team": "genomics", "cost center": "lab/1", "x": "a_b"}


@pytest.mark.e2e
def test_the_report_is_in_s3_named_in_the_log_served_and_the_orchestrator_is_tagged(
    stack: Stack,
) -> None:
    response = post_run(
        stack.client,
        {
            "workflow_url": "hello.wdl",
            "workflow_params": json.dumps({"hello.names": ["Ada", "Alan"]}),
            "tags": json.dumps(RUN_TAGS),
        },
        {"hello.wdl": HELLO},
    )
    assert response.status_code == 200, response.body
    run_id = response.json_body["run_id"]
    (orchestrator,) = stack.harness.tasks.values()
    # the tags RunTask got, and those ECS (moto) keeps on the orchestrator's task
    asked = {t["key"]: t["value"] for t in orchestrator.request["tags"]}
    assert asked == {
        "miniwdl-fargate:run": run_id,
        "miniwdl-fargate:call": "orchestrator",
        **EXPECTED_RUN_TAGS,
    }
    kept = stack.aws["ecs"].list_tags_for_resource(resourceArn=orchestrator.arn)["tags"]
    assert {t["key"]: t["value"] for t in kept} == asked

    run = stack.wait(run_id)
    assert run.state.value == "COMPLETE", run.error
    key = f"results/{run_id}/report.html"
    stored = stack.aws["s3"].get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
    tasks = stack.store.list_tasks(run_id)
    assert len(tasks) == 3 and stored.count('<g class="attempt') == 3
    # each task container's queued time: from the backend's ask, before its launch budget
    assert all(t.requested_at and t.requested_at <= (t.created_at or "") for t in tasks), tasks
    assert stored.count('class="phase queued"') >= 3
    # the orchestrator's log (its awslogs stream here) names the report once it is written
    log = (stack.root / "container-logs" / orchestrator.arn.rsplit("/", 1)[-1]).read_text()
    assert f"NOTICE run report: s3://{BUCKET}/{key}" in log

    # the API: built from the records while the run's directory is readable ...
    served = stack.client.http.get(f"{BASE}/runs/{run_id}/report")
    assert served.status_code == 200 and served.headers["Content-Type"].startswith("text/html")
    assert served.body.decode().count('<g class="attempt') == 3
    # ... and the page written with the outputs where it is not (the Lambda mounts no EFS)
    assert run.run_dir and Path(run.run_dir).is_dir()
    shutil.rmtree(run.run_dir)
    served = stack.client.http.get(f"{BASE}/runs/{run_id}/report")
    assert served.status_code == 200 and served.body.decode() == stored
    missing = stack.client.http.get(f"{BASE}/runs/no-such-run/report")
    assert missing.status_code == 404 and missing.json_body["msg"] == "no run 'no-such-run'"


def test_with_run_tags_keeps_the_projects_first_within_ecs_limits() -> None:
    spec = TaskSpec(run_id="R", role="orchestrator", command=["x"], tags={"mine": "1"})
    many = {f"k{i:02}": "v" for i in range(60)}
    tagged = with_run_tags(spec, "R", {**many, "miniwdl-fargate:run": "forged"})
    assert list(tagged.tags)[:3] == ["miniwdl-fargate:run", "miniwdl-fargate:call", "mine"]
    assert tagged.tags["miniwdl-fargate:run"] == "R" and len(tagged.tags) == 50
    assert spec.tags == {"mine": "1"}  # the spec given is not changed


def test_an_orchestrator_admitted_from_its_groups_queue_carries_the_runs_tags() -> None:
    launched: list[TaskSpec] = []

    class Recording(Launcher):
        def run_task(self, spec: TaskSpec) -> str:
            launched.append(spec)
            return super().run_task(spec)

    plane = plane_for(MemoryStore(), Recording(limit=1))
    make_group(plane, 1)
    submit(plane, "r0")
    now = utc_now()
    waiting = RunRecord(
        "r1", State.QUEUED, now, now, "w", "k", "k", tags={"team": "t"}, group="lab-a"
    )
    plane.store.create_run(waiting)
    assert admit_submitted(plane, waiting).admitted_at is None
    end(plane, "r0")  # r1 is admitted from the queue by r0's end, and launched
    assert [s.run_id for s in launched] == ["r0", "r1"]
    assert launched[1].tags == {
        "miniwdl-fargate:run": "r1",
        "miniwdl-fargate:call": "orchestrator",
        "team": "t",
    }
