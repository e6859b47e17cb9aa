"""Where a WDL task runs: Fargate when it fits, else ECS on EC2 capacity (pure, no I/O).

Fargate has no GPU and stops at 16 vCPU / 120 GiB. Tasks beyond that run as ECS tasks on EC2
capacity providers of the same cluster (Auto Scaling groups scaled from zero by ECS): the same
RunTask, the same "ECS Task State Change" events, the same status handler. Only the request and
the task definition differ. The capacities are configuration (``[aws_fargate] ec2_capacities``):
one row per capacity provider, each the largest task its instances take. ``route`` picks Fargate
when the task fits it, else the cheapest row that fits; a task that fits nothing is refused
before anything launches. ``ProvisioningLimit`` decides when a task waiting for an instance
has waited too long.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol

from .fargate import (
    GIB,
    MAX_CPU_UNITS,
    MAX_EPHEMERAL_GIB,
    MAX_MEMORY_MIB,
    MIB,
    X86_PRICES,
    FargateSize,
    Prices,
    SizeError,
    fit_size,
)
from .records import TaskRecord

# ECS on EC2: task-level cpu is 128 units at least (and 192 vCPU at most, beyond any row here).
MIN_EC2_CPU_UNITS = 128
# What an instance registers with ECS is less than its nominal memory: the kernel, the OS and the
# ECS agent keep some. Rows state nominal GiB; tasks may ask for this fraction of it.
USABLE_MEMORY_FRACTION = 0.94
DEFAULT_DISK_GIB = 200  # the launch template's root volume (stack parameter Ec2VolumeGiB)


class CapacityError(SizeError):
    """A task that fits neither Fargate nor any configured EC2 capacity; the message names the
    task, what it asks for and the largest capacity configured."""


@dataclass(frozen=True)
class Capacity:
    """One EC2 capacity provider: its instances, the largest task they take, Spot or on-demand.

    ``name`` is the provider's name without the stack's prefix (the stack names it
    ``PREFIX-NAME``). ``vcpu``/``memory_gib``/``gpus`` are per instance (the smallest of
    ``instance_types`` when several); ``hourly_price`` is an instance's (the dearest of them),
    used only to choose between rows.
    """

    name: str
    instance_types: tuple[str, ...]
    vcpu: int
    memory_gib: int
    hourly_price: float
    gpus: int = 0
    gpu_type: str = ""
    spot: bool = False
    architecture: str = "X86_64"
    disk_gib: int = DEFAULT_DISK_GIB

    @property
    def cpu_units(self) -> int:
        return self.vcpu * 1024

    @property
    def memory_mib(self) -> int:
        """The memory a task may ask for on one instance (see ``USABLE_MEMORY_FRACTION``)."""
        return math.floor(self.memory_gib * USABLE_MEMORY_FRACTION) * 1024

    def describe(self) -> str:
        gpus = f", {self.gpus} {self.gpu_type or 'GPU'} GPU" if self.gpus else ""
        purchase = "Spot" if self.spot else "on-demand"
        return (
            f"{self.name} ({'/'.join(self.instance_types)}: {self.vcpu} vCPU,"
            f" {self.memory_mib / 1024:g} GiB for tasks{gpus}, {purchase})"
        )


def _group(
    name: str,
    types: tuple[str, ...],
    vcpu: int,
    memory_gib: int,
    price: float,
    gpus: int = 0,
    gpu_type: str = "",
) -> tuple[Capacity, Capacity]:
    """An on-demand row and its Spot twin (``NAME-spot``), priced at a typical Spot discount."""
    on_demand = Capacity(name, types, vcpu, memory_gib, price, gpus, gpu_type)
    spot = replace(on_demand, name=f"{name}-spot", hourly_price=round(price * 0.4, 4), spot=True)
    return on_demand, spot


# us-east-1 Linux on-demand list prices per instance-hour (configurable; Spot varies, 0.4x).
# Eight providers: with FARGATE and FARGATE_SPOT, ten per cluster (ECS's limit has been 10).
DEFAULT_CAPACITIES: tuple[Capacity, ...] = (
    *_group("gpu-l4", ("g6.2xlarge",), 8, 32, 0.9776, 1, "L4"),
    *_group("gpu-l4-x4", ("g6.12xlarge",), 48, 192, 4.6016, 4, "L4"),
    *_group("compute-64", ("c6i.16xlarge", "c6a.16xlarge"), 64, 128, 2.72),
    *_group("memory-512", ("r6i.16xlarge", "r6a.16xlarge"), 64, 512, 4.032),
)


@dataclass(frozen=True)
class Request:
    """What a task asks for: vCPU (fractions allowed), memory, GPUs (count and type), disk."""

    task: str
    vcpu: float
    memory_bytes: int
    gpus: int = 0
    gpu_type: str = ""
    disk_bytes: int = 0
    architecture: str = "X86_64"

    @property
    def cpu_units(self) -> int:
        return max(MIN_EC2_CPU_UNITS, math.ceil(self.vcpu * 1024))

    @property
    def memory_mib(self) -> int:
        return math.ceil(self.memory_bytes / MIB)

    def describe(self) -> str:
        parts = [f"{self.vcpu:g} vCPU", f"{self.memory_bytes / GIB:g} GiB of memory"]
        if self.gpus:
            parts.append(f"{self.gpus} {self.gpu_type + ' ' if self.gpu_type else ''}GPU")
        if self.disk_bytes:
            parts.append(f"{math.ceil(self.disk_bytes / GIB)} GiB of disk")
        return ", ".join(parts)


@dataclass(frozen=True)
class Route:
    """Where one attempt runs: Fargate (``capacity`` None, ``fargate_size`` set) or an EC2
    capacity provider, with the task-level cpu units and memory RunTask asks for."""

    cpu: int
    memory_mib: int
    spot: bool
    capacity: Capacity | None = None
    fargate_size: FargateSize | None = None
    gpus: int = 0

    @property
    def on_fargate(self) -> bool:
        return self.capacity is None


def gpu_type_key(name: str) -> str:
    """A GPU type as the hints name it, compared loosely: "nvidia-tesla-a10g", "NVIDIA A10G"
    and "a10g" are one type."""
    key = name.strip().lower().replace(" ", "-").replace("_", "-")
    for prefix in ("nvidia-", "tesla-"):
        key = key.removeprefix(prefix)
    return key


def fits_fargate(request: Request) -> bool:
    """No GPU, at most 16 vCPU, 120 GiB and 200 GiB of ephemeral storage."""
    return (
        request.gpus == 0
        and math.ceil(request.vcpu * 1024) <= MAX_CPU_UNITS
        and request.memory_mib <= MAX_MEMORY_MIB
        and math.ceil(request.disk_bytes / GIB) <= MAX_EPHEMERAL_GIB
    )


def fits(capacity: Capacity, request: Request) -> bool:
    """Whether one instance of ``capacity`` takes the task. GPU rows take only GPU tasks (their
    instances and quotas are scarce); a named GPU type must be the row's."""
    if capacity.architecture != request.architecture:
        return False
    if (capacity.gpus > 0) != (request.gpus > 0) or request.gpus > capacity.gpus:
        return False
    if request.gpu_type and gpu_type_key(request.gpu_type) != gpu_type_key(capacity.gpu_type):
        return False
    return (
        request.cpu_units <= capacity.cpu_units
        and request.memory_mib <= capacity.memory_mib
        and math.ceil(request.disk_bytes / GIB) <= capacity.disk_gib
    )


def largest_memory_bytes(request: Request, capacities: Sequence[Capacity]) -> int:
    """The most memory a task that needs the rest of ``request`` (vCPU, GPUs, disk) can be
    given: Fargate's largest size or a capacity that fits it (0 if nothing does). An attempt
    killed for its memory is retried with at most this much (``out_of_memory``)."""
    smallest = replace(request, memory_bytes=MIB)
    largest = [c.memory_mib for c in capacities if fits(c, smallest)]
    if fits_fargate(smallest):
        largest.append(MAX_MEMORY_MIB)
    return max(largest, default=0) * MIB


def route(
    request: Request,
    capacities: Sequence[Capacity],
    *,
    spot: bool,
    prices: Prices = X86_PRICES,
) -> Route:
    """Fargate if the task fits it (cheapest valid size), else the cheapest capacity that fits:
    a Spot row while ``spot`` (the attempt may be preempted), an on-demand one otherwise or when
    no Spot row fits. Raises ``CapacityError`` when nothing fits, before anything launches."""
    if fits_fargate(request):
        size = fit_size(request.vcpu, request.memory_bytes, task=request.task, prices=prices)
        return Route(size.cpu, size.memory_mib, spot, fargate_size=size)
    if not (math.isfinite(request.vcpu) and request.vcpu > 0 and request.memory_bytes > 0):
        raise CapacityError(f"task {request.task}: cpu and memory must be positive")
    fitting = [c for c in capacities if fits(c, request)]
    preferred = [c for c in fitting if c.spot == spot] or [c for c in fitting if not c.spot]
    if not preferred:
        raise CapacityError(_nothing_fits(request, capacities))
    best = min(preferred, key=lambda c: (c.hourly_price, c.name))
    return Route(request.cpu_units, request.memory_mib, best.spot, capacity=best, gpus=request.gpus)


def _nothing_fits(request: Request, capacities: Sequence[Capacity]) -> str:
    text = (
        f"task {request.task} asks for {request.describe()}: more than Fargate's"
        f" {MAX_CPU_UNITS // 1024} vCPU / {MAX_MEMORY_MIB // 1024} GiB"
        f" / {MAX_EPHEMERAL_GIB} GiB of disk"
        f"{' (Fargate has no GPU)' if request.gpus else ''}, and no EC2 capacity configured"
        " takes it"
    )
    if not capacities:
        return text + " ([aws_fargate] ec2_capacity is off: none is configured)"
    largest = max(capacities, key=lambda c: (c.vcpu, c.memory_gib, c.gpus, not c.spot, c.name))
    return f"{text}; the largest is {largest.describe()}"


# configuration ------------------------------------------------------------------------------

_FIELDS = (
    "name",
    "instance_types",
    "vcpu",
    "memory_gib",
    "hourly_price",
    "gpus",
    "gpu_type",
    "spot",
    "architecture",
    "disk_gib",
)
_REQUIRED = ("name", "instance_types", "vcpu", "memory_gib", "hourly_price")


def parse_capacities(raw: str | Iterable[Mapping[str, Any]]) -> tuple[Capacity, ...]:
    """The capacity table from configuration: a JSON list of objects with the ``Capacity``
    fields. Raises ``ValueError`` naming the row and field that is wrong."""
    rows = json.loads(raw) if isinstance(raw, str) else list(raw)
    if not isinstance(rows, list):
        raise ValueError("must be a JSON list of capacity objects")
    table: list[Capacity] = []
    for index, row in enumerate(rows):
        where = f"row {index + 1}"
        if not isinstance(row, Mapping):
            raise ValueError(f"{where} is not an object")
        where = f"row {index + 1} ({row.get('name', '?')})"
        unknown = set(row) - set(_FIELDS)
        missing = [f for f in _REQUIRED if f not in row]
        if unknown or missing:
            raise ValueError(f"{where}: unknown {sorted(unknown)}, missing {missing}")
        types = row["instance_types"]
        if isinstance(types, str):
            types = [types]
        values = {**row, "instance_types": tuple(str(t) for t in types)}
        try:
            capacity = Capacity(**values)
        except TypeError as exn:
            raise ValueError(f"{where}: {exn}") from None
        _check_row(capacity, where)
        table.append(capacity)
    names = [c.name for c in table]
    if len(set(names)) != len(names):
        raise ValueError(f"capacity names repeat: {sorted(names)}")
    return tuple(table)


def _check_row(c: Capacity, where: str) -> None:
    ints = {"vcpu": c.vcpu, "memory_gib": c.memory_gib, "gpus": c.gpus, "disk_gib": c.disk_gib}
    for name, value in ints.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{where}: {name} must be a whole number >= 0, not {value!r}")
    if c.vcpu < 1 or c.memory_gib < 1:
        raise ValueError(f"{where}: vcpu and memory_gib must be at least 1")
    if not isinstance(c.hourly_price, int | float) or not c.hourly_price >= 0:
        raise ValueError(f"{where}: hourly_price must be a number >= 0")
    if not isinstance(c.spot, bool):
        raise ValueError(f"{where}: spot must be true or false")
    if not c.name or not all(ch.isalnum() or ch in "-_" for ch in c.name):
        raise ValueError(f"{where}: name must be letters, digits, - and _")
    if not c.instance_types or not all(c.instance_types):
        raise ValueError(f"{where}: instance_types must name at least one type")
    if c.architecture not in ("X86_64", "ARM64"):
        raise ValueError(f"{where}: architecture must be X86_64 or ARM64")
    if bool(c.gpu_type) and not c.gpus:
        raise ValueError(f"{where}: gpu_type without gpus")


def capacities_json(capacities: Iterable[Capacity]) -> str:
    """The table as configuration text (``parse_capacities``' inverse)."""
    return json.dumps([{**asdict(c), "instance_types": list(c.instance_types)} for c in capacities])


def provider_name(prefix: str, capacity: Capacity) -> str:
    """The ECS capacity provider's name: the stack's prefix and the row's name."""
    return f"{prefix}-{capacity.name}" if prefix else capacity.name


# waiting for capacity -------------------------------------------------------------------------


class LatestRecords(Protocol):
    """Where the last record read of a task is found (``TaskWatcher``)."""

    def latest(self, task_id: str) -> TaskRecord | None:
        """The last record read for the task, or None."""


class ProvisioningLimit:
    """``launch_and_wait``'s ``give_up`` for a task on EC2 capacity: waiting in PROVISIONING
    while the Auto Scaling group starts an instance is normal and not a failure, up to
    ``limit_seconds`` from the launch; then the reason to stop it. Once the task is past
    PROVISIONING it never expires."""

    def __init__(
        self,
        watcher: LatestRecords,
        provider: str,
        limit_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.watcher = watcher
        self.provider = provider
        self.limit_seconds = limit_seconds
        self.clock = clock
        self.launched: float | None = None  # the first call: RunTask has just returned
        self.provisioned = False

    def __call__(self, task_id: str) -> str | None:
        if self.launched is None:
            self.launched = self.clock()
        if self.provisioned:
            return None
        latest = self.watcher.latest(task_id)
        if latest is not None and latest.last_status not in ("", "PROVISIONING"):
            self.provisioned = True
            return None
        waited = self.clock() - self.launched
        if waited < self.limit_seconds:
            return None
        return (
            f"still PROVISIONING after {waited:.0f}s on capacity provider {self.provider}"
            f" (limit [aws_fargate] provisioning_timeout_seconds = {self.limit_seconds:g}): its"
            " Auto Scaling group started no instance for it; check the account's EC2 vCPU"
            " quotas for the instance family (GPU quotas are 0 in new accounts) and the"
            " group's scaling activity"
        )
