"""The launcher port: start and stop containers (ECS RunTask/StopTask on AWS, processes locally).

A launcher only starts and stops. What happens to a task afterwards reaches the store as ECS
"Task State Change" events, through the status handler, on every adapter alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

# A container learns its own task ARN from ECS's task metadata endpoint on Fargate; launchers that
# have no such endpoint (the local one, the tests' fake Fargate) set this variable instead.
ENV_TASK_ARN = "MINIWDL_FARGATE_TASK_ARN"


class LaunchError(RuntimeError):
    """The container could not be started; the message says why. ``transient`` failures (no
    capacity right now) are worth another try; the others are not."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class TaskSpec:
    """What to run, sized and labelled so that its events can be traced to its run and call.

    ``environment`` must include the ``ecs_events.ENV_*`` identity variables the launcher's caller
    sets; ECS echoes them back in every event as container overrides. ``task_definition`` names
    an existing ECS task definition (the stack's orchestrator); without it the ECS launcher
    registers one for ``image``.
    """

    run_id: str
    role: str
    command: list[str]
    environment: dict[str, str] = field(default_factory=dict)
    family: str = "miniwdl-fargate-task"
    container_name: str = "main"
    cpu: int = 1024
    memory_mb: int = 2048
    cwd: str | None = None
    log_path: str | None = None
    client_token: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    image: str = ""
    spot: bool = False
    ephemeral_gib: int | None = None
    task_definition: str = ""
    # An EC2 capacity provider of the cluster (``capacity``): the task runs there, on an
    # EC2-compatible task definition, with ``gpus`` GPUs; "" runs it on Fargate.
    capacity_provider: str = ""
    gpus: int = 0
    # A hard memory limit for the local launcher to enforce (``memory_cgroup``); ECS enforces
    # ``memory_mb`` itself. None: no limit (a local task that declares no memory).
    memory_limit_mb: int | None = None


class Launcher(Protocol):
    """Starts and stops containers."""

    def run_task(self, spec: TaskSpec) -> str:
        """Start the container; returns the task ARN. Raises ``LaunchError``."""

    def stop_task(self, task_arn: str, reason: str) -> None:
        """Ask a running task to stop (SIGTERM, then SIGKILL after a grace period).

        Stopping a task that already stopped, or an unknown one, is not an error.
        """
