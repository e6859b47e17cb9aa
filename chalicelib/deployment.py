"""Which adapters a process uses, chosen from its environment.

On AWS (``MINIWDL_FARGATE_TABLE`` set, as the stack sets it for the Lambdas and the orchestrator
task) the control plane is DynamoDB + EventBridge + ECS, and objects live in S3; otherwise
everything is the local mode's home. The AWS adapters are built once per process and reused: a
Lambda container serves many events. Nothing here imports miniwdl.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import ecs_events
from .launcher import TaskSpec
from .local_mode import LocalHome, default_home
from .objects import ObjectStore
from .status import ControlPlane

if TYPE_CHECKING:
    from .deadlines import DeadlineTimers
    from .s3_objects import S3Objects
    from .store import Store
    from .sweep import SweepReport

PREFIX = "MINIWDL_FARGATE_"
ENV_TABLE = "MINIWDL_FARGATE_TABLE"
ENV_BUS = "MINIWDL_FARGATE_BUS"
ENV_CLUSTER = "MINIWDL_FARGATE_CLUSTER"
ENV_RETENTION_DAYS = "MINIWDL_FARGATE_RETENTION_DAYS"
ORCHESTRATOR_CONTAINER = "orchestrator"
ORCHESTRATOR_COMMAND = ("python", "-m", "chalicelib.orchestrator")
DEFAULT_WORK_ROOT = "/mnt/efs"


class DeploymentError(RuntimeError):
    """The environment names an AWS deployment but misses part of it, or has a bad value."""


@dataclass(frozen=True)
class AwsDeployment:
    """The stack's resources, as its environment variables (``MINIWDL_FARGATE_<KEY>``) name
    them. ``table``, ``bus`` and ``cluster`` are needed by every process; the submit path also
    needs ``bucket``, ``orchestrator_task_definition``, ``subnets`` and ``security_groups``."""

    table: str
    bus: str
    cluster: str
    bucket: str = ""
    orchestrator_task_definition: str = ""
    subnets: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()
    assign_public_ip: bool = False
    orchestrator_cpu: int = 1024
    orchestrator_memory_mb: int = 4096
    retention_days: float = 90.0
    submissions_prefix: str = "submissions/"
    work_root: str = DEFAULT_WORK_ROOT
    vcpu_hour_usd: str = ""
    gb_hour_usd: str = ""
    # Run deadlines (``deadlines``): the Scheduler group, the Lambda its schedules invoke, and
    # the role Scheduler invokes it as. Without all three, the sweep alone enforces deadlines.
    deadline_schedule_group: str = ""
    deadline_function_arn: str = ""
    deadline_role_arn: str = ""

    @classmethod
    def from_lookup(cls, get: Callable[[str], str]) -> AwsDeployment | None:
        """Read the settings with ``get(key)`` ("" when unset, keys lower-case); None when no
        table is named (the local mode)."""
        if not get("table"):
            return None
        missing = [k for k in ("bus", "cluster") if not get(k)]
        if missing:
            names = " and ".join(PREFIX + k.upper() for k in missing)
            raise DeploymentError(f"{ENV_TABLE} is set, so {names} must be too")
        values: dict[str, object] = {}
        for name, field_ in cls.__dataclass_fields__.items():
            raw = get(name).strip()
            if not raw:
                continue
            default = field_.default
            try:
                if isinstance(default, tuple):
                    values[name] = tuple(p.strip() for p in raw.split(",") if p.strip())
                elif isinstance(default, bool):
                    values[name] = _boolean(raw)
                elif isinstance(default, int):
                    values[name] = int(raw)
                elif isinstance(default, float):
                    values[name] = float(raw)
                else:
                    values[name] = raw
            except ValueError:
                raise DeploymentError(f"{PREFIX}{name.upper()}={raw!r} is not valid") from None
        return cls(**values)  # type: ignore[arg-type]

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> AwsDeployment | None:
        """From ``MINIWDL_FARGATE_*`` environment variables."""
        return cls.from_lookup(lambda key: environ.get(PREFIX + key.upper(), ""))

    def as_environment(self) -> dict[str, str]:
        """The inverse of ``from_environment`` (non-default values only)."""
        out: dict[str, str] = {}
        for name, field_ in self.__dataclass_fields__.items():
            value = getattr(self, name)
            if value == field_.default:
                continue
            if isinstance(value, tuple):
                value = ",".join(value)
            elif isinstance(value, bool):
                value = "true" if value else "false"
            out[PREFIX + name.upper()] = str(value)
        return out

    def require_submit(self) -> None:
        """Check what launching an orchestrator needs."""
        missing = [
            PREFIX + k.upper()
            for k in ("bucket", "orchestrator_task_definition", "subnets")
            if not getattr(self, k)
        ]
        if missing:
            raise DeploymentError(f"submitting runs needs {', '.join(missing)}")

    def deadline_timers(self) -> DeadlineTimers | None:
        """EventBridge Scheduler one-time schedules for run deadlines, if the stack names
        their group, target and role."""
        if not (
            self.deadline_schedule_group and self.deadline_function_arn and self.deadline_role_arn
        ):
            return None
        from .deadlines import SchedulerDeadlines, new_scheduler_client

        return SchedulerDeadlines(
            new_scheduler_client(),
            self.deadline_schedule_group,
            self.deadline_function_arn,
            self.deadline_role_arn,
        )

    def orchestrator_spec(self, run_id: str) -> TaskSpec:
        """The orchestrator's RunTask: the stack's task definition, the run id as its command
        argument, identity in its environment, and the run id as its client token."""
        return TaskSpec(
            run_id=run_id,
            role=ecs_events.ROLE_ORCHESTRATOR,
            command=[*ORCHESTRATOR_COMMAND, run_id],
            environment={ecs_events.ENV_RUN_ID: run_id},
            family=self.orchestrator_task_definition.split("/")[-1].split(":")[0],
            container_name=ORCHESTRATOR_CONTAINER,
            cpu=self.orchestrator_cpu,
            memory_mb=self.orchestrator_memory_mb,
            client_token=run_id,
            task_definition=self.orchestrator_task_definition,
        )


def _boolean(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on", "enabled"):
        return True
    if value in ("0", "false", "no", "off", "disabled"):
        return False
    raise ValueError(raw)


def control_plane_from_environment() -> ControlPlane:
    """The control plane this process is configured for."""
    deployment = AwsDeployment.from_environment()
    if deployment is None:
        return LocalHome(default_home()).control_plane()
    return aws_control_plane(deployment)


@dataclass(frozen=True)
class Submitter:
    """What submitting a run needs: the control plane, the objects store, the orchestrator's
    launch spec, and a fetcher for ``s3://`` workflow URLs."""

    plane: ControlPlane
    objects: ObjectStore
    orchestrator_spec: Callable[[str], TaskSpec]
    read_s3: Callable[[str], bytes]


def submitter_from_environment() -> Submitter:
    """The submit path's adapters: the AWS stack's, or the local home's."""
    deployment = AwsDeployment.from_environment()
    if deployment is None:
        home = LocalHome(default_home())
        objects = home.objects()
        return Submitter(home.control_plane(detach=True), objects, home.orchestrator_spec, _no_s3)
    deployment.require_submit()
    return _aws_submitter(deployment)


def _no_s3(url: str) -> bytes:
    raise PermissionError("s3:// workflow URLs need the AWS deployment")


@functools.cache
def aws_control_plane(deployment: AwsDeployment) -> ControlPlane:
    """DynamoDB + EventBridge (with run metrics) + ECS, built once per process."""
    import boto3

    from .cost import prices_from_environment
    from .dynamodb_store import DynamoDbStore
    from .eventbridge import EventBridgeNotifier
    from .fargate import ClusterConfig, EcsLauncher, new_ecs_client
    from .metrics import MeteredNotifier
    from .service_quotas import fargate_vcpu_quota

    cluster = ClusterConfig(
        cluster=deployment.cluster,
        subnets=deployment.subnets,
        security_groups=deployment.security_groups,
        assign_public_ip=deployment.assign_public_ip,
    )
    store = DynamoDbStore(
        boto3.client("dynamodb"), deployment.table, retention_days=deployment.retention_days
    )
    return ControlPlane(
        store=store,
        notifier=MeteredNotifier(EventBridgeNotifier(boto3.client("events"), deployment.bus)),
        launcher=EcsLauncher(new_ecs_client(""), cluster),
        prices=prices_from_environment(deployment.as_environment()),
        **group_ports(
            store,
            deployment.orchestrator_spec,
            deployment.orchestrator_task_definition,
            deadlines=deployment.deadline_timers(),
            vcpu_quota=fargate_vcpu_quota,
        ),
    )


def group_ports(
    store: Store,
    orchestrator_spec: Callable[[str], TaskSpec],
    enabled: object = True,
    *,
    deadlines: DeadlineTimers | None = None,
    vcpu_quota: Callable[[], float | None] | None = None,
) -> dict[str, Any]:
    """The ``ControlPlane`` fields for run groups and the shared launch budget: admission
    (where orchestrators can be launched: ``enabled``), with the ``default`` group's limits and
    the account's from ``MINIWDL_FARGATE_DEFAULT_GROUP_*`` / ``MINIWDL_FARGATE_ACCOUNT_*``, the
    timers of run deadlines (``deadlines``), and the account's Fargate vCPU quota
    (``vcpu_quota``, read on first use; the configured value if it cannot be read)."""
    from .admission import Admission
    from .groups import default_limits
    from .launch_budget import AccountLimits, SharedLaunchBudget

    admission = Admission(orchestrator_spec, default_limits(os.environ), deadlines=deadlines)
    account = AccountLimits.from_environment(os.environ)
    return {
        "admission": admission if enabled else None,
        "budget": SharedLaunchBudget(store, account, vcpu_quota=vcpu_quota),
    }


@functools.cache
def aws_objects(bucket: str) -> S3Objects:
    """The S3 objects store, built once per process."""
    import boto3

    from .s3_objects import S3Objects

    return S3Objects(boto3.client("s3"), bucket)


@functools.cache
def _aws_submitter(deployment: AwsDeployment) -> Submitter:
    from .s3_objects import read_s3_uri

    objects = aws_objects(deployment.bucket)
    return Submitter(
        aws_control_plane(deployment),
        objects,
        deployment.orchestrator_spec,
        functools.partial(read_s3_uri, objects),
    )


def cancel_past_deadline_from_environment(event: Mapping[str, Any]) -> None:
    """The deadline Lambda: a run's schedule fired (``deadlines.handle_deadline_event``)."""
    from .deadlines import handle_deadline_event

    handle_deadline_event(event, control_plane_from_environment())


def sweep_from_environment() -> SweepReport:
    """One sweep (``sweep``) of the deployment this process is configured for: on AWS, quiet
    records are looked up with DescribeTasks (one call per 100 tasks); locally, in the local
    launcher's state."""
    from .fargate import EcsLauncher
    from .sweep import reconcile, sweep

    deployment = AwsDeployment.from_environment()
    if deployment is None:
        home = LocalHome(default_home())
        return home.sweep(home.control_plane())
    plane = aws_control_plane(deployment)
    launcher = plane.launcher
    assert isinstance(launcher, EcsLauncher)
    return sweep(plane, functools.partial(reconcile, plane, launcher.describe_tasks))
