"""The control plane on AWS, end to end in emulation: an API call and an S3 drop each lead to an
orchestrator (a real ``miniwdl run`` with the ``aws_fargate`` backend, its task containers run by
the fake Fargate), the run reaches COMPLETE in DynamoDB with outputs in S3, and the notifications
arrive through EventBridge. Everything AWS is a moto server; the Lambdas are the Chalice app."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from aws_stack import BUCKET, REPO, Stack
from wes_forms import post_run

pytestmark = pytest.mark.e2e

BASE = "/ga4gh/wes/v1"
HELLO = (REPO / "examples" / "hello.wdl").read_bytes()
SLOW = (Path(__file__).parent / "wdl" / "slow.wdl").read_bytes()


def s3_text(stack: Stack, uri: str) -> str:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return str(stack.aws["s3"].get_object(Bucket=bucket, Key=key)["Body"].read().decode())


def run_notes(stack: Stack, run_id: str) -> list[dict[str, Any]]:
    return [
        n["detail"]
        for n in stack.notifications()
        if n["detail-type"] == "WDL Run State Change" and n["detail"]["run_id"] == run_id
    ]


def test_an_api_submission_runs_on_fargate_to_complete_with_outputs_in_s3(stack: Stack) -> None:
    response = post_run(
        stack.client,
        {
            "workflow_url": "hello.wdl",
            "workflow_params": json.dumps({"hello.names": ["Ada", "Alan"]}),
            "tags": json.dumps({"team": "genomics"}),
        },
        {"hello.wdl": HELLO},
        {"Idempotency-Key": "first-try"},
    )
    assert response.status_code == 200, response.body
    run_id = response.json_body["run_id"]
    orchestrators = list(stack.harness.tasks.values())
    assert len(orchestrators) == 1
    request = orchestrators[0].request
    assert request["clientToken"] == run_id
    assert request["startedBy"] == f"miniwdl-fargate/orchestrator/{run_id}"

    run = stack.wait(run_id)
    assert run.state.value == "COMPLETE", (run.error, _logs(stack))
    assert run.orchestrator_arn == orchestrators[0].arn
    assert run.outputs is not None
    values = run.outputs["values"]
    assert values["hello.count"] == 2
    assert values["hello.greetings"].startswith(f"s3://{BUCKET}/results/{run_id}/")
    assert s3_text(stack, values["hello.greetings"]).splitlines() == [
        "Hello, Ada!",
        "Hello, Alan!",
    ]
    assert json.loads(s3_text(stack, run.outputs["location"])) == values
    assert run.log_location == f"s3://{BUCKET}/results/{run_id}/logs/workflow.log"
    assert "hello" in s3_text(stack, run.log_location)

    tasks = stack.store.list_tasks(run_id)
    assert sorted(t.call_id for t in tasks) == [
        "call-gather",
        "call-say_hello-0-Ada",
        "call-say_hello-1-Alan",
    ]
    assert all(t.state.value == "COMPLETE" and t.exit_code == 0 for t in tasks)
    # the cost: every task billed its one-minute minimum at 1 vCPU, plus the orchestrator
    assert run.cost is not None and run.cost["vcpu_seconds"] >= 4 * 60
    log = stack.client.http.get(f"{BASE}/runs/{run_id}").json_body
    assert log["cost"] == run.cost and log["outputs"] == values

    states = [n["state"] for n in run_notes(stack, run_id)]
    assert states[0] == "QUEUED" and states[-1] == "COMPLETE"
    assert "RUNNING" in states
    done = run_notes(stack, run_id)[-1]
    assert done["outputs_location"] == run.outputs["location"]
    # announced with the outcome: the task containers' cost (the orchestrator's own share is
    # added to the record when its STOPPED event arrives, after it exited)
    assert done["cost"]["vcpu_seconds"] == 3 * 60
    assert run.cost["usd"] > done["cost"]["usd"]
    assert done["tags"] == {"team": "genomics"}

    # A client retrying with the same key gets the same run, and nothing is launched again.
    again = post_run(
        stack.client,
        {
            "workflow_url": "hello.wdl",
            "workflow_params": json.dumps({"hello.names": ["Ada", "Alan"]}),
            "tags": json.dumps({"team": "genomics"}),
        },
        {"hello.wdl": HELLO},
        {"Idempotency-Key": "first-try"},
    )
    assert again.json_body == {"run_id": run_id}
    assert len(stack.harness.tasks) == 1  # the outer harness runs orchestrators only


def test_an_s3_drop_runs_and_a_bad_drop_is_recorded_failed(stack: Stack) -> None:
    s3 = stack.aws["s3"]
    s3.put_object(Bucket=BUCKET, Key="submissions/greet/hello.wdl", Body=HELLO)
    s3.put_object(
        Bucket=BUCKET,
        Key="submissions/greet/hello.json",
        Body=json.dumps({"hello.names": ["Grace"]}).encode(),
    )
    s3.put_object(Bucket=BUCKET, Key="submissions/broken.json", Body=b"{not json")
    stack.deliver_drops()
    runs = {r.request.get("submission") or r.request.get("wdl_path"): r for r in _all(stack)}
    broken = runs[f"s3://{BUCKET}/submissions/broken.json"]
    assert broken.state.value == "EXECUTOR_ERROR"
    assert broken.error is not None and "not valid JSON" in broken.error["message"]
    assert broken.orchestrator_arn is None
    (good,) = [r for r in runs.values() if r.run_id != broken.run_id]
    assert good.request["wes"]["workflow_url"] == f"s3://{BUCKET}/submissions/greet/hello.wdl"

    run = stack.wait(good.run_id)
    assert run.state.value == "COMPLETE", (run.error, _logs(stack))
    assert run.outputs is not None and run.outputs["values"]["hello.count"] == 1
    # the drop's events again (EventBridge delivers at least once): no second run
    stack.deliver_drops()
    assert len(stack.harness.tasks) == 1
    assert [n["state"] for n in run_notes(stack, broken.run_id)] == ["EXECUTOR_ERROR"]
    assert len(_all(stack)) == 2


def test_cancel_mid_run_stops_the_orchestrator_and_every_task(stack: Stack) -> None:
    response = post_run(stack.client, {"workflow_url": "slow.wdl"}, {"slow.wdl": SLOW})
    run_id = response.json_body["run_id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        running = [t for t in stack.store.list_tasks(run_id) if t.state.value == "RUNNING"]
        if len(running) == 2:
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"tasks never ran: {_logs(stack)}")
    cancel = stack.client.http.post(f"{BASE}/runs/{run_id}/cancel")
    assert cancel.json_body == {"run_id": run_id}
    assert stack.run(run_id).state.value in ("CANCELING", "CANCELED")

    run = stack.wait(run_id, timeout=60)
    assert run.state.value == "CANCELED", (run.error, _logs(stack))
    tasks = stack.store.list_tasks(run_id)
    assert len(tasks) == 2 and all(t.state.value == "CANCELED" for t in tasks)
    deadline = time.monotonic() + 10
    while stack.leftover_processes(run_id) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert stack.leftover_processes(run_id) == []
    assert [n["state"] for n in run_notes(stack, run_id)][-2:] == ["CANCELING", "CANCELED"]


def _all(stack: Stack) -> list[Any]:
    return stack.store.list_runs(page_size=100)[0]


def _logs(stack: Stack) -> str:
    out = []
    for path in sorted((stack.root / "container-logs").iterdir()):
        out.append(f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}")
    return "\n".join(out)


def test_an_orchestrator_stopped_from_outside_records_system_error(stack: Stack) -> None:
    response = post_run(stack.client, {"workflow_url": "slow.wdl"}, {"slow.wdl": SLOW})
    run_id = response.json_body["run_id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if len(stack.store.list_tasks(run_id)) == 2 and stack.run(run_id).orchestrator_arn:
            break
        time.sleep(0.2)
    # A Spot interruption or someone's StopTask: SIGTERM, not a cancel through the API.
    ecs = stack.harness._ecs
    ecs.stop_task(cluster="wdl", task=stack.run(run_id).orchestrator_arn, reason="scale-in")
    run = stack.wait(run_id, timeout=60)
    assert run.state.value == "SYSTEM_ERROR", (run.error, _logs(stack))
    assert run.error is not None and "SIGTERM" in run.error["message"]
    tasks = stack.store.list_tasks(run_id)
    assert tasks and all(t.state.value == "CANCELED" for t in tasks)
    deadline = time.monotonic() + 10
    while stack.leftover_processes(run_id) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert stack.leftover_processes(run_id) == []


@pytest.mark.parametrize(
    "url,message",
    [
        ("s3://someone-elses-bucket/x.wdl", f"can be read from s3://{BUCKET}/ only"),
        (f"s3://{BUCKET}/submissions/missing.wdl", "no object"),
    ],
)
def test_an_s3_workflow_url_outside_the_bucket_or_missing_is_a_400(
    stack: Stack, url: str, message: str
) -> None:
    response = post_run(stack.client, {"workflow_url": url}, {})
    assert response.status_code == 400
    assert message in response.json_body["msg"]
    assert _all(stack) == [] and stack.harness.tasks == {}
