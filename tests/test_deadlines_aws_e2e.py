"""Run deadlines on the emulated stack (moto server, the Chalice app, fake Fargate), end to end:
admission through the API creates the run's one-time schedule in the stack's schedule group;
the schedule's firing (its target input handed to the app's deadline Lambda, as Scheduler
would) cancels a run past its deadline with the reason; a run that ends before its deadline
has its schedule deleted by the status handler."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from aws_stack import REPO, Stack
from wes_forms import post_run

from chalicelib import deployment
from chalicelib.deadlines import deadline_reason, schedule_name

pytestmark = pytest.mark.e2e

BASE = "/ga4gh/wes/v1"
HELLO = (REPO / "examples" / "hello.wdl").read_bytes()
NAP = (REPO / "tests" / "wdl" / "nap.wdl").read_bytes()
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:stack-CancelRunsPastDeadline"
ROLE = "arn:aws:iam::123456789012:role/stack-DeadlineSchedulerRole"


def with_deadlines(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The stack's deadline settings, as the template sets them; the Scheduler client."""
    import boto3

    scheduler = boto3.client("scheduler", region_name="us-east-1")
    scheduler.create_schedule_group(Name="stack-deadlines")
    for key, value in {
        "MINIWDL_FARGATE_DEADLINE_SCHEDULE_GROUP": "stack-deadlines",
        "MINIWDL_FARGATE_DEADLINE_FUNCTION_ARN": FUNCTION,
        "MINIWDL_FARGATE_DEADLINE_ROLE_ARN": ROLE,
    }.items():
        monkeypatch.setenv(key, value)
    deployment.aws_control_plane.cache_clear()
    deployment._aws_submitter.cache_clear()
    return scheduler


def create_group(stack: Stack, **limits: Any) -> None:
    created = stack.client.http.post(
        f"{BASE}/groups",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"name": "lab-a", **limits}).encode(),
    )
    assert created.status_code == 200, created.body


def submit(stack: Stack, name: str, wdl: bytes) -> str:
    response = post_run(
        stack.client,
        {"workflow_url": name, "tags": json.dumps({"group": "lab-a"})},
        {name: wdl},
    )
    assert response.status_code == 200, response.body
    return str(response.json_body["run_id"])


def test_a_run_past_its_deadline_is_canceled_when_its_schedule_fires(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    scheduler = with_deadlines(stack, monkeypatch)
    create_group(stack, max_duration=2)
    run_id = submit(stack, "nap.wdl", NAP)
    run = stack.run(run_id)
    assert run.deadline is not None
    schedule = scheduler.get_schedule(Name=schedule_name(run_id), GroupName="stack-deadlines")
    assert schedule["ScheduleExpression"].startswith("at(")
    assert schedule["ActionAfterCompletion"] == "DELETE"
    assert schedule["Target"]["Arn"] == FUNCTION and schedule["Target"]["RoleArn"] == ROLE
    time.sleep(2.5)  # past the deadline: Scheduler would invoke the Lambda now
    started = time.monotonic()
    stack.app.cancel_runs_past_deadline(json.loads(schedule["Target"]["Input"]), None)
    done = stack.wait(run_id, timeout=60)
    assert done.state.value == "CANCELED"
    assert done.error is not None and done.error["message"] == deadline_reason(run)
    assert time.monotonic() - started < 45  # its task's sleep 60 was cut short
    # a second firing (Scheduler's retry) finds it over: nothing more happens
    stack.app.cancel_runs_past_deadline({"run_id": run_id}, None)
    assert stack.run(run_id).state.value == "CANCELED"


def test_a_run_that_ends_in_time_has_its_schedule_deleted(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    scheduler = with_deadlines(stack, monkeypatch)
    create_group(stack, max_duration="1h")
    run_id = submit(stack, "hello.wdl", HELLO)
    listed = scheduler.list_schedules(GroupName="stack-deadlines")["Schedules"]
    assert [s["Name"] for s in listed] == [schedule_name(run_id)]
    done = stack.wait(run_id)
    assert done.state.value == "COMPLETE", done.error
    assert scheduler.list_schedules(GroupName="stack-deadlines")["Schedules"] == []
