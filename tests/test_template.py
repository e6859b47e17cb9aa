"""The deployable stack: the template `make package` builds (chalice's + infra/template.yaml).

Built once per session with the Makefile's own recipe, then checked offline: cfn-lint (errors
fail), least-privilege IAM, every resource issue 5 asks for, the table's shape against the
store's ``table_definition``, and the orchestrator image's pinned requirements.
"""

from __future__ import annotations

import configparser
import fnmatch
import re
import shlex
import subprocess
import zipfile
from collections.abc import Callable, Iterator
from importlib.metadata import requires
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement

from chalicelib.backend_fargate import FargateSettings
from chalicelib.deployment import AwsDeployment
from chalicelib.dynamodb_store import table_definition
from chalicelib.fargate import cached_image
from chalicelib.waiting_tasks import PREFIX as WAITING_PREFIX

ROOT = Path(__file__).resolve().parent.parent
Template = dict[str, Any]
Statement = dict[str, Any]

# Actions that must never be granted on "*" (issue 5): launching tasks, passing roles, and
# writing the table or the bucket. Patterns in policies are matched against these.
SENSITIVE_ACTIONS = (
    "ecs:RunTask",
    "ecs:StartTask",
    "iam:PassRole",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:TransactWriteItems",
    "dynamodb:DeleteTable",
    "dynamodb:UpdateTable",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:PutObjectAcl",
    "s3:DeleteBucket",
    "s3:PutBucketPolicy",
)
# The only actions that may have Resource "*": they have no resource-level permissions.
STAR_RESOURCE_ACTIONS = frozenset(
    {
        "ecs:RegisterTaskDefinition",
        "ecs:DescribeTaskDefinition",
        "ecs:ListTasks",
        "ecr:GetAuthorizationToken",
        "ecs:DiscoverPollEndpoint",  # the EC2 instances' ECS agent (Ec2Capacity)
    }
)
# Resources that are a policy document (identity or resource policy).
POLICY_RESOURCES = frozenset(
    {
        "AWS::IAM::Policy",
        "AWS::IAM::ManagedPolicy",
        "AWS::IAM::RolePolicy",
        "AWS::SQS::QueuePolicy",
        "AWS::S3::BucketPolicy",
        "AWS::SNS::TopicPolicy",
    }
)
ORCHESTRATOR_FAMILY = "${AWS::StackName}-orchestrator"
TASK_FAMILY_PREFIX = "miniwdl-fargate-task-"
PSEUDO_PARAMETERS = frozenset(
    {
        "AWS::AccountId",
        "AWS::NoValue",
        "AWS::Partition",
        "AWS::Region",
        "AWS::StackId",
        "AWS::StackName",
        "AWS::URLSuffix",
    }
)
LAMBDA_ENVIRONMENT = (
    "MINIWDL_FARGATE_TABLE",
    "MINIWDL_FARGATE_BUS",
    "MINIWDL_FARGATE_CLUSTER",
    "MINIWDL_FARGATE_BUCKET",
    "MINIWDL_FARGATE_ORCHESTRATOR_TASK_DEFINITION",
    "MINIWDL_FARGATE_SUBNETS",
    "MINIWDL_FARGATE_SECURITY_GROUPS",
    "MINIWDL_FARGATE_ASSIGN_PUBLIC_IP",
    "MINIWDL_FARGATE_RETENTION_DAYS",
    "MINIWDL_FARGATE_API_AUTH",
)
ORCHESTRATOR_ENVIRONMENT = (
    *(name for name in LAMBDA_ENVIRONMENT if name != "MINIWDL_FARGATE_API_AUTH"),
    "MINIWDL_FARGATE_WORK_ROOT",
    "MINIWDL__SCHEDULER__CONTAINER_BACKEND",
    "MINIWDL__AWS_FARGATE__CLUSTER",
    "MINIWDL__AWS_FARGATE__SUBNETS",
    "MINIWDL__AWS_FARGATE__SECURITY_GROUPS",
    "MINIWDL__AWS_FARGATE__EFS_ID",
    "MINIWDL__AWS_FARGATE__EFS_ACCESS_POINT",
    "MINIWDL__AWS_FARGATE__EFS_MOUNTPOINT",
    "MINIWDL__AWS_FARGATE__TASK_ROLE_ARN",
    "MINIWDL__AWS_FARGATE__EXECUTION_ROLE_ARN",
    "MINIWDL__AWS_FARGATE__LOG_GROUP",
    "MINIWDL__AWS_FARGATE__REGION",
    "MINIWDL__AWS_FARGATE__ASSIGN_PUBLIC_IP",
)
OUTPUTS = ("ApiUrl", "Bucket", "EventBus", "Table", "Cluster", "OrchestratorTaskDefinition")


@pytest.fixture(scope="session")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`make package` into a temporary directory; the template's path. (``-o`` keeps make from
    reinstalling the dev tools under the running tests if pyproject.toml changed.)"""
    out = tmp_path_factory.mktemp("package") / "out"
    command = ["make", "--no-print-directory", "-C", str(ROOT), "-o", ".venv/.dev-installed"]
    result = subprocess.run(
        [*command, "package", f"PACKAGE_DIR={out}"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"make package failed:\n{result.stdout}\n{result.stderr}"
    return out / "template.yaml"


@pytest.fixture(scope="session")
def template(packaged: Path) -> Template:
    loaded = yaml.safe_load(packaged.read_text())
    assert isinstance(loaded, dict)
    return loaded


# helpers


def resources(template: Template, kind: str) -> dict[str, dict[str, Any]]:
    """The template's resources of one type, by logical ID."""
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def props(template: Template, logical_id: str) -> dict[str, Any]:
    properties = template["Resources"][logical_id].get("Properties", {})
    assert isinstance(properties, dict)
    return properties


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def is_ref(value: Any, name: str) -> bool:
    return value == {"Ref": name}


def is_getatt(value: Any, name: str, attribute: str = "Arn") -> bool:
    return value == {"Fn::GetAtt": [name, attribute]}


def sub_text(value: Any) -> str:
    """The string of an ``Fn::Sub`` (or a plain string); "" for anything else."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        return str(sub if isinstance(sub, str) else sub[0])
    return ""


def all_conditions_true(node: Any) -> Any:
    """A template fragment as it is with every condition true: ``Fn::If`` takes its first
    branch and ``AWS::NoValue`` drops out (the most a stack can grant, for the IAM checks)."""
    if isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            return all_conditions_true(node["Fn::If"][1])
        return {k: all_conditions_true(v) for k, v in node.items() if not is_ref(v, "AWS::NoValue")}
    if isinstance(node, list):
        return [all_conditions_true(v) for v in node if not is_ref(v, "AWS::NoValue")]
    return node


def walk(node: Any) -> Iterator[Any]:
    """Every dict and list in a template fragment, depth first."""
    yield node
    if isinstance(node, dict):
        for child in node.values():
            yield from walk(child)
    elif isinstance(node, list):
        for child in node:
            yield from walk(child)


def policy_documents(template: Template) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, document) for every identity and resource policy in the template, every
    condition true."""
    for name, resource in template["Resources"].items():
        p = all_conditions_true(resource.get("Properties", {}))
        kind = resource["Type"]
        if kind == "AWS::IAM::Role":
            for policy in p.get("Policies", []):
                yield f"{name}/{policy['PolicyName']}", policy["PolicyDocument"]
        elif kind in POLICY_RESOURCES:
            yield name, p["PolicyDocument"]
        elif kind == "AWS::EFS::FileSystem" and "FileSystemPolicy" in p:
            yield name, p["FileSystemPolicy"]
        elif kind == "AWS::Serverless::Function" and "Policies" in p:
            yield name, {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def allow_statements(template: Template) -> Iterator[tuple[str, Statement]]:
    for where, document in policy_documents(template):
        for statement in as_list(document["Statement"]):
            if statement["Effect"] == "Allow":
                yield f"{where}/{statement.get('Sid', '?')}", statement


def matches(action_pattern: str, action: str) -> bool:
    return fnmatch.fnmatchcase(action.lower(), action_pattern.lower())


def sensitive_actions(statement: Statement) -> set[str]:
    patterns = [str(a) for a in as_list(statement.get("Action", []))]
    return {a for a in SENSITIVE_ACTIONS if any(matches(p, a) for p in patterns)}


def role_names(template: Template) -> set[str]:
    return set(resources(template, "AWS::IAM::Role"))


# cfn-lint


def test_cfn_lint_reports_no_errors(packaged: Path) -> None:
    from cfnlint.api import lint_file

    matches_ = lint_file(packaged)
    errors = [m for m in matches_ if m.rule.id.startswith("E")]
    assert not errors, "\n".join(str(m) for m in errors)


# IAM: least privilege


def test_no_allow_statement_has_star_action_or_not_action(template: Template) -> None:
    for where, statement in allow_statements(template):
        assert "NotAction" not in statement and "NotResource" not in statement, where
        for action in as_list(statement.get("Action", [])):
            assert action != "*" and not str(action).endswith(":*"), f"{where}: {action}"


def test_star_resource_only_for_actions_without_resource_permissions(template: Template) -> None:
    for where, statement in allow_statements(template):
        if "*" not in as_list(statement.get("Resource", [])):
            continue
        actions = set(as_list(statement["Action"]))
        assert actions <= STAR_RESOURCE_ACTIONS, f"{where}: {sorted(actions)} on '*'"


def test_sensitive_actions_never_on_star(template: Template) -> None:
    """RunTask, PassRole and table or bucket writes never on "*" or a wildcard ARN."""
    for where, statement in allow_statements(template):
        if not sensitive_actions(statement):
            continue
        for resource in as_list(statement.get("Resource", "*")):
            text = sub_text(resource)
            assert resource != "*", where
            assert not re.fullmatch(r"arn:[^:]*:[^:]*:[^:]*:[^:]*:\*", text), f"{where}: {text}"


def test_run_task_only_project_families_on_this_cluster(template: Template) -> None:
    found = 0
    for where, statement in allow_statements(template):
        if not {"ecs:RunTask", "ecs:StartTask"} & sensitive_actions(statement):
            continue
        found += 1
        for resource in as_list(statement["Resource"]):
            text = sub_text(resource)
            assert text.startswith(
                "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:task-definition/"
            ), f"{where}: {resource}"
            family = text.split("task-definition/", 1)[1]
            assert family in (f"{ORCHESTRATOR_FAMILY}:*", f"{TASK_FAMILY_PREFIX}*:*"), where
        cluster = statement["Condition"]["ArnEquals"]["ecs:cluster"]
        assert is_getatt(cluster, "Cluster"), where
    # the submit path and the status handler (orchestrators: run groups admit on a run's end),
    # and the orchestrator (WDL tasks)
    assert found == 3


def test_pass_role_only_this_stacks_roles_to_ecs(template: Template) -> None:
    """PassRole: this stack's roles to ECS, and the deadline schedules' role to Scheduler."""
    roles = role_names(template)
    found = 0
    for where, statement in allow_statements(template):
        if "iam:PassRole" not in sensitive_actions(statement):
            continue
        found += 1
        for resource in as_list(statement["Resource"]):
            assert any(is_getatt(resource, role) for role in roles), f"{where}: {resource}"
        passed_to = statement["Condition"]["StringEquals"]["iam:PassedToService"]
        if as_list(statement["Resource"]) == [{"Fn::GetAtt": ["DeadlineSchedulerRole", "Arn"]}]:
            assert passed_to == "scheduler.amazonaws.com", where
        else:
            assert passed_to == "ecs-tasks.amazonaws.com", where
    # to ECS: submit, status (run groups launch orchestrators), orchestrator; to Scheduler:
    # submit and status (they admit runs, whose deadlines they schedule)
    assert found == 5


def test_table_and_bucket_writes_only_on_this_table_and_bucket(template: Template) -> None:
    for where, statement in allow_statements(template):
        actions = sensitive_actions(statement)
        for resource in as_list(statement.get("Resource", [])):
            if any(a.startswith("dynamodb:") for a in actions):
                assert is_getatt(resource, "Table") or sub_text(resource).startswith(
                    "${Table.Arn}/"
                ), f"{where}: {resource}"
            if any(a.startswith("s3:") for a in actions):
                assert is_getatt(resource, "Bucket") or sub_text(resource).startswith(
                    "${Bucket.Arn}/"
                ), f"{where}: {resource}"


def test_every_function_has_one_of_the_stacks_roles(template: Template) -> None:
    roles = role_names(template)
    functions = resources(template, "AWS::Serverless::Function")
    assert {"APIHandler", "OnSubmissionCreated", "OnEcsTaskStateChange"} <= set(functions)
    for name, function in functions.items():
        role = function["Properties"].get("Role")
        assert any(is_getatt(role, r) for r in roles), f"{name}: Role {role}"
        assert "Policies" not in function["Properties"], name
    assert is_getatt(props(template, "OnEcsTaskStateChange")["Role"], "StatusFunctionRole")
    for name in ("APIHandler", "OnSubmissionCreated"):
        assert is_getatt(props(template, name)["Role"], "SubmitFunctionRole")


# every resource issue 5 lists


def _network(t: Template) -> bool:
    parameters = t["Parameters"]
    return (
        {"CreateVpc", "VpcId", "SubnetIds", "SecurityGroupIds", "AssignPublicIp"} <= set(parameters)
        and t["Resources"]["Vpc"].get("Condition") == "CreateVpc"
        and len(resources(t, "AWS::EC2::Subnet")) == 2
        and len(resources(t, "AWS::EC2::InternetGateway")) == 1
        and not resources(t, "AWS::EC2::NatGateway")  # nothing billed while idle
    )


def _cluster(t: Template) -> bool:
    (cluster,) = resources(t, "AWS::ECS::Cluster").values()
    providers = cluster["Properties"]["CapacityProviders"]
    if set(providers) == {"Fn::If"}:  # with Ec2Capacity, ClusterCapacityProviders names them
        condition, _with_ec2, providers = providers["Fn::If"]
        assert condition == "UseEc2Capacity"
    return set(providers) == {"FARGATE", "FARGATE_SPOT"}


def _efs(t: Template) -> bool:
    (fs,) = resources(t, "AWS::EFS::FileSystem").values()
    p = fs["Properties"]
    return p["Encrypted"] is True and p["ThroughputMode"] == "elastic"


def _mount_targets(t: Template) -> bool:
    targets = resources(t, "AWS::EFS::MountTarget").values()
    subnets = [m["Properties"]["SubnetId"]["Fn::Select"][0] for m in targets]
    return sorted(subnets) == [0, 1] and all(
        m["Properties"]["SecurityGroups"] == [{"Ref": "EfsSecurityGroup"}] for m in targets
    )


def _access_point(t: Template) -> bool:
    (ap,) = resources(t, "AWS::EFS::AccessPoint").values()
    user = ap["Properties"]["PosixUser"]
    creation = ap["Properties"]["RootDirectory"]["CreationInfo"]
    return user["Uid"] != "0" and user["Gid"] != "0" and creation["OwnerUid"] == user["Uid"]


def _efs_policy(t: Template) -> bool:
    """Mounts need the stack's roles, an access point and TLS."""
    (fs,) = resources(t, "AWS::EFS::FileSystem").values()
    statements = {s["Sid"]: s for s in fs["Properties"]["FileSystemPolicy"]["Statement"]}
    allowed = statements["ContainerRolesMayMountAndWrite"]["Condition"]["ArnEquals"]
    roles = allowed["aws:PrincipalArn"]
    return (
        roles == [{"Fn::GetAtt": [r, "Arn"]} for r in ("OrchestratorTaskRole", "TaskRole")]
        and statements["OnlyThroughAnAccessPoint"]["Effect"] == "Deny"
        and statements["OnlyThroughAnAccessPoint"]["Condition"]
        == {"Null": {"elasticfilesystem:AccessPointArn": "true"}}
        and statements["OnlyOverTls"]["Effect"] == "Deny"
        and statements["OnlyOverTls"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    )


def _efs_only_from_containers(t: Template) -> bool:
    ingress = props(t, "EfsSecurityGroup")["SecurityGroupIngress"]
    return ingress == [
        {
            "IpProtocol": "tcp",
            "FromPort": 2049,
            "ToPort": 2049,
            "SourceSecurityGroupId": {"Ref": "ContainerSecurityGroup"},
            "Description": ingress[0]["Description"],
        }
    ]


def _table(t: Template) -> bool:
    (table,) = resources(t, "AWS::DynamoDB::Table").values()
    p = table["Properties"]
    return (
        p["BillingMode"] == "PAY_PER_REQUEST"
        and p["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
        and p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    )


def _bucket(t: Template) -> bool:
    (bucket,) = resources(t, "AWS::S3::Bucket").values()
    p = bucket["Properties"]
    block = p["PublicAccessBlockConfiguration"]
    sse = p["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    return (
        all(block[k] is True for k in ("BlockPublicAcls", "BlockPublicPolicy"))
        and all(block[k] is True for k in ("IgnorePublicAcls", "RestrictPublicBuckets"))
        and sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
        and p["NotificationConfiguration"]["EventBridgeConfiguration"]["EventBridgeEnabled"]
    )


def _bucket_prefixes(t: Template) -> bool:
    return {"submissions/", "requests/", "results/"} <= set(t["Metadata"]["Bucket"]["Prefixes"])


def _rule(t: Template, function: str) -> dict[str, Any]:
    events = props(t, function)["Events"]
    (event,) = events.values()
    assert event["Type"] == "EventBridgeRule"  # CloudWatchEvent has no DLQ or retry policy
    rule: dict[str, Any] = event["Properties"]
    return rule


def _dead_letters(t: Template, function: str, queue: str) -> bool:
    rule = _rule(t, function)
    return (
        is_getatt(rule["DeadLetterConfig"]["Arn"], queue)
        and rule["RetryPolicy"]["MaximumRetryAttempts"] > 0
        and props(t, function)["DeadLetterQueue"]
        == {"Type": "SQS", "TargetArn": {"Fn::GetAtt": [queue, "Arn"]}}
    )


def _ecs_rule(t: Template) -> bool:
    pattern = _rule(t, "OnEcsTaskStateChange")["Pattern"]
    return (
        pattern["source"] == ["aws.ecs"]
        and pattern["detail-type"] == ["ECS Task State Change"]
        and pattern["detail"]["clusterArn"] == [{"Fn::GetAtt": ["Cluster", "Arn"]}]
        and _dead_letters(t, "OnEcsTaskStateChange", "EcsEventsDeadLetterQueue")
    )


def _s3_rule(t: Template) -> bool:
    pattern = _rule(t, "OnSubmissionCreated")["Pattern"]
    return (
        pattern["source"] == ["aws.s3"]
        and pattern["detail-type"] == ["Object Created"]
        and pattern["detail"]["bucket"]["name"] == [{"Ref": "Bucket"}]
        and pattern["detail"]["object"]["key"] == [{"wildcard": "submissions/*.json"}]
        and _dead_letters(t, "OnSubmissionCreated", "SubmissionEventsDeadLetterQueue")
    )


def _dead_letter_policy(t: Template) -> bool:
    """EventBridge may send to each queue, from its own rule only (SAM names the rules
    function ID + event ID)."""
    statements = props(t, "DeadLetterQueuePolicy")["PolicyDocument"]["Statement"]
    sources = {
        s["Resource"]["Fn::GetAtt"][0]: s["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::GetAtt"][
            0
        ]
        for s in statements
    }
    expected = {}
    for function, queue in (
        ("OnEcsTaskStateChange", "EcsEventsDeadLetterQueue"),
        ("OnSubmissionCreated", "SubmissionEventsDeadLetterQueue"),
    ):
        (event_id,) = props(t, function)["Events"]
        expected[queue] = function + event_id
    return sources == expected


def _bus(t: Template) -> bool:
    return len(resources(t, "AWS::Events::EventBus")) == 1


def _orchestrator(t: Template) -> bool:
    p = props(t, "OrchestratorTaskDefinition")
    (container,) = p["ContainerDefinitions"]
    (volume,) = p["Volumes"]
    efs = volume["EFSVolumeConfiguration"]
    log = container["LogConfiguration"]
    return (
        p["RequiresCompatibilities"] == ["FARGATE"]
        and container["Name"] == "orchestrator"
        and is_ref(container["Image"], "OrchestratorImage")
        and container["MountPoints"][0]["ContainerPath"] == "/mnt/efs"
        and container["MountPoints"][0]["SourceVolume"] == volume["Name"]
        and is_ref(efs["FilesystemId"], "FileSystem")
        and efs["TransitEncryption"] == "ENABLED"
        and is_ref(efs["AuthorizationConfig"]["AccessPointId"], "AccessPoint")
        and efs["AuthorizationConfig"]["IAM"] == "ENABLED"
        and log["LogDriver"] == "awslogs"
        and log["Options"]["mode"] == "blocking"
        and is_ref(log["Options"]["awslogs-group"], "OrchestratorLogGroup")
        and is_getatt(p["TaskRoleArn"], "OrchestratorTaskRole")
        and is_getatt(p["ExecutionRoleArn"], "OrchestratorExecutionRole")
        and sub_text(p["Family"]) == ORCHESTRATOR_FAMILY
    )


def _log_groups(t: Template) -> bool:
    groups = resources(t, "AWS::Logs::LogGroup")
    functions = resources(t, "AWS::Serverless::Function").values()
    used = {f["Properties"]["LoggingConfig"]["LogGroup"]["Ref"] for f in functions}
    return (
        all(is_ref(g["Properties"]["RetentionInDays"], "LogRetentionDays") for g in groups.values())
        and used | {"OrchestratorLogGroup", "TaskLogGroup"} == set(groups)
        and len(used) == len(functions)
    )


RESOURCE_CHECKS: dict[str, Callable[[Template], bool]] = {
    "network: VPC parameters, or a minimal VPC without NAT": _network,
    "ECS cluster with FARGATE and FARGATE_SPOT": _cluster,
    "EFS encrypted, elastic throughput": _efs,
    "EFS mount targets in both subnets": _mount_targets,
    "EFS access point with a non-root POSIX user": _access_point,
    "EFS mounts need the stack's roles, an access point and TLS": _efs_policy,
    "EFS reachable from the containers only": _efs_only_from_containers,
    "DynamoDB on demand, TTL, point-in-time recovery": _table,
    "S3 public access blocked, SSE, EventBridge notifications": _bucket,
    "S3 prefixes documented": _bucket_prefixes,
    "ECS task-state-change rule to the status Lambda, this cluster, DLQ": _ecs_rule,
    "S3 Object Created rule to the submit Lambda, this bucket, DLQ": _s3_rule,
    "dead-letter queues accept their own rule only": _dead_letter_policy,
    "notifications bus": _bus,
    "orchestrator task definition": _orchestrator,
    "log groups with retention": _log_groups,
}


@pytest.mark.parametrize("check", list(RESOURCE_CHECKS), ids=list(RESOURCE_CHECKS))
def test_template_has(template: Template, check: str) -> None:
    assert RESOURCE_CHECKS[check](template), check


def test_lambda_environment(template: Template) -> None:
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert set(LAMBDA_ENVIRONMENT) <= set(variables)
    assert is_ref(variables["MINIWDL_FARGATE_TABLE"], "Table")
    assert is_ref(variables["MINIWDL_FARGATE_BUS"], "EventBus")
    assert is_ref(variables["MINIWDL_FARGATE_CLUSTER"], "Cluster")
    assert is_ref(variables["MINIWDL_FARGATE_BUCKET"], "Bucket")
    assert is_ref(
        variables["MINIWDL_FARGATE_ORCHESTRATOR_TASK_DEFINITION"], "OrchestratorTaskDefinition"
    )


def orchestrator_environment(template: Template) -> dict[str, Any]:
    """The orchestrator container's environment, every condition true."""
    (container,) = props(template, "OrchestratorTaskDefinition")["ContainerDefinitions"]
    return {e["Name"]: e["Value"] for e in all_conditions_true(container["Environment"])}


def test_orchestrator_environment(template: Template) -> None:
    environment = orchestrator_environment(template)
    assert set(ORCHESTRATOR_ENVIRONMENT) <= set(environment)
    assert environment["MINIWDL__SCHEDULER__CONTAINER_BACKEND"] == "aws_fargate"
    assert environment["MINIWDL__AWS_FARGATE__EFS_MOUNTPOINT"] == "/mnt/efs"
    assert environment["MINIWDL_FARGATE_WORK_ROOT"] == "/mnt/efs"
    assert is_getatt(environment["MINIWDL__AWS_FARGATE__TASK_ROLE_ARN"], "TaskRole")
    assert is_getatt(environment["MINIWDL__AWS_FARGATE__EXECUTION_ROLE_ARN"], "TaskExecutionRole")
    assert is_ref(environment["MINIWDL__AWS_FARGATE__LOG_GROUP"], "TaskLogGroup")
    # Every [aws_fargate] key the stack sets is one the backend reads.
    keys = {
        name.removeprefix("MINIWDL__AWS_FARGATE__").lower()
        for name in environment
        if name.startswith("MINIWDL__AWS_FARGATE__")
    }
    assert keys <= set(FargateSettings.__dataclass_fields__), keys


def test_stack_settings_are_ones_the_code_reads(template: Template) -> None:
    """Every MINIWDL_FARGATE_* variable the stack sets is an ``AwsDeployment`` field (or the
    API's authorization mode), so a renamed setting cannot silently drop out."""
    names = set(template["Globals"]["Function"]["Environment"]["Variables"])
    names |= set(orchestrator_environment(template))
    fields = {"MINIWDL_FARGATE_" + f.upper() for f in AwsDeployment.__dataclass_fields__}
    ours = {n for n in names if n.startswith("MINIWDL_FARGATE_")}
    assert ours - fields == {"MINIWDL_FARGATE_API_AUTH"}


# What CloudFormation accepts in a Rules section (cfn-lint does not check it).
RULE_FUNCTIONS = frozenset(
    {
        "Fn::And",
        "Fn::Contains",
        "Fn::EachMemberEquals",
        "Fn::EachMemberIn",
        "Fn::Equals",
        "Fn::Not",
        "Fn::Or",
        "Fn::RefAll",
        "Fn::ValueOf",
        "Fn::ValueOfAll",
        "Ref",
    }
)


def test_rules_use_only_rule_functions(template: Template) -> None:
    for node in walk(template.get("Rules", {})):
        if isinstance(node, dict):
            functions = {k for k in node if k == "Ref" or k.startswith("Fn::")}
            assert functions <= RULE_FUNCTIONS, functions


def test_outputs_and_parameter_descriptions(template: Template) -> None:
    assert set(OUTPUTS) <= set(template["Outputs"])
    for name, output in template["Outputs"].items():
        assert output.get("Description") or name in (
            "RestAPIId",
            "APIHandlerName",
            "APIHandlerArn",
            "EndpointURL",
        )
    for name, parameter in template["Parameters"].items():
        assert parameter.get("Description"), f"parameter {name} has no description"


def test_every_reference_resolves(template: Template) -> None:
    """Ref, GetAtt and Sub name a parameter, a resource or a rule SAM generates (cfn-lint does
    not check references into SAM-generated resources)."""
    generated = {
        function + event
        for function, resource in resources(template, "AWS::Serverless::Function").items()
        for event in resource["Properties"].get("Events", {})
    }
    known = set(template["Parameters"]) | set(template["Resources"]) | generated
    known |= PSEUDO_PARAMETERS
    for node in walk(template):
        if not isinstance(node, dict):
            continue
        names: list[str] = []
        if "Ref" in node:
            names.append(node["Ref"])
        if "Fn::GetAtt" in node:
            names.append(node["Fn::GetAtt"][0])
        if "Fn::Sub" in node:
            sub = node["Fn::Sub"]
            local = set(sub[1]) if isinstance(sub, list) else set()
            variables = re.findall(r"\$\{([^}!]+)\}", sub_text(node))
            names += [v.split(".")[0] for v in variables if v not in local]
        for name in names:
            assert name in known, f"unknown reference {name}"


# the DynamoDB table is the store's


def test_table_matches_the_stores_table_definition(template: Template) -> None:
    expected = table_definition("any")
    table = props(template, "Table")

    def by_name(items: list[dict[str, Any]], key: str) -> dict[str, Any]:
        return {item[key]: item for item in items}

    assert table["BillingMode"] == expected["BillingMode"]
    assert table["KeySchema"] == expected["KeySchema"]
    assert by_name(table["AttributeDefinitions"], "AttributeName") == by_name(
        expected["AttributeDefinitions"], "AttributeName"
    )
    indexes = by_name(table["GlobalSecondaryIndexes"], "IndexName")
    assert indexes == by_name(expected["GlobalSecondaryIndexes"], "IndexName")


# the orchestrator image


def _dockerfile_lines() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined."""
    return (ROOT / "Dockerfile").read_text().replace("\\\n", " ").splitlines()


def _dockerfile_copies() -> dict[str, str]:
    """Where each file the Dockerfile copies lands in the image -> its path in the repository."""
    copies = {}
    for line in _dockerfile_lines():
        words = line.split()
        if words[:1] == ["COPY"] and len(words) == 3:
            copies[words[2]] = words[1]
    return copies


def _dockerfile_pip_installs() -> list[list[str]]:
    """The arguments of each `pip install` in the Dockerfile."""
    installs = []
    for line in _dockerfile_lines():
        if not line.startswith("RUN "):
            continue
        for command in re.split(r"&&|;", line.removeprefix("RUN ")):
            words = shlex.split(command)
            if words[:2] == ["pip", "install"] or words[1:3] == ["-m", "pip"]:
                installs.append(words[words.index("install") + 1 :])
    return installs


def _pinned_requirements() -> dict[str, str]:
    """name -> version of everything the Dockerfile installs from PyPI, each pinned exactly."""
    pins: dict[str, str] = {}
    installs = _dockerfile_pip_installs()
    assert installs, "the Dockerfile installs nothing with pip"
    for words in installs:
        lines: list[str] = []
        i = 0
        while i < len(words):
            word = words[i]
            if word in ("-r", "--requirement"):
                source = _dockerfile_copies()[words[i + 1]]
                lines += (ROOT / source).read_text().splitlines()
                i += 2
                continue
            if not word.startswith("-") and word != ".":
                lines.append(word)
            i += 1
        for line in lines:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            requirement = Requirement(line)
            (spec,) = requirement.specifier
            assert spec.operator == "==" and "*" not in spec.version, f"not pinned: {line}"
            pins[requirement.name.lower().replace("_", "-")] = spec.version
    return pins


def test_dockerfile_pins_every_requirement() -> None:
    pins = _pinned_requirements()
    # The package's runtime dependencies are among them, at versions pyproject.toml allows.
    for line in requires("miniwdl-fargate") or []:
        requirement = Requirement(line)
        if requirement.marker is not None:
            continue
        name = requirement.name.lower().replace("_", "-")
        assert name in pins, f"{name} is not pinned in the image"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} vs {line}"


def test_dockerfile_installs_this_package_with_pinned_dependencies_only() -> None:
    installs = _dockerfile_pip_installs()
    assert any("." in words for words in installs), "the image must `pip install .`"
    for words in installs:
        assert "--no-deps" in words, f"pip install {' '.join(words)} may pull unpinned packages"


def test_image_miniwdl_cfg_selects_aws_fargate_on_efs() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.M)
    assert "MINIWDL_CFG=/etc/miniwdl-fargate/miniwdl.cfg" in dockerfile
    assert "COPY infra/miniwdl.cfg /etc/miniwdl-fargate/miniwdl.cfg" in dockerfile
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "infra" / "miniwdl.cfg")
    assert cfg["scheduler"]["container_backend"] == "aws_fargate"
    assert cfg["aws_fargate"]["efs_mountpoint"] == "/mnt/efs"
    assert cfg["file_io"]["root"] == "/mnt/efs"
    assert cfg["call_cache"]["dir"].startswith("/mnt/efs/")


# issue 17: what AWS would reject


def _statements(t: Template, role: str) -> dict[str, Statement]:
    (policy,) = all_conditions_true(props(t, role))["Policies"]
    return {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}


CACHE_RULES = {  # rule -> (upstream registry, its URL, repository prefix suffix, credential)
    "DockerHubCache": (
        "docker-hub",
        "registry-1.docker.io",
        "docker-hub",
        "DockerHubCredentialArn",
    ),
    "QuayCache": ("quay", "quay.io", "quay", None),
    "GitHubCache": ("github-container-registry", "ghcr.io", "ghcr", "GitHubCredentialArn"),
    "EcrPublicCache": ("ecr-public", "public.ecr.aws", "ecr-public", None),
}
# What the orchestrator's pull_through_cache names each upstream registry (image_registry's
# host names) -> the rule that caches it.
CACHE_HOSTS = {
    "docker.io": "DockerHubCache",
    "quay.io": "QuayCache",
    "ghcr.io": "GitHubCache",
    "public.ecr.aws": "EcrPublicCache",
}
ECR_HOST = "${AWS::AccountId}.dkr.ecr.${AWS::Region}.${AWS::URLSuffix}"


def test_pull_through_cache_rules(template: Template) -> None:
    rules = resources(template, "AWS::ECR::PullThroughCacheRule")
    assert set(rules) == set(CACHE_RULES)
    conditions = template["Conditions"]
    for name, (registry, url, suffix, credential) in CACHE_RULES.items():
        p = rules[name]["Properties"]
        assert (p["UpstreamRegistry"], p["UpstreamRegistryUrl"]) == (registry, url), name
        assert sub_text(p["EcrRepositoryPrefix"]) == "${ImageCachePrefix}-" + suffix, name
        condition = rules[name]["Condition"]
        if credential is None:
            assert condition == "UseImageCache" and "CredentialArn" not in p, name
        else:  # created only with credentials, which ECR needs for this registry
            assert is_ref(p["CredentialArn"], credential), name
            assert template["Parameters"][credential]["Default"] == ""
            assert {"Condition": "UseImageCache"} in conditions[condition]["Fn::And"], name
            assert {"Fn::Not": [{"Fn::Equals": [{"Ref": credential}, ""]}]} in conditions[
                condition
            ]["Fn::And"], name
    prefix = template["Parameters"]["ImageCachePrefix"]
    # ECR's limit on a rule's prefix is 30 characters
    assert prefix["MaxLength"] + len("-docker-hub") <= 30
    assert re.fullmatch(prefix["AllowedPattern"], prefix["Default"])


def test_the_orchestrator_is_told_the_caches_the_rules_create(template: Template) -> None:
    (container,) = props(template, "OrchestratorTaskDefinition")["ContainerDefinitions"]
    (entry,) = [e for e in container["Environment"] if "Fn::If" in e]
    condition, setting, otherwise = entry["Fn::If"]
    assert condition == "UseImageCache" and is_ref(otherwise, "AWS::NoValue")
    assert setting["Name"] == "MINIWDL__AWS_FARGATE__PULL_THROUGH_CACHE"
    separator, items = setting["Value"]["Fn::Join"]
    assert separator == ","
    rules = resources(template, "AWS::ECR::PullThroughCacheRule")
    seen = set()
    for item in items:
        condition = "UseImageCache"
        if "Fn::If" in item:  # a rule that needs credentials: named only when it exists
            condition, item, otherwise = item["Fn::If"]
            assert otherwise == ""
        host, cache = sub_text(item).split("=")
        rule = rules[CACHE_HOSTS[host]]
        assert rule["Condition"] == condition, host
        registry, _, prefix = cache.partition("/")
        assert registry == ECR_HOST
        assert prefix == sub_text(rule["Properties"]["EcrRepositoryPrefix"])
        seen.add(host)
    assert seen == set(CACHE_HOSTS)
    # each rule's registry is the one the backend's image names resolve to
    for host, name in CACHE_HOSTS.items():
        url = rules[name]["Properties"]["UpstreamRegistryUrl"]
        assert cached_image(f"{url}/team/tool:1", {host: "CACHE"}) == "CACHE/team/tool:1"


def test_task_execution_role_may_fill_only_the_caches(template: Template) -> None:
    statements = _statements(template, "TaskExecutionRole")
    fill = statements["FillPullThroughCaches"]
    assert sorted(fill["Action"]) == ["ecr:BatchImportUpstreamImage", "ecr:CreateRepository"]
    expected = {
        "arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/"
        f"${{ImageCachePrefix}}-{suffix}/*"
        for _registry, _url, suffix, _credential in CACHE_RULES.values()
    }
    assert {sub_text(r) for r in fill["Resource"]} == expected
    assert set(statements["EcrPull"]["Action"]) == {
        "ecr:BatchCheckLayerAvailability",
        "ecr:GetDownloadUrlForLayer",
        "ecr:BatchGetImage",
    }
    # no other statement anywhere may create repositories or import images
    for where, statement in allow_statements(template):
        actions = {a.lower() for a in as_list(statement.get("Action", []))}
        if actions & {"ecr:createrepository", "ecr:batchimportupstreamimage"}:
            assert where == "TaskExecutionRole/pull-and-log/FillPullThroughCaches", where
    # the statement is there only with the caches
    (policy,) = props(template, "TaskExecutionRole")["Policies"]
    (conditional,) = [s for s in policy["PolicyDocument"]["Statement"] if "Fn::If" in s]
    assert conditional["Fn::If"][0] == "UseImageCache"
    assert is_ref(conditional["Fn::If"][2], "AWS::NoValue")


def test_orchestrator_runs_its_command_as_the_whole_argv(template: Template) -> None:
    """The submit Lambda's command override is the orchestrator's argv: neither the task
    definition nor the image may add an entry point in front of it."""
    (container,) = props(template, "OrchestratorTaskDefinition")["ContainerDefinitions"]
    assert "EntryPoint" not in container
    assert not any(line.startswith("ENTRYPOINT") for line in _dockerfile_lines())
    assert re.search(r"^FROM python:[0-9.]+-slim\b", (ROOT / "Dockerfile").read_text(), re.M)


def test_efs_policy_names_this_accounts_file_systems(template: Template) -> None:
    """The file system's own ARN would be a circular reference (the policy is a property of
    the file system); the statements name this account's and region's file systems."""
    statements = props(template, "FileSystem")["FileSystemPolicy"]["Statement"]
    expected = (
        "arn:${AWS::Partition}:elasticfilesystem:${AWS::Region}:${AWS::AccountId}:file-system/*"
    )
    assert [sub_text(s["Resource"]) for s in statements] == [expected] * len(statements)
    assert "FileSystem" not in str(statements)  # no self-reference


# Lambda runtimes on Amazon Linux 2023, and its glibc
AL2023_RUNTIMES = {"python3.12": (3, 12), "python3.13": (3, 13)}
AL2023_GLIBC = (2, 34)


def test_lambdas_run_on_amazon_linux_2023(template: Template) -> None:
    functions = resources(template, "AWS::Serverless::Function")
    runtimes = {f["Properties"]["Runtime"] for f in functions.values()}
    assert len(runtimes) == 1 and runtimes <= set(AL2023_RUNTIMES), runtimes
    layer = props(template, "ManagedLayer")
    assert layer["CompatibleRuntimes"] == sorted(runtimes)


def _wheel_tags(layer: zipfile.ZipFile) -> dict[str, list[str]]:
    """dist-info directory -> the Tag lines of its WHEEL file."""
    tags = {}
    for name in layer.namelist():
        if name.endswith(".dist-info/WHEEL"):
            lines = layer.read(name).decode().splitlines()
            tags[name] = [
                line.split(":", 1)[1].strip() for line in lines if line.startswith("Tag:")
            ]
    return tags


def _wheel_fits(tag: str, version: tuple[int, int]) -> bool:
    """Whether a wheel tag (python-abi-platform) loads on CPython ``version``, x86_64, with
    Amazon Linux 2023's glibc."""
    python, abi, platform = tag.split("-")
    cpython = f"cp{version[0]}{version[1]}"
    if abi == "none" and platform == "any":
        return python.startswith("py3") or python == cpython
    if abi == "abi3":
        fits_python = python.startswith("cp3") and int(python[3:]) <= version[1]
    else:
        fits_python = python == cpython and abi == cpython
    legacy = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
    m = re.fullmatch(r"manylinux_(\d+)_(\d+)_x86_64", platform)
    if m:
        glibc = (int(m[1]), int(m[2]))
    elif platform.removesuffix("_x86_64") in legacy and platform.endswith("_x86_64"):
        glibc = legacy[platform.removesuffix("_x86_64")]
    else:
        return False
    return fits_python and glibc <= AL2023_GLIBC


def test_layer_wheels_load_on_the_lambda_runtime(template: Template, packaged: Path) -> None:
    (runtime,) = props(template, "ManagedLayer")["CompatibleRuntimes"]
    version = AL2023_RUNTIMES.get(runtime)
    assert version, f"{runtime} does not run on Amazon Linux 2023"
    with zipfile.ZipFile(packaged.parent / "layer-deployment.zip") as layer:
        names = layer.namelist()
        tags = _wheel_tags(layer)
    site = f"python/lib/{runtime}/site-packages/"
    assert names and all(n.startswith(site) for n in names), {n.split("/")[2] for n in names}
    assert len(tags) > 10 and all(tags.values())
    for dist_info, wheel_tags in tags.items():
        assert any(_wheel_fits(tag, version) for tag in wheel_tags), (dist_info, wheel_tags)
    cpython = f"cpython-{version[0]}{version[1]}-x86_64-linux-gnu.so"
    for name in names:
        if name.endswith(".so"):
            assert name.endswith((".abi3.so", cpython)), name


@pytest.mark.parametrize(
    ("tag", "fits"),
    [
        ("py3-none-any", True),
        ("cp312-cp312-manylinux_2_17_x86_64", True),
        ("cp312-cp312-manylinux2014_x86_64", True),
        ("cp310-abi3-manylinux_2_28_x86_64", True),
        ("cp311-cp311-manylinux_2_17_x86_64", False),  # another Python's extension
        ("cp312-cp312-manylinux_2_35_x86_64", False),  # newer glibc than AL2023's
        ("cp312-cp312-manylinux_2_17_aarch64", False),
        ("cp313-abi3-manylinux_2_17_x86_64", False),
        ("cp312-cp312-musllinux_1_2_x86_64", False),
    ],
)
def test_wheel_fits(tag: str, fits: bool) -> None:
    assert _wheel_fits(tag, (3, 12)) is fits


# run deadlines (EventBridge Scheduler) and the Fargate vCPU quota (Service Quotas)

DEADLINE_ENVIRONMENT = (
    "MINIWDL_FARGATE_DEADLINE_FUNCTION_ARN",
    "MINIWDL_FARGATE_DEADLINE_ROLE_ARN",
)
# The functions that admit runs (and so schedule their deadlines).
ADMITTING_FUNCTIONS = (
    "APIHandler",
    "OnSubmissionCreated",
    "OnEcsTaskStateChange",
    "SweepStaleRecords",
)


def test_deadline_schedules_invoke_the_deadline_function_as_their_own_role(
    template: Template,
) -> None:
    assert len(resources(template, "AWS::Scheduler::ScheduleGroup")) == 1
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert is_ref(variables["MINIWDL_FARGATE_DEADLINE_SCHEDULE_GROUP"], "DeadlineScheduleGroup")
    function = props(template, "CancelRunsPastDeadline")
    assert is_getatt(function["Role"], "DeadlineFunctionRole")
    assert "Events" not in function  # invoked by its schedules only
    for name in ADMITTING_FUNCTIONS:
        env = props(template, name)["Environment"]["Variables"]
        assert is_getatt(env["MINIWDL_FARGATE_DEADLINE_FUNCTION_ARN"], "CancelRunsPastDeadline")
        assert is_getatt(env["MINIWDL_FARGATE_DEADLINE_ROLE_ARN"], "DeadlineSchedulerRole")
    fields = {"MINIWDL_FARGATE_" + f.upper() for f in AwsDeployment.__dataclass_fields__}
    assert {*DEADLINE_ENVIRONMENT, "MINIWDL_FARGATE_DEADLINE_SCHEDULE_GROUP"} <= fields
    role = props(template, "DeadlineSchedulerRole")
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    (policy,) = role["Policies"]
    (invoke,) = policy["PolicyDocument"]["Statement"]
    assert invoke["Action"] == "lambda:InvokeFunction"
    assert is_getatt(invoke["Resource"], "CancelRunsPastDeadline")


def test_schedules_are_made_and_deleted_only_in_the_stacks_group(template: Template) -> None:
    where_allowed: dict[str, set[str]] = {}
    for where, statement in allow_statements(template):
        for action in as_list(statement.get("Action", [])):
            if str(action).startswith("scheduler:"):
                where_allowed.setdefault(str(action), set()).add(where.split("/")[0])
                (resource,) = as_list(statement["Resource"])
                assert sub_text(resource) == (
                    "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}"
                    ":schedule/${DeadlineScheduleGroup}/run-deadline*"
                ), where
    assert where_allowed == {
        "scheduler:CreateSchedule": {"SubmitFunctionRole", "StatusFunctionRole"},
        "scheduler:DeleteSchedule": {"StatusFunctionRole"},  # a run ends in the status handler
    }


def test_only_the_orchestrator_reads_the_fargate_vcpu_quota(template: Template) -> None:
    found = []
    for where, statement in allow_statements(template):
        if "servicequotas:GetServiceQuota" in as_list(statement.get("Action", [])):
            found.append(where.split("/")[0])
            assert sub_text(statement["Resource"]) == (
                "arn:${AWS::Partition}:servicequotas:${AWS::Region}:${AWS::AccountId}"
                ":fargate/L-3032A538"
            )
    assert found == ["OrchestratorTaskRole"]  # the launch budget's leases are taken there


def test_items_are_deleted_only_where_their_keys_say(template: Template) -> None:
    """DeleteItem is granted only under a LeadingKeys condition: run groups for the API, the
    launch budget's leases for those who give them back (the status handler and the sweep on
    STOPPED, the orchestrator when a RunTask failed), and the records of task containers still
    waiting to launch (the orchestrator once they launch, the status handler once their
    orchestrator stopped); runs, and tasks that were launched, are never deleted."""
    keys: dict[str, list[str]] = {}
    for where, statement in allow_statements(template):
        if "dynamodb:DeleteItem" not in sensitive_actions(statement):
            continue
        condition = statement.get("Condition", {}).get("ForAllValues:StringLike", {})
        leading = as_list(condition.get("dynamodb:LeadingKeys", []))
        assert leading, f"{where}: DeleteItem without a LeadingKeys condition"
        keys.setdefault(where.split("/")[0], []).extend(leading)
    assert keys == {
        "SubmitFunctionRole": ["GROUP#*"],
        "StatusFunctionRole": ["BUDGET#*", f"TASK#{WAITING_PREFIX}*"],
        "OrchestratorTaskRole": ["BUDGET#*", f"TASK#{WAITING_PREFIX}*"],
    }
