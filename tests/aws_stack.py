"""The deployed stack in emulation: a moto server holding the stack's resources, the Chalice app
configured as the stack configures its Lambdas, and the fake Fargate running the orchestrator
(and, inside it, the task containers) as local processes.

moto runs as a server (not in-process) because the orchestrator is a separate process that
must see the same DynamoDB table, bucket, bus and cluster. Requests are served one at a time:
moto checks a DynamoDB condition and writes in two steps, which DynamoDB does atomically.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from chalice.test import Client
from fargate_env import create_efs
from fargate_harness import FakeFargate, FakeTask
from werkzeug.serving import make_server

from chalicelib import deployment, ecs_events, fargate
from chalicelib.dynamodb_store import DynamoDbStore, table_definition
from chalicelib.records import RunRecord

REGION = "us-east-1"
TABLE, BUS, CLUSTER, BUCKET = "wdl-runs", "wdl-bus", "wdl", "wdl-bucket"
ORCHESTRATOR_FAMILY = "miniwdl-fargate-orchestrator"
TERMINAL = {"COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR", "CANCELED"}
TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto server on a free local port, one request at a time; yields its URL."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )

    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def serial(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with lock:
            return list(app(environ, start_response))

    class Quiet(MotoRequestHandler):  # type: ignore[misc]
        def log_request(self, *args: Any, **kwargs: Any) -> None:
            pass

    server = make_server("127.0.0.1", 0, serial, threaded=True, request_handler=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    reset = urllib.request.Request(url + "/moto-api/reset", method="POST")
    urllib.request.urlopen(reset).close()  # moto's accounts are per process, not per server
    try:
        yield url
    finally:
        urllib.request.urlopen(reset).close()
        server.shutdown()
        thread.join()


@dataclass
class Stack:
    """The emulated deployment, and ways to drive it like AWS would."""

    root: Path
    efs_root: Path
    app: Any
    client: Client
    harness: FakeFargate
    aws: dict[str, Any]
    queues: dict[str, str]
    environment: dict[str, str]
    notes_seen: list[dict[str, Any]] = field(default_factory=list)

    @property
    def store(self) -> DynamoDbStore:
        return DynamoDbStore(self.aws["dynamodb"], TABLE)

    def run(self, run_id: str) -> RunRecord:
        found = self.store.get_run(run_id)
        assert found is not None, f"no run {run_id}"
        return found

    def wait(self, run_id: str, timeout: float = 90.0) -> RunRecord:
        """Until the run is terminal and its orchestrator's STOPPED event has been handled."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.run(run_id)
            if run.state.value in TERMINAL and not self.harness.running():
                time.sleep(0.3)  # the orchestrator's STOPPED event is delivered on exit
                return self.run(run_id)
            time.sleep(0.2)
        raise AssertionError(f"run {run_id} still {self.run(run_id).state} after {timeout} s")

    def notifications(self) -> list[dict[str, Any]]:
        """Every "WDL ... State Change" event so far, through EventBridge -> SQS."""
        sqs = self.aws["sqs"]
        while True:
            batch = sqs.receive_message(
                QueueUrl=self.queues["notes"], MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not batch:
                return self.notes_seen
            for message in batch:
                self.notes_seen.append(json.loads(message["Body"]))
                sqs.delete_message(
                    QueueUrl=self.queues["notes"], ReceiptHandle=message["ReceiptHandle"]
                )

    def deliver_drops(self) -> list[str]:
        """Hand S3's "Object Created" events (EventBridge -> SQS here) to the submit Lambda;
        returns the run ids it reported."""
        sqs = self.aws["sqs"]
        run_ids = []
        for _ in range(3):
            batch = sqs.receive_message(
                QueueUrl=self.queues["drops"], MaxNumberOfMessages=10, WaitTimeSeconds=1
            ).get("Messages", [])
            for message in batch:
                event = json.loads(message["Body"])
                self.app.on_submission_created(event, None)
                sqs.delete_message(
                    QueueUrl=self.queues["drops"], ReceiptHandle=message["ReceiptHandle"]
                )
                run_ids.append(event["detail"]["object"]["key"])
            if batch:
                break
        return run_ids

    def leftover_processes(self, run_id: str) -> list[int]:
        """Live processes of the run (the orchestrator and its task containers)."""
        found = []
        needle = f"{ecs_events.ENV_RUN_ID}={run_id}".encode()
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    env = f.read().split(b"\0")
                with open(f"/proc/{pid}/stat", "rb") as f:
                    zombie = f.read().rsplit(b")", 1)[-1].split()[0] == b"Z"
            except OSError:
                continue
            if needle in env and not zombie:
                found.append(int(pid))
        return found


def _resources(root: Path, efs_root: Path) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """Create the stack's resources; returns (clients, queue URLs, the Lambdas' environment)."""
    aws = {
        name: boto3.client(name, region_name=REGION)
        for name in ("dynamodb", "s3", "events", "sqs", "ec2", "efs", "logs", "ecs")
    }
    aws["dynamodb"].create_table(**table_definition(TABLE))
    aws["s3"].create_bucket(Bucket=BUCKET)
    aws["s3"].put_bucket_notification_configuration(
        Bucket=BUCKET, NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    aws["events"].create_event_bus(Name=BUS)
    queues = {}
    for name, bus, pattern in (
        ("notes", BUS, {"source": ["miniwdl-fargate"]}),
        (
            "drops",
            "default",
            {
                "source": ["aws.s3"],
                "detail-type": ["Object Created"],
                "detail": {
                    "bucket": {"name": [BUCKET]},
                    "object": {"key": [{"prefix": "submissions/"}]},
                },
            },
        ),
    ):
        url = aws["sqs"].create_queue(QueueName=name)["QueueUrl"]
        arn = aws["sqs"].get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        aws["events"].put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps(pattern))
        aws["events"].put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
        queues[name] = url
    subnet = aws["ec2"].describe_subnets()["Subnets"][0]["SubnetId"]
    group = aws["ec2"].describe_security_groups()["SecurityGroups"][0]["GroupId"]
    file_system, access_point = create_efs(aws["efs"])
    aws["logs"].create_log_group(logGroupName="/miniwdl-fargate/tasks")
    aws["ecs"].create_cluster(clusterName=CLUSTER, capacityProviders=["FARGATE", "FARGATE_SPOT"])

    mounts = root / "mounts"
    mounts.write_text(f"{file_system}.efs.{REGION}.amazonaws.com:/ {efs_root} nfs4 rw 0 0\n")
    lambdas = {
        "MINIWDL_FARGATE_TABLE": TABLE,
        "MINIWDL_FARGATE_BUS": BUS,
        "MINIWDL_FARGATE_CLUSTER": CLUSTER,
        "MINIWDL_FARGATE_BUCKET": BUCKET,
        "MINIWDL_FARGATE_ORCHESTRATOR_TASK_DEFINITION": ORCHESTRATOR_FAMILY,
        "MINIWDL_FARGATE_SUBNETS": subnet,
        "MINIWDL_FARGATE_SECURITY_GROUPS": group,
    }
    # What the stack's orchestrator task definition sets in its container's environment.
    orchestrator_env = {
        **lambdas,
        "MINIWDL_FARGATE_WORK_ROOT": str(efs_root),
        "MINIWDL__SCHEDULER__CONTAINER_BACKEND": "aws_fargate",
        "MINIWDL__AWS_FARGATE__CLUSTER": CLUSTER,
        "MINIWDL__AWS_FARGATE__SUBNETS": subnet,
        "MINIWDL__AWS_FARGATE__SECURITY_GROUPS": group,
        "MINIWDL__AWS_FARGATE__EFS_ID": file_system,
        "MINIWDL__AWS_FARGATE__EFS_ACCESS_POINT": access_point,
        "MINIWDL__AWS_FARGATE__EFS_MOUNTPOINT": str(efs_root),
        "MINIWDL__AWS_FARGATE__REGION": REGION,
        # test-only: the fake mount table, and quick rounds
        "MINIWDL__AWS_FARGATE__MOUNTS_FILE": str(mounts),
        "MINIWDL__AWS_FARGATE__WATCH_INTERVAL": "0.2",
        "MINIWDL__AWS_FARGATE__RECONCILE_AFTER_SECONDS": "3",
        "FAKE_FARGATE_OUTPUT_DIR": str(root / "container-logs"),
    }
    aws["ecs"].register_task_definition(
        family=ORCHESTRATOR_FAMILY,
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="1024",
        memory="4096",
        containerDefinitions=[
            {
                "name": "orchestrator",
                "image": "miniwdl-fargate:test",
                "essential": True,
                "memory": 4096,  # moto's RunTask needs a container-level memory
                "environment": [{"name": k, "value": v} for k, v in orchestrator_env.items()],
            }
        ],
    )
    return aws, queues, lambdas


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    for key in list(os.environ):
        if key.startswith("MINIWDL"):
            monkeypatch.delenv(key)
    efs_root = tmp_path / "efs"
    efs_root.mkdir()
    (tmp_path / "container-logs").mkdir()
    with moto_server() as endpoint:
        for key, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": endpoint,
            "MINIWDL_FARGATE_API_AUTH": "none",
        }.items():
            monkeypatch.setenv(key, value)
        aws, queues, lambdas = _resources(tmp_path, efs_root)
        for key, value in lambdas.items():
            monkeypatch.setenv(key, value)

        import app

        client = Client(app.app, project_dir=str(REPO))

        def deliver(event: dict[str, Any]) -> None:
            # The handler as Lambda calls it. (chalice's test client swaps os.environ for a
            # copy around each call, which concurrent deliveries from the harness's threads
            # would interleave.)
            app.on_ecs_task_state_change(event, None)

        def under_fake_fargate(task: FakeTask, command: list[str]) -> list[str]:
            assert command[:3] == list(deployment.ORCHESTRATOR_COMMAND), command
            return [sys.executable, str(TESTS / "orchestrator_under_fake_fargate.py"), *command[3:]]

        harness = FakeFargate(
            deliver,
            stop_grace_seconds=30,
            wrap_command=under_fake_fargate,
            output_dir=str(tmp_path / "container-logs"),
        )
        ecs = fargate.new_ecs_client(REGION)
        harness.attach(ecs)
        monkeypatch.setattr(fargate, "new_ecs_client", lambda region, max_attempts=20: ecs)
        deployment.aws_control_plane.cache_clear()
        deployment._aws_submitter.cache_clear()
        deployment.aws_objects.cache_clear()
        env = {**lambdas, "AWS_ENDPOINT_URL": endpoint}
        stack = Stack(tmp_path, efs_root, app, client, harness, aws, queues, env)
        try:
            yield stack
        finally:
            for arn in harness.running():
                harness._kill(harness.tasks[arn])
            deadline = time.monotonic() + 35
            while harness.running() and time.monotonic() < deadline:
                time.sleep(0.1)
            deployment.aws_control_plane.cache_clear()
            deployment._aws_submitter.cache_clear()
            deployment.aws_objects.cache_clear()
