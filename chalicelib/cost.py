"""Cost estimates for Fargate tasks and runs (pure).

Fargate bills per second with a one-minute minimum, for vCPU and memory while the task runs,
plus ephemeral storage above the free 20 GiB. Prices are configurable (``Prices``); the defaults
are us-east-1 x86 quotes, so an estimate is a guide, not a bill.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from .fargate import DEFAULT_EPHEMERAL_GIB, X86_PRICES, Prices
from .records import TaskRecord

ENV_VCPU_HOUR = "MINIWDL_FARGATE_VCPU_HOUR_USD"
ENV_GB_HOUR = "MINIWDL_FARGATE_GB_HOUR_USD"

MINIMUM_SECONDS = 60.0
EPHEMERAL_GB_HOUR = 0.000111


@dataclass(frozen=True)
class Cost:
    """What a task (or a run, summed) used and what that costs."""

    vcpu_seconds: float = 0.0
    gb_seconds: float = 0.0
    usd: float = 0.0

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.vcpu_seconds + other.vcpu_seconds,
            self.gb_seconds + other.gb_seconds,
            self.usd + other.usd,
        )

    def as_dict(self) -> dict[str, float]:
        """Rounded, for records, notifications and the run log."""
        return {
            "vcpu_seconds": round(self.vcpu_seconds, 1),
            "gb_seconds": round(self.gb_seconds, 1),
            "usd": round(self.usd, 6),
        }


def billed_seconds(started_at: str | None, stopped_at: str | None) -> float:
    """Seconds billed for a task that ran from ``started_at`` to ``stopped_at`` (ISO-8601); a
    task that never started costs nothing, a started one at least a minute."""
    if not started_at or not stopped_at:
        return 0.0
    elapsed = (_parse(stopped_at) - _parse(started_at)).total_seconds()
    return max(elapsed, MINIMUM_SECONDS)


def task_cost(
    cpu_units: int,
    memory_mib: int,
    seconds: float,
    *,
    ephemeral_gib: int | None = None,
    prices: Prices = X86_PRICES,
) -> Cost:
    """The cost of ``seconds`` of a task of this size."""
    vcpu_seconds = cpu_units / 1024 * seconds
    gb_seconds = memory_mib / 1024 * seconds
    extra_storage = max((ephemeral_gib or DEFAULT_EPHEMERAL_GIB) - DEFAULT_EPHEMERAL_GIB, 0)
    usd = (
        vcpu_seconds * prices.vcpu_hour
        + gb_seconds * prices.gb_hour
        + extra_storage * seconds * EPHEMERAL_GB_HOUR
    ) / 3600
    return Cost(vcpu_seconds, gb_seconds, usd)


def run_cost(task_costs: Iterable[Cost]) -> Cost:
    """A run's cost: the sum of its tasks' (the orchestrator is one of them)."""
    total = Cost()
    for cost in task_costs:
        total = total + cost
    return total


def record_cost(
    task: TaskRecord | None = None,
    *,
    cpu: str | None = None,
    memory: str | None = None,
    started_at: str | None = None,
    stopped_at: str | None = None,
    prices: Prices = X86_PRICES,
) -> Cost:
    """The cost of one ECS task from what its events reported (size as ECS strings, times as
    ISO-8601); a task without a size or that never started costs nothing."""
    if task is not None:
        cpu, memory = task.cpu, task.memory
        started_at, stopped_at = task.started_at, task.stopped_at
    seconds = billed_seconds(started_at, stopped_at)
    if not seconds or not cpu or not memory or not cpu.isdigit() or not memory.isdigit():
        return Cost()
    return task_cost(int(cpu), int(memory), seconds, prices=prices)


def tasks_cost(tasks: Iterable[TaskRecord], prices: Prices = X86_PRICES) -> Cost:
    """The summed cost of a run's task containers (every attempt is billed)."""
    return run_cost(record_cost(t, prices=prices) for t in tasks)


def from_dict(value: Mapping[str, float] | None) -> Cost:
    """Inverse of ``Cost.as_dict`` (a record's ``cost``)."""
    if not value:
        return Cost()
    return Cost(
        float(value.get("vcpu_seconds", 0)),
        float(value.get("gb_seconds", 0)),
        float(value.get("usd", 0)),
    )


def prices_from_environment(environ: Mapping[str, str] = os.environ) -> Prices:
    """Prices from ``MINIWDL_FARGATE_VCPU_HOUR_USD`` / ``MINIWDL_FARGATE_GB_HOUR_USD`` (the
    us-east-1 x86 quotes by default); a malformed value is an error, not a silent default."""
    vcpu = environ.get(ENV_VCPU_HOUR) or str(X86_PRICES.vcpu_hour)
    gb = environ.get(ENV_GB_HOUR) or str(X86_PRICES.gb_hour)
    try:
        return Prices(vcpu_hour=float(vcpu), gb_hour=float(gb))
    except ValueError:
        raise ValueError(f"{ENV_VCPU_HOUR} and {ENV_GB_HOUR} must be numbers (USD)") from None


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
