"""The RunTask request and task definition for EC2 capacity providers (pure, no emulator)."""

from __future__ import annotations

import hashlib
import json

import pytest

from chalicelib.fargate import ClusterConfig, run_task_request, task_definition
from chalicelib.launcher import LaunchError, TaskSpec

CONFIG = ClusterConfig(
    cluster="wdl",
    subnets=("subnet-1",),
    security_groups=("sg-1",),
    assign_public_ip=True,
    execution_role_arn="arn:aws:iam::1:role/exec",
    task_role_arn="arn:aws:iam::1:role/task",
    volume={"fileSystemId": "fs-1", "transitEncryption": "ENABLED"},
)


def _spec(**changes: object) -> TaskSpec:
    values: dict[str, object] = {
        "run_id": "run",
        "role": "task",
        "command": ["/bin/sh", "-c", "echo hi"],
        "cpu": 65536,
        "memory_mb": 102400,
        "image": "ubuntu:22.04",
        **changes,
    }
    return TaskSpec(**values)  # type: ignore[arg-type]


def test_an_ec2_request_names_the_provider_and_drops_fargate_only_fields() -> None:
    spec = _spec(capacity_provider="wdl-gpu-l4", gpus=2, ephemeral_gib=50, spot=True)
    request = run_task_request(spec, CONFIG, "def", started_by="s", shell_entry_point=True)
    assert request["capacityProviderStrategy"] == [{"capacityProvider": "wdl-gpu-l4", "weight": 1}]
    assert "launchType" not in request and "platformVersion" not in request
    assert "ephemeralStorage" not in request["overrides"]  # the instance's volume is the disk
    network = request["networkConfiguration"]["awsvpcConfiguration"]
    assert network["assignPublicIp"] == "DISABLED"  # EC2 tasks get no public IP
    (container,) = request["overrides"]["containerOverrides"]
    assert container["resourceRequirements"] == [{"type": "GPU", "value": "2"}]
    assert (request["overrides"]["cpu"], request["overrides"]["memory"]) == ("65536", "102400")


def test_a_fargate_request_is_as_before() -> None:
    request = run_task_request(
        _spec(cpu=1024, memory_mb=2048, ephemeral_gib=50), CONFIG, "def", started_by="s"
    )
    assert request["capacityProviderStrategy"] == [{"capacityProvider": "FARGATE", "weight": 1}]
    assert request["platformVersion"] == "LATEST"
    assert request["overrides"]["ephemeralStorage"] == {"sizeInGiB": 50}
    assert request["networkConfiguration"]["awsvpcConfiguration"]["assignPublicIp"] == "ENABLED"
    assert "resourceRequirements" not in request["overrides"]["containerOverrides"][0]


def test_gpus_on_fargate_are_refused() -> None:
    with pytest.raises(LaunchError) as info:
        run_task_request(_spec(gpus=1), CONFIG, "def", started_by="s")
    assert "Fargate has none" in str(info.value)


def test_the_ec2_definition_is_ec2_compatible_and_its_own_family() -> None:
    ec2 = task_definition("ubuntu:22.04", CONFIG, ec2=True)
    on_fargate = task_definition("ubuntu:22.04", CONFIG)
    assert ec2["requiresCompatibilities"] == ["EC2"]
    assert ec2["networkMode"] == "awsvpc"
    assert "runtimePlatform" not in ec2  # the instances' architecture
    assert ec2["family"].startswith("miniwdl-fargate-task-ec2-")
    assert on_fargate["requiresCompatibilities"] == ["FARGATE"]
    assert on_fargate["runtimePlatform"]["cpuArchitecture"] == "X86_64"
    assert ec2["family"] != on_fargate["family"]
    for body, prefix in ((ec2, "miniwdl-fargate-task-ec2-"), (on_fargate, "miniwdl-fargate-task-")):
        content = {k: v for k, v in body.items() if k != "family"}
        digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]
        assert body["family"] == prefix + digest  # cached by content, as before
    assert ec2["containerDefinitions"] == on_fargate["containerDefinitions"]
    assert ec2["volumes"] == on_fargate["volumes"]  # the same EFS access point
