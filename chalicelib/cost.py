"""Cost estimates for Fargate tasks and runs (pure).

Fargate bills per second with a one-minute minimum, for vCPU and memory from the start of the
image pull (``pullStartedAt``) to the stop, plus ephemeral storage above the free 20 GiB; a
Fargate Spot task at Spot prices. Prices are configurable (``Prices``); the defaults are
us-east-1 x86 quotes, so an estimate is a guide, not a bill.

``cost_split`` answers "what did this run cost, and why": what its succeeded attempts cost,
what its wasted ones did (failed, preempted, OOM-killed, canceled), what the call cache saved,
the orchestrator's share, and what the task attempts would have cost had all been Spot.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .fargate import DEFAULT_EPHEMERAL_GIB, X86_PRICES, Prices
from .out_of_memory import is_oom_killed
from .records import TaskRecord
from .states import State, is_terminal

ENV_VCPU_HOUR = "MINIWDL_FARGATE_VCPU_HOUR_USD"
ENV_GB_HOUR = "MINIWDL_FARGATE_GB_HOUR_USD"
ENV_SPOT_VCPU_HOUR = "MINIWDL_FARGATE_SPOT_VCPU_HOUR_USD"
ENV_SPOT_GB_HOUR = "MINIWDL_FARGATE_SPOT_GB_HOUR_USD"

# Fargate Spot in us-east-1 (third-party quote; Spot prices move, keep them configurable).
SPOT_PRICES = Prices(vcpu_hour=0.01246279, gb_hour=0.00136558)
SPOT_PROVIDERS = frozenset({"FARGATE_SPOT"})
# Stop codes only a Spot task gets: an attempt stopped so was on Spot, whatever its record says.
SPOT_STOP_CODES = frozenset({"SpotInterruption", "TerminationNotice"})

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
    spot_prices: Prices = SPOT_PRICES,
    as_spot: bool | None = None,
) -> Cost:
    """The cost of one ECS task from what its events reported (size as ECS strings, times as
    ISO-8601); a task without a size or that never started costs nothing. A task record is
    billed from its image pull where that is known (``billing_start``), at ``spot_prices`` if
    it ran on Spot (``is_spot``; ``as_spot`` overrides, for "what if")."""
    spot = bool(as_spot)
    if task is not None:
        cpu, memory = task.cpu, task.memory
        started_at, stopped_at = billing_start(task), task.stopped_at
        spot = is_spot(task) if as_spot is None else as_spot
    seconds = billed_seconds(started_at, stopped_at)
    if not seconds or not cpu or not memory or not cpu.isdigit() or not memory.isdigit():
        return Cost()
    return task_cost(int(cpu), int(memory), seconds, prices=spot_prices if spot else prices)


def billing_start(task: TaskRecord) -> str | None:
    """When Fargate starts billing a task: the image pull's start, else its start."""
    return task.pull_started_at or task.started_at


def is_spot(task: TaskRecord) -> bool:
    """Whether the attempt ran on Fargate Spot."""
    return task.capacity_provider in SPOT_PROVIDERS or task.stop_code in SPOT_STOP_CODES


SUCCEEDED = "succeeded"
WASTE_KINDS = ("failed", "preempted", "oom_killed", "canceled")


def attempt_outcome(task: TaskRecord) -> str:
    """What became of an attempt, for the cost split: ``succeeded``, one of ``WASTE_KINDS``,
    or ``unfinished`` (not yet stopped)."""
    if task.state == State.COMPLETE:
        return SUCCEEDED
    if not is_terminal(task.state):
        return "unfinished"
    if is_oom_killed(task):
        return "oom_killed"
    if task.state == State.PREEMPTED:
        return "preempted"
    if task.state == State.CANCELED:
        return "canceled"
    return "failed"


@dataclass(frozen=True)
class CacheHit:
    """A call the call cache answered: no task ran; ``cost`` is what its original run paid."""

    call_id: str
    cost: Cost


@dataclass(frozen=True)
class CostSplit:
    """A run's cost, and why (see ``cost_split``)."""

    succeeded: Cost
    wasted: Mapping[str, Cost]
    unfinished: Cost
    avoided: Cost
    orchestrator: Cost
    all_spot: Cost

    @property
    def tasks(self) -> Cost:
        return run_cost([self.succeeded, self.unfinished, *self.wasted.values()])

    @property
    def total(self) -> Cost:
        return self.tasks + self.orchestrator

    @property
    def spot_savings_usd(self) -> float:
        """What running every task attempt on Spot would have saved."""
        return self.tasks.usd - self.all_spot.usd

    def as_dict(self) -> dict[str, Any]:
        """For the run log, notifications and the report."""
        return {
            "total": self.total.as_dict(),
            "tasks": self.tasks.as_dict(),
            "succeeded": self.succeeded.as_dict(),
            "wasted": {kind: cost.as_dict() for kind, cost in self.wasted.items()},
            "wasted_usd": round(sum(c.usd for c in self.wasted.values()), 6),
            "unfinished": self.unfinished.as_dict(),
            "avoided_by_call_cache": self.avoided.as_dict(),
            "orchestrator": self.orchestrator.as_dict(),
            "if_all_spot": self.all_spot.as_dict(),
        }


def cost_split(
    tasks: Iterable[TaskRecord],
    *,
    cache_hits: Iterable[CacheHit] = (),
    orchestrator: Cost = Cost(),
    prices: Prices = X86_PRICES,
    spot_prices: Prices = SPOT_PRICES,
) -> CostSplit:
    """Split a run's cost by what became of each task attempt (``attempt_outcome``).

    ``all_spot`` prices every task attempt at Spot prices, as if each had run on Spot with the
    same outcome (more interruptions are not guessed at). ``orchestrator`` is the orchestrator
    container's own cost, which the caller knows (its size and lifetime).
    """
    succeeded, unfinished, all_spot = Cost(), Cost(), Cost()
    wasted = {kind: Cost() for kind in WASTE_KINDS}
    for task in tasks:
        cost = record_cost(task, prices=prices, spot_prices=spot_prices)
        all_spot = all_spot + record_cost(task, spot_prices=spot_prices, as_spot=True)
        outcome = attempt_outcome(task)
        if outcome == SUCCEEDED:
            succeeded = succeeded + cost
        elif outcome in wasted:
            wasted[outcome] = wasted[outcome] + cost
        else:
            unfinished = unfinished + cost
    avoided = run_cost(hit.cost for hit in cache_hits)
    return CostSplit(succeeded, wasted, unfinished, avoided, orchestrator, all_spot)


def tasks_cost(
    tasks: Iterable[TaskRecord], prices: Prices = X86_PRICES, spot_prices: Prices = SPOT_PRICES
) -> Cost:
    """The summed cost of a run's task containers (every attempt is billed)."""
    return run_cost(record_cost(t, prices=prices, spot_prices=spot_prices) for t in tasks)


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
    return _prices(environ, ENV_VCPU_HOUR, ENV_GB_HOUR, X86_PRICES)


def spot_prices_from_environment(environ: Mapping[str, str] = os.environ) -> Prices:
    """Fargate Spot prices from ``MINIWDL_FARGATE_SPOT_VCPU_HOUR_USD`` /
    ``MINIWDL_FARGATE_SPOT_GB_HOUR_USD`` (``SPOT_PRICES`` by default)."""
    return _prices(environ, ENV_SPOT_VCPU_HOUR, ENV_SPOT_GB_HOUR, SPOT_PRICES)


def _prices(environ: Mapping[str, str], vcpu_key: str, gb_key: str, default: Prices) -> Prices:
    def get(key: str) -> str | None:
        # the orchestrator hands MINIWDL_FARGATE_X on to miniwdl as MINIWDL__MINIWDL_FARGATE__X
        return environ.get(key) or environ.get(
            "MINIWDL__MINIWDL_FARGATE__" + key.removeprefix("MINIWDL_FARGATE_")
        )

    vcpu = get(vcpu_key) or str(default.vcpu_hour)
    gb = get(gb_key) or str(default.gb_hour)
    try:
        return Prices(vcpu_hour=float(vcpu), gb_hour=float(gb))
    except ValueError:
        raise ValueError(f"{vcpu_key} and {gb_key} must be numbers (USD)") from None


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
