"""The orchestrator container's program under the fake Fargate (a test fixture, not product).

On Fargate, ECS runs the task containers the orchestrator's ``aws_fargate`` backend launches and
EventBridge delivers their state changes to the status Lambda. Here the outer harness runs this
script in place of the orchestrator's command: it gives this process's ECS client a harness of
its own (which runs each task's command as a local process and sends its events to the real
status handler, with the deployment's DynamoDB and EventBridge on the moto server), then runs
the real orchestrator entry point with the original arguments.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fargate_harness import Ec2Provider, FakeFargate

from chalicelib import backend_fargate, fargate, orchestrator
from chalicelib.deployment import AwsDeployment, aws_control_plane
from chalicelib.status import handle_ecs_event


def main(argv: list[str]) -> int:
    deployment = AwsDeployment.from_environment()
    assert deployment is not None, "the orchestrator task definition names the deployment"
    ecs = fargate.new_ecs_client(os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    status_plane: list[Any] = []

    def deliver(event: dict[str, Any]) -> None:
        if not status_plane:
            status_plane.append(aws_control_plane(deployment))
        handle_ecs_event(event, status_plane[0])

    harness = FakeFargate(deliver, output_dir=os.environ.get("FAKE_FARGATE_OUTPUT_DIR"))
    # EC2 capacity providers of the emulated cluster (Ec2Capacity), as Ec2Provider fields
    for provider in json.loads(os.environ.get("FAKE_EC2_PROVIDERS", "[]")):
        harness.add_ec2_capacity_provider(Ec2Provider(**provider))
    harness.attach(ecs)
    fargate.new_ecs_client = lambda region, max_attempts=20: ecs  # type: ignore[assignment]
    backend_fargate.new_ecs_client = fargate.new_ecs_client  # type: ignore[assignment]
    try:
        return orchestrator.main(argv)
    finally:
        for arn in harness.running():
            harness._kill(harness.tasks[arn])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
