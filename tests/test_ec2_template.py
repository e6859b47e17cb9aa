"""The stack's EC2 side (issue 14): off by default, one Auto Scaling group and capacity provider per
row of the code's capacity table, scaled from zero by ECS, least privilege.

Read from infra/template.yaml itself (cfn-lint's decoder, offline, fast); tests/test_template.py
lints the packaged template and scans its IAM as a whole.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode

from chalicelib.capacity import DEFAULT_CAPACITIES, DEFAULT_DISK_GIB, Capacity

ROOT = Path(__file__).resolve().parent.parent
MAX_PROVIDERS_PER_CLUSTER = 10  # ECS's limit (FARGATE and FARGATE_SPOT count)
AMI_PARAMETER = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"
GPU_AMI_PARAMETER = "/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id"
EC2_TYPES = (
    "AWS::IAM::Role",
    "AWS::IAM::InstanceProfile",
    "AWS::EC2::LaunchTemplate",
    "AWS::AutoScaling::AutoScalingGroup",
    "AWS::ECS::CapacityProvider",
    "AWS::ECS::ClusterCapacityProviderAssociations",
)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    loaded, problems = decode(str(ROOT / "infra" / "template.yaml"))
    assert not problems and loaded is not None
    return dict(loaded)


def _of_type(t: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in t["Resources"].items() if v["Type"] == kind}


def _providers(t: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Capacity providers by their name without the stack's prefix."""
    found = {}
    for resource in _of_type(t, "AWS::ECS::CapacityProvider").values():
        name = resource["Properties"]["Name"]["Fn::Sub"]
        assert name.startswith("${AWS::StackName}-")
        found[name.removeprefix("${AWS::StackName}-")] = resource
    return found


def _group(t: dict[str, Any], provider: dict[str, Any]) -> dict[str, Any]:
    ref = provider["Properties"]["AutoScalingGroupProvider"]["AutoScalingGroupArn"]["Ref"]
    group: dict[str, Any] = t["Resources"][ref]
    assert group["Type"] == "AWS::AutoScaling::AutoScalingGroup"
    return group


def test_off_by_default_so_nothing_is_created_or_billed(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["Ec2Capacity"]
    assert parameter["Default"] == "false"
    assert template["Conditions"]["UseEc2Capacity"] == {
        "Fn::Equals": [{"Ref": "Ec2Capacity"}, "true"]
    }
    ec2 = [
        name
        for name, r in template["Resources"].items()
        if r["Type"] in EC2_TYPES and name.startswith(("Ec2", "ClusterCapacity"))
    ]
    assert len(ec2) == 2 + 2 + 2 * len(DEFAULT_CAPACITIES) + 1
    for name in ec2:
        assert template["Resources"][name].get("Condition") == "UseEc2Capacity", name


@pytest.mark.parametrize("capacity", DEFAULT_CAPACITIES, ids=lambda c: c.name)
def test_each_capacity_row_has_its_group_and_provider(
    template: dict[str, Any], capacity: Capacity
) -> None:
    provider = _providers(template)[capacity.name]["Properties"]["AutoScalingGroupProvider"]
    assert provider["ManagedScaling"]["Status"] == "ENABLED"
    assert provider["ManagedScaling"]["TargetCapacity"] == 100
    assert provider["ManagedTerminationProtection"] == "ENABLED"
    group = _group(template, _providers(template)[capacity.name])["Properties"]
    assert group["MinSize"] == "0"  # scaled from zero
    assert "DesiredCapacity" not in group  # ECS sets it
    assert group["NewInstancesProtectedFromScaleIn"] is True
    mixed = group["MixedInstancesPolicy"]
    types = tuple(o["InstanceType"] for o in mixed["LaunchTemplate"]["Overrides"])
    assert types == capacity.instance_types
    distribution = mixed["InstancesDistribution"]
    on_demand = distribution["OnDemandPercentageAboveBaseCapacity"]
    assert on_demand == (0 if capacity.spot else 100)
    assert distribution["OnDemandBaseCapacity"] == 0
    template_ref = mixed["LaunchTemplate"]["LaunchTemplateSpecification"]["LaunchTemplateId"]
    expected = "Ec2GpuLaunchTemplate" if capacity.gpus else "Ec2LaunchTemplate"
    assert template_ref == {"Ref": expected}
    tags = {tag["Key"]: tag for tag in group["Tags"]}
    assert tags["AmazonECSManaged"]["PropagateAtLaunch"] is True


def test_no_provider_without_a_row_and_all_on_the_cluster(template: dict[str, Any]) -> None:
    providers = _providers(template)
    assert set(providers) == {c.name for c in DEFAULT_CAPACITIES}
    (association,) = _of_type(template, "AWS::ECS::ClusterCapacityProviderAssociations").values()
    named = association["Properties"]["CapacityProviders"]
    assert named[:2] == ["FARGATE", "FARGATE_SPOT"]
    refs = {r["Ref"] for r in named[2:]}
    assert refs == set(_of_type(template, "AWS::ECS::CapacityProvider"))
    assert len(named) <= MAX_PROVIDERS_PER_CLUSTER
    assert association["Properties"]["DefaultCapacityProviderStrategy"] == [
        {"CapacityProvider": "FARGATE", "Weight": 1}
    ]
    cluster = template["Resources"]["Cluster"]["Properties"]
    assert cluster["CapacityProviders"]["Fn::If"][0] == "UseEc2Capacity"
    assert cluster["CapacityProviders"]["Fn::If"][1] == {"Ref": "AWS::NoValue"}


@pytest.mark.parametrize(
    ("name", "parameter", "gpu"),
    [
        ("Ec2LaunchTemplate", AMI_PARAMETER, False),
        ("Ec2GpuLaunchTemplate", GPU_AMI_PARAMETER, True),
    ],
)
def test_launch_templates(template: dict[str, Any], name: str, parameter: str, gpu: bool) -> None:
    data = template["Resources"][name]["Properties"]["LaunchTemplateData"]
    assert data["ImageId"] == "{{resolve:ssm:" + parameter + "}}"  # the public SSM parameter
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    (disk,) = data["BlockDeviceMappings"]
    assert disk["Ebs"]["VolumeSize"] == DEFAULT_DISK_GIB  # what the routing lets a task ask
    assert disk["Ebs"]["Encrypted"] is True
    (interface,) = data["NetworkInterfaces"]
    assert interface["Groups"] == [{"Ref": "ContainerSecurityGroup"}]  # EFS admits this group
    user_data = data["UserData"]["Fn::Base64"]["Fn::Sub"]
    assert "ECS_CLUSTER=${Cluster}" in user_data
    assert "ECS_AWSVPC_BLOCK_IMDS=true" in user_data
    assert "ECS_ENABLE_SPOT_INSTANCE_DRAINING=true" in user_data
    assert ("ECS_ENABLE_GPU_SUPPORT=true" in user_data) is gpu
    assert data["IamInstanceProfile"] == {"Arn": {"Fn::GetAtt": ["Ec2InstanceProfile", "Arn"]}}


def test_instance_role_does_what_the_agent_needs_only(template: dict[str, Any]) -> None:
    role = template["Resources"]["Ec2InstanceRole"]["Properties"]
    (principal,) = [s["Principal"] for s in role["AssumeRolePolicyDocument"]["Statement"]]
    assert principal == {"Service": "ec2.amazonaws.com"}
    assert "ManagedPolicyArns" not in role
    (policy,) = role["Policies"]
    actions: set[str] = set()
    for statement in policy["PolicyDocument"]["Statement"]:
        listed = statement["Action"]
        listed = [listed] if isinstance(listed, str) else listed
        actions |= set(listed)
        if statement["Resource"] == "*":
            assert listed == ["ecs:DiscoverPollEndpoint"] or listed == "ecs:DiscoverPollEndpoint"
    assert all(a.startswith("ecs:") for a in actions)
    assert not {"ecs:RunTask", "ecs:StartTask", "ecs:StopTask", "ecs:CreateCluster"} & actions


def test_the_orchestrator_is_told_when_ec2_capacity_is_on(template: dict[str, Any]) -> None:
    (container,) = template["Resources"]["OrchestratorTaskDefinition"]["Properties"][
        "ContainerDefinitions"
    ]
    environment = {e["Name"]: e["Value"] for e in container["Environment"] if "Name" in e}
    assert environment["MINIWDL__AWS_FARGATE__EC2_CAPACITY"] == {
        "Fn::If": ["UseEc2Capacity", "true", "false"]
    }
    assert environment["MINIWDL__AWS_FARGATE__EC2_CAPACITY_PREFIX"] == {"Ref": "AWS::StackName"}
