"""miniwdl container backend ``aws_fargate``: each WDL task attempt is its own Fargate task.

Select it with ``[scheduler] container_backend = aws_fargate``. The run directory must be on EFS,
mounted at ``[aws_fargate] efs_mountpoint`` both here and (through the task definition) in every
task container, so inputs, outputs, the command script and stdout/stderr need no copying.

Waiting does not poll ECS per task. Under the orchestrator (``[miniwdl_fargate] run_id`` and a
store), the backend reads the task records that the status handler writes from ECS events, for
all tasks at once; a task whose record goes quiet for ``reconcile_after_seconds`` is checked
with a batched DescribeTasks (events can be lost). With no store (plain ``miniwdl run`` on a
workstation with EFS mounted) it falls back to batched DescribeTasks, at most one call per
``poll_interval`` for up to 100 tasks.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from WDL import Error as wdl_error
from WDL import Type, Value
from WDL._util import StructuredLogMessage as _
from WDL.runtime import config
from WDL.runtime.error import Interrupted, Terminated

from . import ecs_events, efs
from .capacity import (
    DEFAULT_CAPACITIES,
    Capacity,
    ProvisioningLimit,
    Request,
    capacities_json,
    largest_memory_bytes,
    parse_capacities,
    provider_name,
    route,
)
from .container_base import (
    GaveUp,
    SharedFilesystemContainer,
    attempt_exit_code,
    control_plane_option,
    oom_policy,
)
from .fargate import (
    ARM_PRICES,
    MAX_CPU_UNITS,
    MAX_MEMORY_MIB,
    MIB,
    ClusterConfig,
    EcsLauncher,
    Prices,
    SizeError,
    cached_image,
    client_token,
    ephemeral_storage_gib,
    log_stream_environment,
    new_ecs_client,
    parse_pull_through_cache,
)
from .launch_budget import hold_lease, release_lease
from .launcher import LaunchError, TaskSpec
from .local_mode import LocalHome
from .miniwdl_plugins import remember_plugin_entry_points
from .notifications import JsonLinesNotifier
from .records import TaskRecord, utc_now
from .sqlite_store import SqliteStore
from .states import State
from .status import ControlPlane
from .sweep import description_event, reconcile
from .task_runtime import disk_bytes as _disk_bytes  # noqa: F401  (tests use it here)
from .task_runtime import task_request
from .task_watcher import TaskWatcher
from .transitions import apply_task_event

SECTION = "aws_fargate"
ARCHITECTURES = ("X86_64", "ARM64")
# miniwdl runs a URI download (s3://, https://...) as a WDL task whose run id starts with this
# (WDL.runtime.download.run; miniwdl's task runtime tells them apart the same way), in an image
# from these [section] docker options.
DOWNLOAD_RUN_PREFIX = "download-"
DOWNLOAD_IMAGE_OPTIONS = ("download_awscli", "download_aria2c", "download_gsutil")
# Images known to have no ARM64 build: miniwdl's tools image (aws, aria2c) is x86-64 only.
X86_ONLY_IMAGES = ("ghcr.io/miniwdl-ext/miniwdl-tools",)
MAX_PULL_RETRY_SECONDS = 300.0


class ConfigError(ValueError):
    """``[aws_fargate]`` configuration that cannot work; the message names the key."""


@dataclass(frozen=True)
class FargateSettings:
    """``[aws_fargate]`` configuration. These defaults are the only ones (docs list them)."""

    cluster: str
    subnets: tuple[str, ...]
    efs_id: str
    security_groups: tuple[str, ...] = ()
    efs_security_group: str = ""
    efs_access_point: str = ""
    efs_iam: bool = False
    efs_mountpoint: str = "/mnt/efs"
    assign_public_ip: bool = False
    region: str = ""  # from_config fills in the AWS SDK's region
    architecture: str = "X86_64"
    download_architecture: str = "X86_64"
    pull_through_cache: tuple[str, ...] = ()
    image_pull_retries: int = 3
    image_pull_backoff_seconds: float = 10.0
    task_role_arn: str = ""
    execution_role_arn: str = ""
    log_group: str = "/miniwdl-fargate/tasks"
    default_cpu_shares: int = 1024
    default_memory_mb: int = 2048
    watch_interval: float = 2.0
    reconcile_after_seconds: float = 60.0
    poll_interval: float = 1.0
    stop_wait_seconds: float = 120.0
    mounts_file: str = "/proc/mounts"
    # EC2 capacity providers for GPU and large tasks (``capacity``); off unless the stack has them
    ec2_capacity: bool = False
    ec2_capacity_prefix: str = ""
    ec2_capacities: str = capacities_json(DEFAULT_CAPACITIES)
    provisioning_timeout_seconds: float = 1800.0
    prices: Prices = field(default_factory=Prices)

    @classmethod
    def from_config(cls, cfg: config.Loader) -> FargateSettings:
        """Read ``[aws_fargate]``; missing required keys and bad values are ``ConfigError``."""
        values: dict[str, Any] = {}
        defaults = {f: getattr(cls, f) for f in cls.__dataclass_fields__ if hasattr(cls, f)}
        for name in cls.__dataclass_fields__:
            if name == "prices" or not cfg.has_option(SECTION, name):
                continue
            raw = str(cfg[SECTION][name]).strip()
            if raw == "":
                continue
            values[name] = _parse(name, raw, defaults.get(name))
        missing = [k for k in ("cluster", "subnets", "efs_id") if not values.get(k)]
        if missing:
            keys = ", ".join(f"[{SECTION}] {k}" for k in missing)
            raise ConfigError(
                f"the aws_fargate backend needs {keys} (or MINIWDL__AWS_FARGATE__...)"
            )
        for key in ("architecture", "download_architecture"):
            if values.get(key, "X86_64") not in ARCHITECTURES:
                raise ConfigError(f"[{SECTION}] {key} must be X86_64 or ARM64")
        check_download_images(values.get("download_architecture", "X86_64"), _download_images(cfg))
        try:
            parse_pull_through_cache(values.get("pull_through_cache", ()))
        except ValueError as exn:
            raise ConfigError(f"[{SECTION}] pull_through_cache: {exn}") from None
        if values.get("image_pull_retries", 0) < 0:
            raise ConfigError(f"[{SECTION}] image_pull_retries must be 0 or more")
        try:
            parse_capacities(values.get("ec2_capacities", cls.ec2_capacities))
        except ValueError as exn:
            raise ConfigError(f"[{SECTION}] ec2_capacities: {exn}") from None
        if values.get("provisioning_timeout_seconds", 1.0) <= 0:
            raise ConfigError(f"[{SECTION}] provisioning_timeout_seconds must be positive")
        if values.get("architecture") == "ARM64":
            values["prices"] = ARM_PRICES
        if not values.get("region"):
            # The log driver needs the region named; default to the one the AWS SDK would use.
            import boto3

            values["region"] = boto3.session.Session().region_name or ""
            if not values["region"]:
                raise ConfigError(f"set [{SECTION}] region (or AWS_DEFAULT_REGION)")
        return cls(**values)

    def cluster_config(self) -> ClusterConfig:
        """What every RunTask of this backend shares."""
        groups = self.security_groups + (
            (self.efs_security_group,) if self.efs_security_group else ()
        )
        return ClusterConfig(
            cluster=self.cluster,
            subnets=self.subnets,
            security_groups=groups,
            assign_public_ip=self.assign_public_ip,
            execution_role_arn=self.execution_role_arn,
            task_role_arn=self.task_role_arn,
            architecture=self.architecture,
            log_group=self.log_group,
            region=self.region,
            volume=efs.volume_configuration(self.efs),
            mountpoint=self.efs_mountpoint,
        )

    @property
    def capacities(self) -> tuple[Capacity, ...]:
        """The EC2 capacity table; empty while ``ec2_capacity`` is off."""
        return parse_capacities(self.ec2_capacities) if self.ec2_capacity else ()

    @property
    def image_caches(self) -> dict[str, str]:
        """Upstream registry host -> the ECR prefix of its pull-through cache."""
        return parse_pull_through_cache(self.pull_through_cache)

    @property
    def efs(self) -> efs.EfsSettings:
        return efs.EfsSettings(
            file_system_id=self.efs_id,
            access_point_id=self.efs_access_point,
            iam=self.efs_iam,
            mountpoint=self.efs_mountpoint,
        )


def is_download_task(call_run_id: str) -> bool:
    """Whether a task is one of miniwdl's URI downloads (s3://, https://, gs:// inputs)."""
    return call_run_id.startswith(DOWNLOAD_RUN_PREFIX)


def task_architecture(call_run_id: str, settings: FargateSettings) -> str:
    """The CPU architecture a task runs on: ``download_architecture`` for miniwdl's downloads
    (its tools image has no ARM64 build), ``architecture`` for every other task."""
    if is_download_task(call_run_id):
        return settings.download_architecture
    return settings.architecture


def use_spot(preemptible: int, interruptions: int, architecture: str) -> bool:
    """Whether an attempt runs on Fargate Spot: while ``preemptible`` interruptions are left,
    and only on X86_64 (Fargate Spot runs no ARM64 tasks; those run on demand)."""
    return architecture == "X86_64" and preemptible > interruptions


def check_download_images(architecture: str, images: Mapping[str, str]) -> None:
    """Refuse download tasks on an architecture their image cannot run on (``images``: cfg
    option -> image), naming the option and both ways out."""
    if architecture == "X86_64":
        return
    for option, image in images.items():
        if any(image == x86 or image.startswith(x86 + ":") for x86 in X86_ONLY_IMAGES):
            raise ConfigError(
                f"[{SECTION}] download_architecture = {architecture}, but {option} = {image}"
                " has no ARM64 build: set download_architecture = X86_64, or set"
                f" {option} to an image with an ARM64 build"
            )


def _download_images(cfg: config.Loader) -> dict[str, str]:
    """``[download_*] docker`` -> image, for each of miniwdl's downloaders configured."""
    return {
        f"[{section}] docker": str(cfg[section]["docker"])
        for section in DOWNLOAD_IMAGE_OPTIONS
        if cfg.has_option(section, "docker")
    }


def is_image_pull_failure(record: TaskRecord) -> bool:
    """The task never ran because its image could not be pulled (ECS's CannotPullContainerError:
    a registry's rate limit, a network error, a missing image)."""
    return record.exit_code is None and "CannotPullContainerError" in (record.stopped_reason or "")


def pull_retry_delay(failures: int, base_seconds: float, jitter: float) -> float:
    """Seconds to wait before launching again after ``failures`` failed image pulls: doubling
    from ``base_seconds``, capped at 5 minutes, times 0.5-1 by ``jitter`` (in [0, 1)) so many
    tasks hitting one registry limit do not come back together."""
    return min(base_seconds * 2.0 ** (failures - 1), MAX_PULL_RETRY_SECONDS) * (0.5 + jitter / 2)


def _parse(name: str, raw: str, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(raw)
            return raw.lower() in ("true", "1", "yes")
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, tuple) or name == "subnets":
            items = json.loads(raw) if raw.startswith("[") else raw.split(",")
            return tuple(str(i).strip() for i in items if str(i).strip())
    except ValueError:
        raise ConfigError(
            f"[{SECTION}] {name} = {raw!r} is not a valid {type(default).__name__}"
        ) from None
    return raw


@dataclass
class _Runtime:
    """Per-process state, made once by ``global_init``."""

    run_id: str
    settings: FargateSettings
    launcher: EcsLauncher
    watcher: TaskWatcher
    plane: ControlPlane | None


class EcsTaskSource:
    """A ``TaskSource`` over DescribeTasks, for when there is no store: records are rebuilt
    from the descriptions (same shape as event details) by the same pure functions."""

    def __init__(self, launcher: EcsLauncher) -> None:
        self.launcher = launcher

    def get_tasks(self, task_ids: Sequence[str]) -> list[TaskRecord]:
        records = []
        for task in self.launcher.describe_tasks(task_ids):
            record = record_from_description(task)
            if record is not None:
                records.append(record)
        return records

    def wait_for_change(self, seen: int, timeout: float) -> int:
        time.sleep(timeout)
        return seen + 1

    def ended_since(self, seen: int) -> None:
        return None


def record_from_description(task: Mapping[str, Any]) -> TaskRecord | None:
    """The task record a DescribeTasks description implies (pure)."""
    parsed = ecs_events.parse_task_event(description_event(task))
    return None if parsed is None else apply_task_event(None, parsed, utc_now())


class FargateContainer(SharedFilesystemContainer):
    """Runs each task attempt as an ECS task on Fargate, working on the shared EFS."""

    _runtime: ClassVar[_Runtime | None] = None
    _init_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, cfg: config.Loader, run_id: str, host_dir: str) -> None:
        super().__init__(cfg, run_id, host_dir)
        self._request: Request | None = None
        self._ephemeral_gib: int | None = None
        self._interruptions = 0

    @classmethod
    def global_init(cls, cfg: config.Loader, logger: logging.Logger) -> None:
        remember_plugin_entry_points()
        with cls._init_lock:
            settings = FargateSettings.from_config(cfg)
            oom_policy(cfg)  # a bad setting fails the run now, not at a task's first kill
            efs.check_mounted(settings.efs_mountpoint, settings.mounts_file)
            launcher = EcsLauncher(new_ecs_client(settings.region), settings.cluster_config())
            run_id = control_plane_option(cfg, "run_id")
            plane = _control_plane(cfg, launcher) if run_id else None
            if plane is not None:
                watcher = TaskWatcher(
                    plane.store,
                    settings.watch_interval,
                    # events are written by another process: the next round sees them, and
                    # a read per registration would cost a store query per task
                    check_on_register=False,
                    reconcile=functools.partial(reconcile, plane, launcher.describe_tasks),
                    reconcile_after=settings.reconcile_after_seconds,
                )
            else:
                run_id = run_id or f"miniwdl-{utc_now().replace(':', '').replace('.', '')}"
                watcher = TaskWatcher(
                    EcsTaskSource(launcher), settings.poll_interval, check_on_register=False
                )
            cls._runtime = _Runtime(run_id, settings, launcher, watcher, plane)
            logger.info(
                _(
                    "aws_fargate backend ready",
                    cluster=settings.cluster,
                    run_id=run_id,
                    waits_on="store" if plane else "DescribeTasks",
                )
            )

    @classmethod
    def detect_resource_limits(cls, cfg: config.Loader, logger: logging.Logger) -> dict[str, int]:
        """The largest task anywhere: Fargate's, or the largest EC2 capacity's (so miniwdl does
        not cap a request that ``process_runtime`` has already routed)."""
        runtime = cls._runtime
        capacities = runtime.settings.capacities if runtime is not None else ()
        return {
            "cpu": max([MAX_CPU_UNITS // 1024, *(c.vcpu for c in capacities)]),
            "mem_bytes": max([MAX_MEMORY_MIB, *(c.memory_mib for c in capacities)]) * MIB,
        }

    def process_runtime(self, logger: logging.Logger, runtime_eval: dict[str, Value.Base]) -> None:
        """The task's request (fractional cpu allowed, GPUs, disk), routed once here so that a
        task nothing can run fails before anything launches, before miniwdl would quietly cap
        it to the "host"."""
        settings = self._require_runtime().settings
        request = task_request(
            self.run_id,
            runtime_eval,
            default_cpu_shares=settings.default_cpu_shares,
            default_memory_mb=settings.default_memory_mb,
            architecture=task_architecture(self.run_id, settings),
        )
        preemptible = runtime_eval.get("preemptible")
        spot = preemptible is not None and int(preemptible.coerce(Type.Int()).value) > 0
        try:
            first = route(request, settings.capacities, spot=spot, prices=settings.prices)
            if first.on_fargate:
                self._ephemeral_gib = ephemeral_storage_gib(request.disk_bytes, task=self.run_id)
        except SizeError as exn:
            raise wdl_error.RuntimeError(str(exn)) from None
        self._request = request
        super().process_runtime(logger, runtime_eval)

    def memory_bytes(self) -> int:
        """The memory the task's request (``process_runtime``) asks for."""
        return self._request.memory_bytes if self._request is not None else super().memory_bytes()

    def set_memory_bytes(self, value: int) -> None:
        """The next attempts ask for ``value``, sized as any request is (``route``)."""
        super().set_memory_bytes(value)
        if self._request is not None:
            self._request = replace(self._request, memory_bytes=value)

    def largest_memory_bytes(self, logger: logging.Logger) -> int:
        """The most memory Fargate or a capacity can give a task needing the rest of this
        task's request (its vCPU, GPUs, disk)."""
        if self._request is None:
            return super().largest_memory_bytes(logger)
        capacities = self._require_runtime().settings.capacities
        return largest_memory_bytes(self._request, capacities)

    @classmethod
    def _require_runtime(cls) -> _Runtime:
        if cls._runtime is None:
            raise RuntimeError("the aws_fargate backend was used before global_init")
        return cls._runtime

    def _run(self, logger: logging.Logger, terminating: Callable[[], bool], command: str) -> int:
        runtime = self._require_runtime()
        settings = runtime.settings
        request = self._request
        if request is None:
            raise RuntimeError("the aws_fargate backend ran a task before process_runtime")
        mount = settings.efs_mountpoint.rstrip("/") + "/"
        if not self.host_dir.startswith(mount):
            raise wdl_error.RuntimeError(
                f"the run directory {self.host_dir} is not under [aws_fargate] efs_mountpoint"
                f" {settings.efs_mountpoint}; run miniwdl with --dir on EFS"
            )
        image = str(self.runtime_values.get("docker") or "ubuntu:22.04")
        pulled = cached_image(image, settings.image_caches)
        architecture = task_architecture(self.run_id, settings)
        preemptible = int(self.runtime_values.get("preemptible", 0))
        try:
            where = route(
                request,
                settings.capacities,
                spot=preemptible > self._interruptions,
                prices=settings.prices,
            )
        except SizeError as exn:  # only Spot rows fit, and the Spot attempts are spent
            raise wdl_error.RuntimeError(str(exn)) from None
        spot = use_spot(preemptible, self._interruptions, architecture) and where.spot
        provider = ""
        if where.capacity is not None:
            spot = where.spot
            provider = provider_name(settings.ec2_capacity_prefix, where.capacity)
        launcher = runtime.launcher.for_architecture(architecture)
        argv = self.attempt_command(logger, command)
        logger.info(
            _(
                "task placement",
                cpu=where.cpu,
                memory_mib=where.memory_mib,
                spot=spot,
                capacity_provider=provider or ("FARGATE_SPOT" if spot else "FARGATE"),
                gpus=where.gpus,
                image=image,
                pulled=pulled,
                architecture=architecture,
            )
        )
        failed_pulls = 0
        while True:
            spec = TaskSpec(
                run_id=runtime.run_id,
                role=ecs_events.ROLE_TASK,
                command=argv,
                environment={
                    **self.identity_environment(runtime.run_id),
                    **log_stream_environment(launcher.config),
                    ecs_events.ENV_REQUESTED_AT: utc_now(),  # before the launch budget's wait
                },
                family=launcher.config.family_prefix,
                container_name=launcher.config.container_name,
                cpu=where.cpu,
                memory_mb=where.memory_mib,
                client_token=client_token(
                    runtime.run_id,
                    self.run_id,
                    str(self.try_counter),
                    str(self._interruptions),
                    str(failed_pulls),
                ),
                tags={
                    "miniwdl-fargate:run": runtime.run_id,
                    "miniwdl-fargate:call": self.run_id[:256],
                },
                image=pulled,
                spot=spot,
                ephemeral_gib=self._ephemeral_gib if where.on_fargate else None,
                capacity_provider=provider,
                gpus=where.gpus,
            )
            try:
                spec = self._hold_lease(runtime, spec, terminating, logger)
                record = self.launch_and_wait(
                    logger,
                    terminating,
                    launcher,
                    runtime.watcher,
                    spec,
                    stop_wait_seconds=settings.stop_wait_seconds,
                    give_up=ProvisioningLimit(
                        runtime.watcher, provider, settings.provisioning_timeout_seconds
                    )
                    if provider
                    else None,
                )
            except GaveUp as exn:
                raise wdl_error.RuntimeError(f"task {self.run_id}: {exn}") from None
            except LaunchError as exn:
                self._release_lease(runtime, spec)
                if exn.transient:
                    self._interruptions += 1
                    raise Interrupted(f"Fargate could not start the task: {exn}") from exn
                raise wdl_error.RuntimeError(f"Fargate could not start the task: {exn}") from exn
            logger.info(_("log stream", group=settings.log_group, stream=record.log_stream))
            if not is_image_pull_failure(record):
                break
            # Not the task's failure, nor a spot interruption: its own budget, apart from
            # maxRetries and preemptible.
            failed_pulls += 1
            if failed_pulls > settings.image_pull_retries:
                raise wdl_error.RuntimeError(
                    f"the image {pulled} could not be pulled ({failed_pulls} tries):"
                    f" {record.stopped_reason}"
                )
            delay = pull_retry_delay(
                failed_pulls, settings.image_pull_backoff_seconds, random.random()
            )
            logger.warning(
                _(
                    "image pull failed; launching again",
                    image=pulled,
                    failed_pulls=failed_pulls,
                    wait_seconds=round(delay, 1),
                    reason=record.stopped_reason,
                )
            )
            if _wait_unless(terminating, delay):
                raise Terminated()
        if record.state in (State.PREEMPTED, State.SYSTEM_ERROR):
            self._interruptions += 1
        return attempt_exit_code(record)

    @staticmethod
    def _hold_lease(
        runtime: _Runtime, spec: TaskSpec, terminating: Callable[[], bool], logger: logging.Logger
    ) -> TaskSpec:
        """The shared launch budget's lease for the task (``launch_budget``): it waits, PENDING,
        while its group or the account has no vCPUs/GPUs to spare or the launch rate is spent."""
        budget = runtime.plane.budget if runtime.plane is not None else None
        if budget is None or runtime.plane is None:
            return spec
        held = hold_lease(
            budget,
            runtime.plane.store,
            spec,
            terminating,
            lambda reason: logger.info(_("task PENDING", reason=reason)),
        )
        if held is None:
            raise Terminated()
        return held

    @staticmethod
    def _release_lease(runtime: _Runtime, spec: TaskSpec) -> None:
        if runtime.plane is not None:
            release_lease(runtime.plane.budget, spec)


def _wait_unless(stop: Callable[[], bool], seconds: float, tick: float = 0.2) -> bool:
    """Sleep ``seconds`` unless ``stop()`` turns true first; returns whether it did."""
    deadline = time.monotonic() + seconds
    while not stop():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(tick, left))
    return True


def _control_plane(cfg: config.Loader, launcher: EcsLauncher) -> ControlPlane | None:
    """The store the orchestrator's events land in: the deployment's (``[miniwdl_fargate]
    table`` and friends, which the orchestrator passes on from its environment) or a local
    home's (``[miniwdl_fargate] home``); None when neither is configured."""
    from .deployment import AwsDeployment, aws_control_plane

    deployment = AwsDeployment.from_lookup(lambda key: control_plane_option(cfg, key))
    if deployment is not None:
        aws = aws_control_plane(deployment)
        return ControlPlane(aws.store, aws.notifier, launcher, aws.prices, budget=aws.budget)
    home = control_plane_option(cfg, "home")
    if not home:
        return None
    local = LocalHome(home)
    return ControlPlane(
        store=SqliteStore(local.store_path),
        notifier=JsonLinesNotifier(local.notifications_path),
        launcher=launcher,
    )
