"""ECS on Fargate: sizing, task definitions, RunTask requests, and the ECS launcher adapter.

The decisions (which cpu/memory pair, which task definition, what RunTask request) are pure
functions; ``EcsLauncher`` only sends what they build, through botocore's retry modes and a
client-side limiter that keeps launches within Fargate's published rates.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
import shlex
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .ecs_events import ENV_LOG_STREAM, started_by
from .launcher import LaunchError, TaskSpec

MIB = 1024 * 1024
GIB = 1024 * MIB
MAX_OVERRIDES_CHARS = 8192
MAX_CLIENT_TOKEN = 64
DESCRIBE_BATCH = 100
DEFAULT_EPHEMERAL_GIB = 20
MAX_EPHEMERAL_GIB = 200

# Fargate's valid task sizes: cpu units -> the memory sizes (MiB) allowed with it.
_TIERS: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}
MAX_CPU_UNITS = 16384
MAX_MEMORY_MIB = 122880

_THROTTLED = frozenset({"ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded"})

# Every task definition this backend registers runs its container as `/bin/sh -c <script>`:
# RunTask overrides can set the command (Docker's Cmd) but not the entry point, and an image's
# own ENTRYPOINT would otherwise get the command as its arguments.
SHELL_ENTRY_POINT = ("/bin/sh", "-c")
# EC2-compatible task definitions are named PREFIX-ec2-HASH (still under the stack's RunTask grant).
EC2_FAMILY_INFIX = "ec2"

# Stop reasons and failure reasons that mean "the capacity was not there", not "the task failed".
_TRANSIENT_FAILURES = ("capacity is unavailable", "resource:", "timeout", "throttl", "agent")


class SizeError(ValueError):
    """A task asks for more than Fargate can give; the message names the task, the request and
    the limit."""


@dataclass(frozen=True)
class Prices:
    """Per-hour prices used to pick the cheapest size (us-east-1 by default; configurable)."""

    vcpu_hour: float = 0.04048
    gb_hour: float = 0.004445


X86_PRICES = Prices()
ARM_PRICES = Prices(vcpu_hour=0.03238, gb_hour=0.00356)


@dataclass(frozen=True, order=True)
class FargateSize:
    """A valid Fargate task size."""

    cpu: int
    memory_mib: int

    @property
    def vcpu(self) -> float:
        return self.cpu / 1024


def valid_sizes() -> list[FargateSize]:
    """Every valid cpu/memory pair, smallest first."""
    return [FargateSize(cpu, mem) for cpu, sizes in _TIERS.items() for mem in sizes]


_SIZES = valid_sizes()


def fit_size(
    vcpu: float, memory_bytes: int, *, task: str, prices: Prices = X86_PRICES
) -> FargateSize:
    """The cheapest valid size with at least ``vcpu`` and ``memory_bytes``."""
    if not (math.isfinite(vcpu) and vcpu > 0 and memory_bytes > 0):
        raise SizeError(
            f"task {task}: cpu and memory must be positive"
            f" (cpu {vcpu}, memory {memory_bytes} bytes)"
        )
    cpu_units = math.ceil(vcpu * 1024)
    memory_mib = math.ceil(memory_bytes / MIB)
    if cpu_units > MAX_CPU_UNITS or memory_mib > MAX_MEMORY_MIB:
        raise SizeError(
            f"task {task} asks for {vcpu:g} vCPU and {memory_mib / 1024:g} GiB of memory;"
            f" Fargate's limit is {MAX_CPU_UNITS // 1024} vCPU and {MAX_MEMORY_MIB // 1024} GiB"
        )
    fitting = [s for s in _SIZES if s.cpu >= cpu_units and s.memory_mib >= memory_mib]
    return min(fitting, key=lambda s: (hourly_cost(s, prices), s))


def hourly_cost(size: FargateSize, prices: Prices = X86_PRICES) -> float:
    """The size's price per hour."""
    return size.vcpu * prices.vcpu_hour + size.memory_mib / 1024 * prices.gb_hour


def ephemeral_storage_gib(disk_bytes: int | None, *, task: str) -> int | None:
    """The ``ephemeralStorage.sizeInGiB`` for a task's disk request; None for the default 20."""
    if not disk_bytes:
        return None
    gib = math.ceil(disk_bytes / GIB)
    if gib <= DEFAULT_EPHEMERAL_GIB:
        return None
    if gib > MAX_EPHEMERAL_GIB:
        raise SizeError(
            f"task {task} asks for {gib} GiB of disk; Fargate's ephemeral storage limit is"
            f" {MAX_EPHEMERAL_GIB} GiB (put large data on EFS instead)"
        )
    return gib


@dataclass(frozen=True)
class ClusterConfig:
    """Where and how task containers run: everything RunTask needs besides the task itself."""

    cluster: str
    subnets: tuple[str, ...]
    security_groups: tuple[str, ...]
    assign_public_ip: bool = False
    execution_role_arn: str = ""
    task_role_arn: str = ""
    architecture: str = "X86_64"
    log_group: str = "/miniwdl-fargate/tasks"
    log_stream_prefix: str = "task"
    region: str = "us-east-1"
    family_prefix: str = "miniwdl-fargate-task"
    container_name: str = "task"
    volume: Mapping[str, Any] = field(default_factory=dict)
    mountpoint: str = "/mnt/efs"


def task_definition(image: str, config: ClusterConfig, *, ec2: bool = False) -> dict[str, Any]:
    """The RegisterTaskDefinition request for an image, named by a hash of its content, so the
    same image and setup reuse one definition across tasks and runs. ``ec2``: the definition
    for EC2 capacity providers (``capacity``): EC2-compatible, awsvpc like Fargate's, its own
    family; the CPU architecture is the instances', GPUs come per RunTask (container overrides
    ``resourceRequirements``)."""
    body: dict[str, Any] = {
        "requiresCompatibilities": ["EC2"] if ec2 else ["FARGATE"],
        "networkMode": "awsvpc",
        "cpu": "1024",
        "memory": "2048",
        "containerDefinitions": [
            {
                "name": config.container_name,
                "image": image,
                "entryPoint": list(SHELL_ENTRY_POINT),
                "essential": True,
                "memoryReservation": 512,
                "mountPoints": [
                    {"sourceVolume": "work", "containerPath": config.mountpoint, "readOnly": False}
                ],
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": config.log_group,
                        "awslogs-region": config.region,
                        "awslogs-stream-prefix": config.log_stream_prefix,
                        "mode": "blocking",
                    },
                },
            }
        ],
        "volumes": [{"name": "work", "efsVolumeConfiguration": dict(config.volume)}],
    }
    if not ec2:
        body["runtimePlatform"] = {
            "cpuArchitecture": config.architecture,
            "operatingSystemFamily": "LINUX",
        }
    if config.execution_role_arn:
        body["executionRoleArn"] = config.execution_role_arn
    if config.task_role_arn:
        body["taskRoleArn"] = config.task_role_arn
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
    prefix = f"{config.family_prefix}-{EC2_FAMILY_INFIX}" if ec2 else config.family_prefix
    return {"family": f"{prefix}-{digest}", **body}


def log_stream(config: ClusterConfig, task_id: str) -> str:
    """The awslogs stream of a task's container."""
    return f"{config.log_stream_prefix}/{config.container_name}/{task_id}"


def log_stream_environment(config: ClusterConfig) -> dict[str, str]:
    """Container environment from which every event of the task names its awslogs stream (the
    stream ends with the task id, which ECS assigns; the group is ``config.log_group``)."""
    return {ENV_LOG_STREAM: log_stream(config, "")}


def client_token(*parts: str) -> str:
    """An idempotency token for one attempt: RunTask retried with it never starts a second
    task (ECS keeps tokens 24 h per cluster)."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:MAX_CLIENT_TOKEN]


def shell_command(argv: Sequence[str]) -> list[str]:
    """The command override that runs ``argv`` under the ``SHELL_ENTRY_POINT``: the script of an
    ``/bin/sh -c SCRIPT`` argv as it is, any other argv quoted and exec'd."""
    if len(argv) == 3 and tuple(argv[:2]) == SHELL_ENTRY_POINT:
        return [argv[2]]
    return ["exec " + shlex.join(argv)]


def run_task_request(
    spec: TaskSpec,
    config: ClusterConfig,
    task_definition_arn: str,
    *,
    started_by: str,
    container_name: str | None = None,
    shell_entry_point: bool = False,
    run_tags: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The RunTask request for a spec. ``shell_entry_point``: the definition's entry point is
    ``SHELL_ENTRY_POINT`` (as ``task_definition`` registers it), so the command override is
    the script it runs. ``run_tags``: the run's own tags, carried beside the spec's
    (``ecs_tags``). Raises ``LaunchError`` if the overrides are too large."""
    command = shell_command(spec.command) if shell_entry_point else list(spec.command)
    container: dict[str, Any] = {
        "name": container_name or config.container_name,
        "command": command,
        "environment": [{"name": k, "value": v} for k, v in spec.environment.items()],
    }
    if spec.gpus:
        container["resourceRequirements"] = [{"type": "GPU", "value": str(spec.gpus)}]
    overrides: dict[str, Any] = {
        "cpu": str(spec.cpu),
        "memory": str(spec.memory_mb),
        "containerOverrides": [container],
    }
    ec2 = bool(spec.capacity_provider)
    if spec.gpus and not ec2:
        raise LaunchError("GPUs are only on EC2 capacity providers; Fargate has none")
    if spec.ephemeral_gib and not ec2:  # on EC2 the instance's volume is the disk
        overrides["ephemeralStorage"] = {"sizeInGiB": spec.ephemeral_gib}
    size = len(json.dumps(overrides, separators=(",", ":")))
    if size > MAX_OVERRIDES_CHARS:
        raise LaunchError(
            f"RunTask overrides are {size} characters, over ECS's {MAX_OVERRIDES_CHARS}"
        )
    request: dict[str, Any] = {
        "cluster": config.cluster,
        "taskDefinition": task_definition_arn,
        "count": 1,
        "capacityProviderStrategy": [
            {
                "capacityProvider": spec.capacity_provider
                or ("FARGATE_SPOT" if spec.spot else "FARGATE"),
                "weight": 1,
            }
        ],
        "networkConfiguration": {
            "awsvpcConfiguration": {
                "subnets": list(config.subnets),
                "securityGroups": list(config.security_groups),
                # ECS gives public IPs to Fargate tasks only: an EC2 task's ENI has none (its
                # image pulls, logs and EFS mount go through the instance's network).
                "assignPublicIp": "ENABLED" if config.assign_public_ip and not ec2 else "DISABLED",
            }
        },
        "overrides": overrides,
        "startedBy": started_by,
        "group": f"family:{spec.family}"[:255],
        "tags": ecs_tags(spec.tags, run_tags),
    }
    if not ec2:
        request["platformVersion"] = "LATEST"
    if spec.client_token:
        request["clientToken"] = spec.client_token[:MAX_CLIENT_TOKEN]
    return request


MAX_TAGS = 50
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
# The orchestrator passes the run's own tags to the backends in this variable (JSON).
ENV_RUN_TAGS = "MINIWDL__MINIWDL_FARGATE__RUN_TAGS"
_TAG_CHARS = re.compile(r"[^\w .:/=+\-@]", re.ASCII)


def ecs_tags(
    own: Mapping[str, str], run_tags: Mapping[str, str] | None = None
) -> list[dict[str, str]]:
    """RunTask ``tags``: the project's own (``own``, first, kept whole) and then the run's, so
    Cost Explorer can group the bill by the user's tags, within ECS's limits: 50 tags, keys
    up to 128 and values up to 256 characters of letters, digits, spaces and ``_.:/=+-@``
    (others become ``_``). A run tag is left out if its key is reserved (``aws:``), is one of
    the project's (``miniwdl-fargate:``) or is empty; the first 50 by key are kept."""
    tags = [{"key": k, "value": v} for k, v in own.items()][:MAX_TAGS]
    taken = {t["key"] for t in tags}
    for key in sorted(run_tags or {}):
        clean = _TAG_CHARS.sub("_", str(key).strip())[:MAX_TAG_KEY]
        lowered = clean.lower()
        if not clean or lowered.startswith(("aws:", "miniwdl-fargate:")) or clean in taken:
            continue
        if len(tags) >= MAX_TAGS:
            break
        value = _TAG_CHARS.sub("_", str((run_tags or {})[key]))[:MAX_TAG_VALUE]
        tags.append({"key": clean, "value": value})
        taken.add(clean)
    return tags


# The orchestrator's project tags: its run, and "orchestrator" where a task container has its
# call, so Cost Explorer shows a run's orchestrator as a line of its own beside its calls.
ORCHESTRATOR_CALL_TAG = "orchestrator"


def with_run_tags(spec: TaskSpec, run_id: str, run_tags: Mapping[str, str]) -> TaskSpec:
    """A run's orchestrator launch (``spec``) carrying the project's tags and the run's own
    (``ecs_tags``: within ECS's limits), as every task container the run starts does."""
    own = {"miniwdl-fargate:run": run_id, "miniwdl-fargate:call": ORCHESTRATOR_CALL_TAG}
    tags = ecs_tags({**own, **spec.tags}, run_tags)
    return replace(spec, tags={t["key"]: t["value"] for t in tags})


def run_tags_from_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The run's tags the orchestrator passed on (``ENV_RUN_TAGS``); none if unset or bad."""
    import os

    raw = (os.environ if environ is None else environ).get(ENV_RUN_TAGS, "")
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def new_ecs_client(region: str, max_attempts: int = 20) -> Any:
    """An ECS client whose throttled calls botocore retries with backoff and jitter (standard
    mode: exponential, capped at 20 s a wait; 20 attempts ride out minutes of throttling)."""
    import boto3
    from botocore.config import Config

    retry = Config(
        retries={"mode": "standard", "total_max_attempts": max_attempts}, max_pool_connections=64
    )
    return boto3.client("ecs", region_name=region or None, config=retry)


def is_transient_failure(reason: str) -> bool:
    """A RunTask failure worth retrying later (capacity, throttling), not a broken request."""
    text = reason.lower()
    return any(marker in text for marker in _TRANSIENT_FAILURES)


def batches(items: Sequence[str], size: int = DESCRIBE_BATCH) -> Iterator[list[str]]:
    """``items`` in chunks of at most ``size`` (DescribeTasks takes 100 ARNs a call)."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


class TokenBucket:
    """A thread-safe token bucket: ``take(n)`` blocks until ``n`` tokens are there."""

    def __init__(self, rate_per_s: float, burst: float) -> None:
        self.rate = rate_per_s
        self.burst = burst
        self._tokens = burst
        self._stamp = time.monotonic()
        self._lock = threading.Lock()

    def take(self, n: float = 1.0) -> float:
        """Take ``n`` tokens; returns the seconds spent waiting."""
        waited = 0.0
        while True:
            pause = self._take_or_wait(n)
            if pause == 0.0:
                return waited
            time.sleep(pause)
            waited += pause

    def try_take(self, n: float = 1.0) -> bool:
        """Take ``n`` tokens if they are there now."""
        return self._take_or_wait(n) == 0.0

    def _take_or_wait(self, n: float) -> float:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens >= n:
                self._tokens -= n
                return 0.0
            return (n - self._tokens) / self.rate


RUN_TASK_CALLS_PER_S = 20.0
TASK_LAUNCHES_PER_S = 20.0
TASK_LAUNCH_BURST = 100.0


@dataclass
class LaunchLimits:
    """Fargate's RunTask limits per account and region, shared by every launch in a process:
    20 RunTask calls/s, and task launches from a bucket of 100 refilling at 20/s.

    ``headroom`` keeps the rates a little under the limits: two clocks at exactly the same rate
    drift, and every call over the limit costs a throttled round trip and a backoff.
    """

    headroom: float = 0.95
    calls: TokenBucket = field(init=False)
    tasks: TokenBucket = field(init=False)

    def __post_init__(self) -> None:
        self.calls = TokenBucket(RUN_TASK_CALLS_PER_S * self.headroom, RUN_TASK_CALLS_PER_S)
        self.tasks = TokenBucket(TASK_LAUNCHES_PER_S * self.headroom, TASK_LAUNCH_BURST)

    def acquire(self, tasks: int = 1) -> float:
        """Wait for room to launch ``tasks``; returns the seconds waited."""
        return self.tasks.take(tasks) + self.calls.take(1)


@dataclass
class EcsCounters:
    """How many ECS calls this process made (for the benchmark and tests)."""

    run_task: int = 0
    register_task_definition: int = 0
    describe_task_definition: int = 0
    describe_tasks: int = 0
    stop_task: int = 0


class EcsLauncher:
    """``Launcher`` over ECS RunTask/StopTask on Fargate.

    ``ecs`` is a boto3 ECS client configured with a botocore retry mode (throttling is retried
    with backoff and jitter there, never counted as a task failure).
    """

    def __init__(
        self,
        ecs: Any,
        config: ClusterConfig,
        *,
        limits: LaunchLimits | None = None,
        run_tags: Mapping[str, str] | None = None,
    ) -> None:
        self.ecs = ecs
        self.config = config
        # the run's own tags, on every task launched (``ecs_tags``)
        self.run_tags = run_tags_from_environment() if run_tags is None else dict(run_tags)
        self.limits = limits or LaunchLimits()
        self.counters = EcsCounters()
        self._definitions: dict[str, str] = {}
        self._definitions_lock = threading.Lock()

    def run_task(self, spec: TaskSpec) -> str:
        # botocore only here: the local mode imports this module for its prices and sizes
        from botocore.exceptions import BotoCoreError, ClientError

        container = spec.container_name if spec.task_definition else self.config.container_name
        try:
            definition = spec.task_definition or self.task_definition_arn(
                spec.image, ec2=bool(spec.capacity_provider)
            )
        except (ClientError, BotoCoreError) as exn:
            raise LaunchError(f"no task definition for {spec.image}: {exn}") from exn
        request = run_task_request(
            spec,
            self.config,
            definition,
            started_by=started_by(spec.role, spec.run_id),
            container_name=container,
            shell_entry_point=not spec.task_definition,
            run_tags=self.run_tags,
        )
        self.limits.acquire(1)
        self.counters.run_task += 1
        try:
            response = self.ecs.run_task(**request)
        except ClientError as exn:
            code = exn.response.get("Error", {}).get("Code", "")
            # botocore's retry mode already backed off and retried throttled calls.
            raise LaunchError(f"RunTask failed: {exn}", transient=code in _THROTTLED) from exn
        except BotoCoreError as exn:  # no connection, timeouts: botocore retried already
            raise LaunchError(f"RunTask failed: {exn}", transient=True) from exn
        failures = response.get("failures") or []
        tasks = response.get("tasks") or []
        if failures or not tasks:
            reason = (
                "; ".join(
                    f"{f.get('reason', 'unknown')}{': ' + f['detail'] if f.get('detail') else ''}"
                    for f in failures
                )
                or "RunTask started no task"
            )
            raise LaunchError(reason, transient=is_transient_failure(reason))
        return str(tasks[0]["taskArn"])

    def stop_task(self, task_arn: str, reason: str) -> None:
        self.counters.stop_task += 1
        with contextlib.suppress(self.ecs.exceptions.InvalidParameterException):
            # InvalidParameterException: the task stopped long ago and is gone
            self.ecs.stop_task(cluster=self.config.cluster, task=task_arn, reason=reason[:255])

    def describe_tasks(self, task_arns: Iterable[str]) -> list[dict[str, Any]]:
        """The tasks' current descriptions, in batches of 100 ARNs per call."""
        found: list[dict[str, Any]] = []
        for batch in batches(list(task_arns)):
            self.counters.describe_tasks += 1
            response = self.ecs.describe_tasks(cluster=self.config.cluster, tasks=batch)
            found += response.get("tasks") or []
        return found

    def task_definition_arn(self, image: str, *, ec2: bool = False) -> str:
        """The task definition for ``image`` (``ec2``: the EC2-compatible one): looked up first
        (RegisterTaskDefinition is limited to 1 call/s), registered only if it does not exist
        yet; memoised per process by family (the content hash), so launchers that share the
        memo share the definitions."""
        body = task_definition(image, self.config, ec2=ec2)
        family = body["family"]
        with self._definitions_lock:
            if family in self._definitions:
                return self._definitions[family]
            try:
                self.counters.describe_task_definition += 1
                found = self.ecs.describe_task_definition(taskDefinition=family)
                arn = str(found["taskDefinition"]["taskDefinitionArn"])
            except self.ecs.exceptions.ClientException:
                self.counters.register_task_definition += 1
                registered = self.ecs.register_task_definition(**body)
                arn = str(registered["taskDefinition"]["taskDefinitionArn"])
            self._definitions[family] = arn
            return arn

    def for_architecture(self, architecture: str) -> EcsLauncher:
        """This launcher for tasks of another CPU architecture: the same client, launch limits,
        counters and definitions memo, task definitions with that ``runtimePlatform``."""
        if architecture == self.config.architecture:
            return self
        other = EcsLauncher(
            self.ecs,
            replace(self.config, architecture=architecture),
            limits=self.limits,
            run_tags=self.run_tags,
        )
        other.counters = self.counters
        other._definitions = self._definitions
        other._definitions_lock = self._definitions_lock
        return other


# Upstream registries, as image references name them, whose images a pull-through cache can
# serve: Docker Hub (three host names, one registry), Quay, GitHub's and ECR Public.
DOCKER_HUB = "docker.io"
_DOCKER_HUB_HOSTS = frozenset({DOCKER_HUB, "index.docker.io", "registry-1.docker.io"})


def image_registry(image: str) -> tuple[str, str]:
    """(registry host, repository path with tag or digest) of a Docker image reference, the
    way Docker reads it: the first component is a host only if it has a dot or a port or is
    ``localhost``; otherwise the image is on Docker Hub, whose single-name images are under
    ``library/``."""
    first, slash, rest = image.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = DOCKER_HUB, image
    if registry in _DOCKER_HUB_HOSTS:
        registry = DOCKER_HUB
        if "/" not in path:
            path = f"library/{path}"
    return registry, path


def parse_pull_through_cache(entries: Iterable[str]) -> dict[str, str]:
    """``registry=cache`` entries (``[aws_fargate] pull_through_cache``) as a mapping from the
    upstream registry host to the ECR prefix that caches it (``ACCOUNT.dkr.ecr.REGION.
    amazonaws.com/PREFIX``). Raises ``ValueError`` naming an entry that is not of that form."""
    caches: dict[str, str] = {}
    for entry in entries:
        upstream, equals, cache = (part.strip() for part in entry.partition("="))
        if not (equals and upstream and "/" in cache and ".dkr.ecr." in cache.split("/")[0]):
            raise ValueError(
                f"{entry!r} is not REGISTRY=ACCOUNT.dkr.ecr.REGION.amazonaws.com/PREFIX"
            )
        host = DOCKER_HUB if upstream in _DOCKER_HUB_HOSTS else upstream
        caches[host] = cache.rstrip("/")
    return caches


def cached_image(image: str, caches: Mapping[str, str]) -> str:
    """The image a task pulls: through the pull-through cache of its registry if there is one
    (``ubuntu:22.04`` -> ``CACHE/library/ubuntu:22.04``), else the image as named."""
    registry, path = image_registry(image)
    cache = caches.get(registry)
    return f"{cache}/{path}" if cache else image
