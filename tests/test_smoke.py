"""``make smoke``'s logic (chalicelib/smoke.py) against the emulated stack: every check passes on
a working deployment with its EC2 side on (the GPU task runs on an emulated capacity provider),
the temporary notification queue and rule are removed afterwards, and a deployment without its
bus is refused before anything is submitted."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import pytest
from aws_stack import BUCKET, BUS, CLUSTER, ORCHESTRATOR_FAMILY, REGION, TABLE, Stack
from botocore.exceptions import ClientError
from fargate_harness import Ec2Provider
from wes_forms import BASE, post_run

from chalicelib import fargate
from chalicelib.capacity import DEFAULT_CAPACITIES
from chalicelib.smoke import Check, Deployment, Smoke

pytestmark = pytest.mark.e2e


class ChaliceApi:
    """The smoke test's ``Api`` over the Chalice app (the stack's API Lambda)."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.cancels = 0

    def submit(self, name: str, wdl: str, inputs: dict[str, Any]) -> str:
        response = post_run(
            self.stack.client,
            {"workflow_url": name, "workflow_params": json.dumps(inputs)},
            {name: wdl.encode()},
        )
        assert response.status_code == 200, response.body
        return str(response.json_body["run_id"])

    def state(self, run_id: str) -> str:
        return str(self.stack.client.http.get(f"{BASE}/runs/{run_id}/status").json_body["state"])

    def cancel(self, run_id: str) -> None:
        self.cancels += 1
        self.stack.client.http.post(f"{BASE}/runs/{run_id}/cancel")


def _deployment(stack: Stack, **changes: Any) -> Deployment:
    return Deployment(
        **{
            "table": TABLE,
            "bus": BUS,
            "bucket": BUCKET,
            "cluster": CLUSTER,
            "ec2_capacity": False,
            "ecs": fargate.new_ecs_client(REGION),  # the fake Fargate's view of the tasks
            **{name: stack.aws[name] for name in ("dynamodb", "s3", "sqs", "events")},
            **changes,
        }
    )


def _enable_ec2(stack: Stack) -> None:
    """The stack with Ec2Capacity: the orchestrator's definition says so (a new revision, as a
    stack update makes), and the fake ECS inside it has the capacity providers."""
    ecs = stack.aws["ecs"]
    current = ecs.describe_task_definition(taskDefinition=ORCHESTRATOR_FAMILY)["taskDefinition"]
    (container,) = current["containerDefinitions"]
    providers = [
        asdict(Ec2Provider(f"wdl-{c.name}", c.vcpu, c.memory_mib, c.gpus, c.spot, 0.3))
        for c in DEFAULT_CAPACITIES
    ]
    container["environment"] += [
        {"name": "MINIWDL__AWS_FARGATE__EC2_CAPACITY", "value": "true"},
        {"name": "MINIWDL__AWS_FARGATE__EC2_CAPACITY_PREFIX", "value": "wdl"},
        {"name": "FAKE_EC2_PROVIDERS", "value": json.dumps(providers)},
    ]
    ecs.register_task_definition(
        family=ORCHESTRATOR_FAMILY,
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu=current["cpu"],
        memory=current["memory"],
        containerDefinitions=[container],
    )


def test_every_check_passes_on_a_working_stack_and_cleans_up(stack: Stack) -> None:
    _enable_ec2(stack)
    lines: list[Check] = []
    api = ChaliceApi(stack)
    smoke = Smoke(
        api, _deployment(stack, ec2_capacity=True), report=lines.append, timeout=120, poll=0.3
    )
    assert smoke.run(), [c.line() for c in lines]
    names = [c.name for c in lines]
    assert names == [
        "cancel: CANCELED through the API",
        "cancel: its tasks ended",
        "scatter: COMPLETE through the API",
        "scatter: outputs recorded",
        "scatter: Files passed between tasks, output in S3",
        "scatter: task records in DynamoDB",
        "failing task: EXECUTOR_ERROR through the API",
        "failing task: exit code 3 recorded",
        "gpu task: COMPLETE and saw a GPU",
        "notifications: each run's end announced on the bus",
        "no task left running",
    ]
    assert all(c.ok for c in lines)
    assert lines[names.index("gpu task: COMPLETE and saw a GPU")].detail == "GPU-fake-0"
    assert api.cancels == 1 and len(smoke.run_ids) == 4
    gpu_task = stack.store.list_tasks(smoke.run_ids[-1])[0]
    assert gpu_task.provisioning_seconds is not None and gpu_task.provisioning_seconds >= 0.2
    # the temporary queue and rule are gone; the stack's own are not touched
    rules = stack.aws["events"].list_rules(EventBusName=BUS)["Rules"]
    assert [r["Name"] for r in rules] == ["notes"]
    queues = stack.aws["sqs"].list_queues().get("QueueUrls", [])
    assert not [q for q in queues if "smoke" in q]


def test_a_stack_without_its_bus_is_refused_and_the_queue_removed(stack: Stack) -> None:
    lines: list[Check] = []
    smoke = Smoke(
        ChaliceApi(stack), _deployment(stack, bus="not-the-stacks-bus"), report=lines.append
    )
    with pytest.raises(ClientError):  # the rule cannot be put on a bus that does not exist
        smoke.run()
    assert lines == [] and smoke.run_ids == []  # refused before submitting anything
    queues = stack.aws["sqs"].list_queues().get("QueueUrls", [])
    assert not [q for q in queues if "smoke" in q]  # the queue made first is removed


def test_check_lines() -> None:
    assert Check("a", True).line() == "PASS a"
    assert Check("b", False, "why").line() == "FAIL b: why"
    assert Check("c", None, "off").line() == "SKIP c: off"
