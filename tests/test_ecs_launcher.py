"""The ECS launcher against moto, with the fake Fargate harness answering for ECS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from fargate_harness import FakeFargate, Faults
from moto import mock_aws

from chalicelib import backend_fargate
from chalicelib.efs import EfsSettings, volume_configuration
from chalicelib.fargate import ClusterConfig, EcsLauncher
from chalicelib.launcher import LaunchError, TaskSpec

REGION = "us-east-1"


@pytest.fixture
def ecs(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = backend_fargate.new_ecs_client(REGION, max_attempts=3)
        client.create_cluster(clusterName="c", capacityProviders=["FARGATE", "FARGATE_SPOT"])
        yield client


def launcher(ecs: Any, faults: Faults) -> tuple[EcsLauncher, FakeFargate]:
    ec2 = boto3.client("ec2", region_name=REGION)
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    group = ec2.describe_security_groups()["SecurityGroups"][0]["GroupId"]
    harness = FakeFargate(lambda event: None, faults)
    harness.attach(ecs)
    volume = volume_configuration(EfsSettings("fs-12345678"))
    config = ClusterConfig(
        cluster="c", subnets=(subnet,), security_groups=(group,), region=REGION, volume=volume
    )
    return EcsLauncher(ecs, config), harness


def spec(tmp_path: Path) -> TaskSpec:
    return TaskSpec(run_id="r", role="task", command=["true"], image="ubuntu:22.04")


def test_throttling_past_the_retries_is_a_transient_launch_error(ecs: Any, tmp_path: Path) -> None:
    ecs_launcher, harness = launcher(ecs, Faults(throttle_rate=1.0))
    with pytest.raises(LaunchError) as info:
        ecs_launcher.run_task(spec(tmp_path))
    assert info.value.transient and "ThrottlingException" in str(info.value)
    assert harness.run_task_attempts == 3  # botocore's retry mode made every attempt
    assert harness.tasks == {}


def test_capacity_failure_is_a_transient_launch_error(ecs: Any, tmp_path: Path) -> None:
    ecs_launcher, harness = launcher(ecs, Faults(capacity_rate=1.0))
    with pytest.raises(LaunchError) as info:
        ecs_launcher.run_task(spec(tmp_path))
    assert info.value.transient and "Capacity is unavailable" in str(info.value)
    assert harness.run_task_attempts == 1  # a failures[] answer is not retried by botocore


def test_a_rejected_request_is_a_permanent_launch_error(ecs: Any, tmp_path: Path) -> None:
    ecs_launcher, _harness = launcher(ecs, Faults())
    ecs_launcher.config = ClusterConfig(
        cluster="no-such-cluster", subnets=("s",), security_groups=()
    )
    with pytest.raises(LaunchError) as info:
        ecs_launcher.run_task(spec(tmp_path))
    assert not info.value.transient


def test_task_definitions_are_looked_up_before_registering(ecs: Any, tmp_path: Path) -> None:
    first, _ = launcher(ecs, Faults())
    arn = first.task_definition_arn("ubuntu:22.04")
    again = first.task_definition_arn("ubuntu:22.04")
    assert arn == again and first.counters.register_task_definition == 1
    assert first.counters.describe_task_definition == 1  # memoised after the first look
    second = EcsLauncher(ecs, first.config)  # another run, another process
    assert second.task_definition_arn("ubuntu:22.04") == arn
    assert second.counters.register_task_definition == 0
    other = second.task_definition_arn("python:3.12")
    assert other != arn and second.counters.register_task_definition == 1


def test_an_unregistrable_task_definition_is_a_launch_error(ecs: Any, tmp_path: Path) -> None:
    ecs_launcher, harness = launcher(ecs, Faults())
    bad = ClusterConfig(cluster="c", subnets=("s",), security_groups=(), volume={})
    ecs_launcher.config = bad
    with pytest.raises(LaunchError, match=r"no task definition for ubuntu:22\.04"):
        ecs_launcher.run_task(spec(tmp_path))
    assert harness.run_task_attempts == 0


def test_launchers_for_other_architectures_share_limits_counters_and_memo(ecs: Any) -> None:
    arm, _harness = launcher(ecs, Faults())
    arm.config = ClusterConfig(**{**arm.config.__dict__, "architecture": "ARM64"})
    x86 = arm.for_architecture("X86_64")
    assert arm.for_architecture("ARM64") is arm
    assert x86.config.architecture == "X86_64" and x86.limits is arm.limits
    arm_definition = arm.task_definition_arn("ubuntu:22.04")
    x86_definition = x86.task_definition_arn("ubuntu:22.04")
    assert arm_definition != x86_definition  # one per architecture, for the same image
    assert arm.counters is x86.counters and arm.counters.register_task_definition == 2
    assert x86.task_definition_arn("ubuntu:22.04") == x86_definition
    assert arm.task_definition_arn("ubuntu:22.04") == arm_definition
    assert arm.counters.describe_task_definition == 2  # memoised, in the one shared memo
    platforms = {
        arn: ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]["runtimePlatform"]
        for arn in (arm_definition, x86_definition)
    }
    assert platforms[arm_definition]["cpuArchitecture"] == "ARM64"
    assert platforms[x86_definition]["cpuArchitecture"] == "X86_64"
