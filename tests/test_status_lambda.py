"""The status Lambda on its AWS adapters: an ECS event through the Chalice app lands in DynamoDB,
is announced on EventBridge (delivered to SQS), and an orchestrator that stops without an outcome
gets its run marked SYSTEM_ERROR and its leftover tasks stopped through ECS."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from chalice.test import Client
from events import ecs_event, graft, sample
from moto import mock_aws

from chalicelib import deployment
from chalicelib.dynamodb_store import DynamoDbStore, table_definition
from chalicelib.ecs_events import ROLE_ORCHESTRATOR
from chalicelib.records import RunRecord, TaskRecord
from chalicelib.states import State

REPO = Path(__file__).resolve().parent.parent
REGION = "us-east-1"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    import jsonpath_ng.ext

    # moto re-parses its rule-target paths for every event; cache them (test speed only)
    monkeypatch.setattr(jsonpath_ng.ext, "parse", functools.lru_cache(jsonpath_ng.ext.parse))
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        deployment.ENV_TABLE: "runs",
        deployment.ENV_BUS: "wdl-bus",
        deployment.ENV_CLUSTER: "wdl",
    }.items():
        monkeypatch.setenv(key, value)
    deployment.aws_control_plane.cache_clear()
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(**table_definition("runs"))
        events = boto3.client("events", region_name=REGION)
        events.create_event_bus(Name="wdl-bus")
        sqs = boto3.client("sqs", region_name=REGION)
        queue = sqs.create_queue(QueueName="notes")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        events.put_rule(
            Name="all",
            EventBusName="wdl-bus",
            EventPattern=json.dumps({"source": ["miniwdl-fargate"]}),
        )
        events.put_targets(
            Rule="all", EventBusName="wdl-bus", Targets=[{"Id": "q", "Arn": queue_arn}]
        )
        ecs = boto3.client("ecs", region_name=REGION)
        ecs.create_cluster(clusterName="wdl")
        yield {"dynamodb": dynamodb, "sqs": sqs, "queue": queue, "ecs": ecs}
    deployment.aws_control_plane.cache_clear()


def notes(aws: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for _ in range(5):
        batch = aws["sqs"].receive_message(QueueUrl=aws["queue"], MaxNumberOfMessages=10)
        found += [json.loads(m["Body"]) for m in batch.get("Messages", [])]
    return found


def invoke(event: dict[str, Any]) -> None:
    import app

    with Client(app.app, project_dir=str(REPO)) as client:
        generated = client.events.generate_cw_event(
            source=event["source"],
            detail_type=event["detail-type"],
            detail=event["detail"],
            resources=event["resources"],
        )
        client.lambda_.invoke("on_ecs_task_state_change", generated)


def test_a_task_event_is_recorded_in_dynamodb_and_announced(aws: dict[str, Any]) -> None:
    arn = "arn:aws:ecs:us-east-1:123456789012:task/wdl/t1"
    invoke(ecs_event(arn, 3, "RUNNING", call_id="call-x"))
    invoke(ecs_event(arn, 3, "RUNNING", call_id="call-x"))  # a duplicate changes nothing
    task = DynamoDbStore(aws["dynamodb"], "runs").get_task("t1")
    assert task is not None and task.state == State.RUNNING and task.version == 3
    (note,) = notes(aws)
    assert note["detail-type"] == "WDL Task State Change" and note["source"] == "miniwdl-fargate"
    assert note["detail"]["state"] == "RUNNING" and note["detail"]["call_id"] == "call-x"


def test_a_fargate_maintenance_stop_as_eventbridge_delivers_it_is_a_preemption(
    aws: dict[str, Any],
) -> None:
    import app

    event = graft(sample("constructed_fargate_maintenance_stopped"), container="Example")
    with Client(app.app, project_dir=str(REPO)) as client:
        client.lambda_.invoke("on_ecs_task_state_change", event)  # the payload, as delivered
    task = DynamoDbStore(aws["dynamodb"], "runs").get_task("cdd887a827a4432db19f6059310a4817")
    assert task is not None and task.state == State.PREEMPTED and task.exit_code == 137
    (note,) = notes(aws)
    assert note["detail"]["state"] == "PREEMPTED"


def test_an_orchestrator_stopping_without_outcome_fails_the_run_and_stops_its_tasks(
    aws: dict[str, Any],
) -> None:
    ecs = aws["ecs"]
    ecs.register_task_definition(
        family="t",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "task", "image": "ubuntu", "memory": 512}],
    )
    subnet = boto3.client("ec2", region_name=REGION).describe_subnets()["Subnets"][0]["SubnetId"]
    running_arn = ecs.run_task(
        cluster="wdl",
        taskDefinition="t",
        launchType="FARGATE",
        networkConfiguration={
            "awsvpcConfiguration": {"subnets": [subnet], "securityGroups": ["sg-1"]}
        },
    )["tasks"][0]["taskArn"]
    store = DynamoDbStore(aws["dynamodb"], "runs")
    store.create_run(
        RunRecord(
            run_id="run1",
            state=State.RUNNING,
            created_at="2024-05-01T12:00:00.000Z",
            updated_at="2024-05-01T12:00:00.000Z",
            workflow_name="w",
            workflow_key="k",
            inputs_key="i",
            orchestrator_version=3,
        )
    )
    for task_id, arn, state in (
        ("running", running_arn, State.RUNNING),
        ("done", "arn:aws:ecs:us-east-1:123456789012:task/wdl/done", State.COMPLETE),
    ):
        record = TaskRecord(
            task_id=task_id, run_id="run1", state=state, updated_at="x", task_arn=arn
        )
        assert store.put_task(record, None)

    orchestrator = "arn:aws:ecs:us-east-1:123456789012:task/wdl/orch"
    invoke(
        ecs_event(
            orchestrator,
            5,
            "STOPPED",
            role=ROLE_ORCHESTRATOR,
            exit_code=137,
            stop_code="EssentialContainerExited",
            stopped_reason="OutOfMemoryError: Container killed due to memory usage",
        )
    )

    run = store.get_run("run1")
    assert run is not None and run.state == State.SYSTEM_ERROR
    assert "OutOfMemoryError" in (run.error or {})["message"]
    (stopped,) = ecs.describe_tasks(cluster="wdl", tasks=[running_arn])["tasks"]
    assert stopped["desiredStatus"] == "STOPPED"
    assert stopped["stoppedReason"] == "the run's orchestrator stopped"
    run_notes = [n for n in notes(aws) if n["detail-type"] == "WDL Run State Change"]
    assert [(n["detail"]["previous_state"], n["detail"]["state"]) for n in run_notes] == [
        ("RUNNING", "SYSTEM_ERROR")
    ]


def test_a_partial_deployment_environment_is_a_clear_error(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(deployment.ENV_BUS)
    with pytest.raises(deployment.DeploymentError, match="MINIWDL_FARGATE_BUS must be"):
        deployment.control_plane_from_environment()


def test_the_deployment_settings_round_trip_and_set_the_cost_prices() -> None:
    from chalicelib.cost import prices_from_environment

    environ = {
        deployment.ENV_TABLE: "runs",
        deployment.ENV_BUS: "bus",
        deployment.ENV_CLUSTER: "wdl",
        "MINIWDL_FARGATE_SUBNETS": "subnet-a, subnet-b",
        "MINIWDL_FARGATE_ASSIGN_PUBLIC_IP": "yes",
        "MINIWDL_FARGATE_VCPU_HOUR_USD": "0.05",
    }
    settings = deployment.AwsDeployment.from_environment(environ)
    assert settings is not None
    assert settings.subnets == ("subnet-a", "subnet-b") and settings.assign_public_ip
    assert deployment.AwsDeployment.from_environment(settings.as_environment()) == settings
    prices = prices_from_environment(settings.as_environment())
    assert prices.vcpu_hour == 0.05 and prices.gb_hour == 0.004445
