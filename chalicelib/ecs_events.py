"""ECS "Task State Change" events: reading them, and building them.

Pure: no I/O. ``parse_task_event`` turns an EventBridge event into a typed ``TaskEvent`` that says
which run and call it belongs to, using only the event's own fields (``startedBy`` and the
container environment override the launcher set), so the handler needs no extra AWS call.
``task_state_change`` builds the same shape, for the local launcher and the test harness.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .states import State

SOURCE = "aws.ecs"
DETAIL_TYPE = "ECS Task State Change"

# startedBy is "<prefix>/<role>/<run_id>" (ECS allows 128 chars of [A-Za-z0-9-/_]).
STARTED_BY_PREFIX = "miniwdl-fargate"
ROLE_ORCHESTRATOR = "orchestrator"
ROLE_TASK = "task"

# Container environment the launcher sets; ECS echoes overrides back in every event, and the
# override that carries it names the container the launcher ran (a task may have sidecars).
ENV_PREFIX = "MINIWDL_FARGATE_"
ENV_RUN_ID = "MINIWDL_FARGATE_RUN_ID"
ENV_CALL_ID = "MINIWDL_FARGATE_CALL_ID"
ENV_ATTEMPT = "MINIWDL_FARGATE_ATTEMPT"
ENV_RETURN_CODES = "MINIWDL_FARGATE_RETURN_CODES"
ENV_STDOUT = "MINIWDL_FARGATE_STDOUT"
ENV_STDERR = "MINIWDL_FARGATE_STDERR"
# "<stream prefix>/<container>/": the task id completes the task's awslogs stream name.
ENV_LOG_STREAM = "MINIWDL_FARGATE_LOG_STREAM"
# When the backend asked for the attempt (before it waited for room): its queued time.
ENV_REQUESTED_AT = "MINIWDL_FARGATE_REQUESTED_AT"

USER_STOP_CODE = "UserInitiated"

# What a STOPPED task's ``stopCode`` means for it: every code ECS documents (the API's
# TaskStopCode enum), each decided here and nowhere else. None: the container's exit code decides.
# An absent or unknown code is read like EssentialContainerExited. Our tasks are standalone
# (RunTask), never a service's, so no scheduler stops them for the workload's sake.
STOP_CODE_STATES: Mapping[str, State | None] = {
    # the platform could not start it (image pull, ENI, secrets, capacity): nothing ran
    "TaskFailedToStart": State.SYSTEM_ERROR,
    # the task's own container ended: its exit code against returnCodes decides
    "EssentialContainerExited": None,
    # StopTask: the cancel path (our launcher, or an operator)
    USER_STOP_CODE: State.CANCELED,
    # for a standalone task, ECS itself stopped it: Fargate maintenance or task retirement
    # ("ECS is performing maintenance on the underlying infrastructure hosting the task"), the
    # container then exits 137 from SIGKILL; capacity went away, the work did not fail
    "ServiceSchedulerInitiated": State.PREEMPTED,
    # EC2 Spot reclaimed the instance
    "SpotInterruption": State.PREEMPTED,
    # Fargate Spot's two-minute warning; on the STOPPED event it is the interruption itself
    "TerminationNotice": State.PREEMPTED,
    # ECS stopped the task because its host's infrastructure was unhealthy
    "InfrastructureHealth": State.PREEMPTED,
}
PREEMPTION_STOP_CODES = frozenset(
    code for code, state in STOP_CODE_STATES.items() if state == State.PREEMPTED
)

# detail.version counts one task's state changes (a handful per task); the API types it Long, and
# this bound (Java's int) keeps a corrupt value from being stored and outranking every later event.
MAX_VERSION = 2**31 - 1
_TIMESTAMPS = ("createdAt", "pullStartedAt", "startedAt", "stoppedAt")

_STARTING_STATUSES = frozenset({"PROVISIONING", "PENDING", "ACTIVATING"})
_STOPPING_STATUSES = frozenset({"DEACTIVATING", "STOPPING", "DEPROVISIONING"})


class EventError(ValueError):
    """An event that claims to be ours but cannot be read; the message says which field."""


@dataclass(frozen=True)
class TaskEvent:
    """The fields of an ECS task state change that the store cares about."""

    task_arn: str
    task_id: str
    run_id: str
    role: str
    version: int
    last_status: str
    desired_status: str
    call_id: str = ""
    attempt: int = 1
    exit_code: int | None = None
    container_reason: str | None = None
    stop_code: str | None = None
    stopped_reason: str | None = None
    created_at: str | None = None
    started_at: str | None = None
    stopped_at: str | None = None
    pull_started_at: str | None = None
    capacity_provider: str | None = None
    cpu: str | None = None
    memory: str | None = None
    return_codes: str = "0"
    stdout: str | None = None
    stderr: str | None = None
    log_stream: str | None = None
    requested_at: str | None = None
    dropped: tuple[str, ...] = ()
    """Fields of the event that were malformed and ignored (the caller logs them)."""

    @property
    def stopped(self) -> bool:
        """True once ECS reports the task STOPPED."""
        return self.last_status == "STOPPED"


def started_by(role: str, run_id: str) -> str:
    """The ``startedBy`` value tying an ECS task to its run."""
    return f"{STARTED_BY_PREFIX}/{role}/{run_id}"


def run_id_of(event: Any) -> str:
    """The run id in an event's ``startedBy``, or "" if the task is not this project's."""
    detail = event.get("detail") if isinstance(event, Mapping) else None
    owner = detail.get("startedBy") if isinstance(detail, Mapping) else None
    if not isinstance(owner, str) or not owner.startswith(STARTED_BY_PREFIX + "/"):
        return ""
    return owner.rsplit("/", 1)[-1]


def task_id_of(task_arn: str) -> str:
    """The task id: the last path segment of an ECS task ARN."""
    return task_arn.rsplit("/", 1)[-1]


def parse_task_event(event: Any) -> TaskEvent | None:
    """Read an EventBridge ECS task state change.

    Returns None for events that are not ECS task state changes or not started by this project
    (a shared cluster sees other tasks too). Raises ``EventError`` for one of ours whose identity
    or order (``taskArn``, ``version``, ``lastStatus``) cannot be read. A malformed timestamp is
    left out and named in ``dropped``: stored, it would break every later cost computed from it.
    Only ``detail`` is read: envelope fields (``region``, ``time``) may be missing.
    """
    if not isinstance(event, Mapping):
        return None
    if event.get("source") != SOURCE or event.get("detail-type") != DETAIL_TYPE:
        return None
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        return None
    owner = detail.get("startedBy")
    if not isinstance(owner, str) or not owner.startswith(STARTED_BY_PREFIX + "/"):
        return None
    parts = owner.split("/")
    if len(parts) != 3 or parts[1] not in (ROLE_ORCHESTRATOR, ROLE_TASK) or not parts[2]:
        raise EventError(f"startedBy {owner!r} is not <prefix>/<role>/<run_id>")
    role, run_id = parts[1], parts[2]

    task_arn = detail.get("taskArn")
    if not isinstance(task_arn, str) or not task_arn:
        raise EventError("detail.taskArn is missing")
    version = detail.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= MAX_VERSION:
        raise EventError(f"detail.version must be an integer in 1..{MAX_VERSION}, got {version!r}")
    last_status = detail.get("lastStatus")
    if not isinstance(last_status, str) or not last_status:
        raise EventError("detail.lastStatus is missing")

    container_name, env = _our_override(detail)
    container = _task_container(detail, container_name)
    exit_code = container.get("exitCode")
    stamps, dropped = _timestamps(detail)
    return TaskEvent(
        task_arn=task_arn,
        task_id=task_id_of(task_arn),
        run_id=run_id,
        role=role,
        version=version,
        last_status=last_status,
        desired_status=str(detail.get("desiredStatus") or ""),
        call_id=env.get(ENV_CALL_ID, ""),
        attempt=_int_or(env.get(ENV_ATTEMPT), 1),
        exit_code=exit_code if isinstance(exit_code, int) else None,
        container_reason=_str_or_none(container.get("reason")),
        stop_code=_str_or_none(detail.get("stopCode")),
        stopped_reason=_str_or_none(detail.get("stoppedReason")),
        created_at=stamps.get("createdAt"),
        started_at=stamps.get("startedAt"),
        stopped_at=stamps.get("stoppedAt"),
        pull_started_at=stamps.get("pullStartedAt"),
        capacity_provider=_str_or_none(detail.get("capacityProviderName")),
        cpu=_str_or_none(detail.get("cpu")),
        memory=_str_or_none(detail.get("memory")),
        return_codes=env.get(ENV_RETURN_CODES, "0"),
        stdout=env.get(ENV_STDOUT),
        stderr=env.get(ENV_STDERR),
        log_stream=env[ENV_LOG_STREAM] + task_id_of(task_arn) if env.get(ENV_LOG_STREAM) else None,
        requested_at=env[ENV_REQUESTED_AT]
        if _is_timestamp(env.get(ENV_REQUESTED_AT, ""))
        else None,
        dropped=dropped,
    )


def task_state(event: TaskEvent) -> State | None:
    """The WES state an ECS status means for a WDL task; None for statuses that change nothing.

    A STOPPED task's state comes from why it stopped: its stop code (``STOP_CODE_STATES``), else
    its container's exit code accepted by the task's ``returnCodes`` or not, else (no exit code
    at all: the platform killed it) SYSTEM_ERROR.
    """
    status = event.last_status
    if status in _STARTING_STATUSES:
        return State.INITIALIZING
    if status == "RUNNING":
        return State.RUNNING
    if status in _STOPPING_STATUSES:
        return None
    if status != "STOPPED":
        return None
    by_code = STOP_CODE_STATES.get(event.stop_code or "")
    if by_code is not None:
        return by_code
    if event.exit_code is None:
        return State.SYSTEM_ERROR
    return (
        State.COMPLETE
        if exit_code_accepted(event.exit_code, event.return_codes)
        else (State.EXECUTOR_ERROR)
    )


def exit_code_accepted(exit_code: int, return_codes: str) -> bool:
    """WDL ``returnCodes`` as the launcher encoded it: "*", or comma-separated integers."""
    spec = return_codes.strip()
    if spec == "*":
        return True
    accepted = {int(code) for code in spec.split(",") if code.strip().lstrip("-").isdigit()}
    return exit_code in (accepted or {0})


def encode_return_codes(value: Any) -> str:
    """Encode miniwdl's ``runtime_values["returnCodes"]`` (int, list of ints or "*")."""
    if value == "*":
        return "*"
    if isinstance(value, list):
        return ",".join(str(int(v)) for v in value)
    if isinstance(value, int):
        return str(value)
    return "0"


def task_state_change(
    *,
    task_arn: str,
    cluster_arn: str,
    task_definition_arn: str,
    started_by_value: str,
    group: str,
    version: int,
    last_status: str,
    desired_status: str,
    container_name: str,
    environment: Mapping[str, str],
    command: list[str] | None = None,
    cpu: str = "1024",
    memory: str = "2048",
    exit_code: int | None = None,
    container_reason: str | None = None,
    stop_code: str | None = None,
    stopped_reason: str | None = None,
    timestamps: Mapping[str, str] | None = None,
    region: str = "local",
    account: str = "000000000000",
    event_id: str = "",
    time: str = "",
) -> dict[str, Any]:
    """Build an EventBridge "ECS Task State Change" event shaped as ECS sends it."""
    container: dict[str, Any] = {
        "containerArn": f"{task_arn}/{container_name}",
        "name": container_name,
        "lastStatus": "STOPPED" if last_status == "STOPPED" else last_status,
        "taskArn": task_arn,
    }
    if exit_code is not None:
        container["exitCode"] = exit_code
    if container_reason is not None:
        container["reason"] = container_reason
    detail: dict[str, Any] = {
        "taskArn": task_arn,
        "clusterArn": cluster_arn,
        "taskDefinitionArn": task_definition_arn,
        "group": group,
        "startedBy": started_by_value,
        "lastStatus": last_status,
        "desiredStatus": desired_status,
        "launchType": "FARGATE",
        "cpu": cpu,
        "memory": memory,
        "containers": [container],
        "overrides": {
            "containerOverrides": [
                {
                    "name": container_name,
                    "environment": [{"name": k, "value": v} for k, v in environment.items()],
                    **({"command": command} if command is not None else {}),
                }
            ]
        },
        "version": version,
        **dict(timestamps or {}),
    }
    if stop_code is not None:
        detail["stopCode"] = stop_code
    if stopped_reason is not None:
        detail["stoppedReason"] = stopped_reason
    return {
        "version": "0",
        "id": event_id,
        "detail-type": DETAIL_TYPE,
        "source": SOURCE,
        "account": account,
        "time": time,
        "region": region,
        "resources": [task_arn],
        "detail": detail,
    }


def _our_override(detail: Mapping[str, Any]) -> tuple[str | None, dict[str, str]]:
    """The name and environment of the container override the launcher set: the one carrying
    ``MINIWDL_FARGATE_*`` variables ((None, {}) if none does)."""
    overrides = detail.get("overrides")
    if not isinstance(overrides, Mapping):
        return None, {}
    for container in overrides.get("containerOverrides") or []:
        if not isinstance(container, Mapping):
            continue
        env = {
            pair["name"]: str(pair.get("value", ""))
            for pair in container.get("environment") or []
            if isinstance(pair, Mapping) and isinstance(pair.get("name"), str)
        }
        if any(name.startswith(ENV_PREFIX) for name in env):
            name = container.get("name")
            return (name if isinstance(name, str) and name else None), env
    return None, {}


def _task_container(detail: Mapping[str, Any], name: str | None) -> Mapping[str, Any]:
    """The container the launcher ran: the one named ``name``, else (no override of ours names
    one) the task's only container. Never another container: a sidecar's exit code is not ours."""
    listed = detail.get("containers")
    containers = [c for c in listed if isinstance(c, Mapping)] if isinstance(listed, list) else []
    if name is not None:
        return next((c for c in containers if c.get("name") == name), {})
    return containers[0] if len(containers) == 1 else {}


def _timestamps(detail: Mapping[str, Any]) -> tuple[dict[str, str], tuple[str, ...]]:
    """The task's timestamps that are ISO-8601 with a time zone, as ECS sends them; and the
    names of those present but not so (ignored)."""
    valid: dict[str, str] = {}
    dropped: list[str] = []
    for key in _TIMESTAMPS:
        value = detail.get(key)
        if value is None or value == "":
            continue
        if isinstance(value, str) and _is_timestamp(value):
            valid[key] = value
        else:
            dropped.append(f"detail.{key}={value!r}")
    return valid, tuple(dropped)


def _is_timestamp(value: str) -> bool:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return parsed.tzinfo is not None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int_or(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default
