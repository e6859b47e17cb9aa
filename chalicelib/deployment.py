"""Which adapters a process uses, chosen from its environment.

On AWS (``MINIWDL_FARGATE_TABLE`` set, as the stack sets it for the Lambdas) the control plane is
DynamoDB + EventBridge + ECS; otherwise it is the local mode's home. The AWS plane is built once
per process and reused: a Lambda container serves many events.
"""

from __future__ import annotations

import functools
import os

from .local_mode import LocalHome, default_home
from .status import ControlPlane

ENV_TABLE = "MINIWDL_FARGATE_TABLE"
ENV_BUS = "MINIWDL_FARGATE_BUS"
ENV_CLUSTER = "MINIWDL_FARGATE_CLUSTER"
ENV_RETENTION_DAYS = "MINIWDL_FARGATE_RETENTION_DAYS"


class DeploymentError(RuntimeError):
    """The environment names an AWS deployment but misses part of it."""


def control_plane_from_environment() -> ControlPlane:
    """The control plane this process is configured for."""
    table = os.environ.get(ENV_TABLE, "")
    if not table:
        return LocalHome(default_home()).control_plane()
    missing = [name for name in (ENV_BUS, ENV_CLUSTER) if not os.environ.get(name)]
    if missing:
        raise DeploymentError(f"{ENV_TABLE} is set, so {' and '.join(missing)} must be too")
    return _aws_control_plane(
        table,
        os.environ[ENV_BUS],
        os.environ[ENV_CLUSTER],
        float(os.environ.get(ENV_RETENTION_DAYS) or 90),
    )


@functools.cache
def _aws_control_plane(table: str, bus: str, cluster: str, retention_days: float) -> ControlPlane:
    import boto3

    from .dynamodb_store import DynamoDbStore
    from .eventbridge import EventBridgeNotifier
    from .fargate import ClusterConfig, EcsLauncher, new_ecs_client

    # The status handler only stops tasks (StopTask needs the cluster, not the network).
    stopper = ClusterConfig(cluster=cluster, subnets=(), security_groups=())
    return ControlPlane(
        store=DynamoDbStore(boto3.client("dynamodb"), table, retention_days=retention_days),
        notifier=EventBridgeNotifier(boto3.client("events"), bus),
        launcher=EcsLauncher(new_ecs_client(""), stopper),
    )
