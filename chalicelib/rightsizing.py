"""Rightsizing (pure): what each call should have asked for, from what its attempts really used.

Per call across its shards (``call-align-0``, ``call-align-1``... are one call, ``call-align``),
from the platform shim's recorded peaks (``TaskRecord.usage``): memory is the largest peak plus
``headroom``; vCPUs are the most cores any attempt kept busy on average (CPU seconds over wall
seconds) plus the same headroom, never more than was asked. The pair is rounded up to the
cheapest valid Fargate size (``fargate.fit_size``). An attempt killed for memory says nothing of
its real need but that it was more than it had: the suggestion then asks ``oom_factor`` times
its memory. What the suggestion would have saved is its succeeded attempts' cost at the new
size, for the same durations (a task given fewer vCPUs than it used would run longer: those are
never suggested).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from .cost import billed_seconds, billing_start, task_cost
from .fargate import MIB, X86_PRICES, FargateSize, Prices, SizeError, fit_size
from .out_of_memory import DEFAULT_FACTOR, is_oom_killed
from .records import TaskRecord
from .states import State

DEFAULT_HEADROOM = 0.25
MIN_MEMORY_MIB = 512
MIN_VCPU = 0.25
_CALL = re.compile(r"^(call-[A-Za-z0-9_]+)")


@dataclass(frozen=True)
class Suggestion:
    """What one call asked for, used, and should ask for."""

    call: str
    attempts: int
    requested: FargateSize
    peak_memory_mib: float
    cores_used: float
    suggested: FargateSize | None  # None: nothing on Fargate fits (EC2 capacity)
    saved_usd: float
    reason: str

    @property
    def changes(self) -> bool:
        return self.suggested is not None and self.suggested != self.requested


def call_name(call_id: str) -> str:
    """The call a task belongs to, its scatter shard index and the rest left out."""
    match = _CALL.match(call_id)
    return match.group(1) if match else call_id


def suggest(
    tasks: Iterable[TaskRecord],
    *,
    headroom: float = DEFAULT_HEADROOM,
    oom_factor: float = DEFAULT_FACTOR,
    prices: Prices = X86_PRICES,
) -> list[Suggestion]:
    """One suggestion per call that has recorded usage, largest saving first."""
    if headroom < 0 or oom_factor < 1:
        raise ValueError("headroom must be >= 0 and oom_factor >= 1")
    calls: dict[str, list[TaskRecord]] = {}
    for task in tasks:
        if task.usage and _size(task) is not None:
            calls.setdefault(call_name(task.call_id or task.task_id), []).append(task)
    found = [_suggest(call, group, headroom, oom_factor, prices) for call, group in calls.items()]
    return sorted(found, key=lambda s: (-s.saved_usd, s.call))


def _suggest(
    call: str, tasks: list[TaskRecord], headroom: float, oom_factor: float, prices: Prices
) -> Suggestion:
    sizes = [s for s in (_size(t) for t in tasks) if s is not None]
    requested = max(sizes)
    peak = max((_figure(t, "peak_memory_mib") for t in tasks), default=0.0)
    cores = max((_cores(t) for t in tasks), default=0.0)
    memory_mib = max(peak * (1 + headroom), MIN_MEMORY_MIB)
    reason = f"peak {peak:.0f} MiB + {headroom:.0%}"
    oom = [t for t in tasks if is_oom_killed(t)]
    if oom:
        largest = max(int(t.memory or 0) for t in oom)
        if not any(t.state == State.COMPLETE and int(t.memory or 0) > largest for t in tasks):
            memory_mib = max(memory_mib, largest * oom_factor)
            reason = f"killed for memory at {largest} MiB: x{oom_factor:g}"
    vcpu = min(max(cores * (1 + headroom), MIN_VCPU), requested.vcpu)
    try:
        suggested: FargateSize | None = fit_size(
            vcpu, math.ceil(memory_mib) * MIB, task=call, prices=prices
        )
    except SizeError:
        suggested = None
        reason += ": more than Fargate offers, use EC2 capacity"
    saved = 0.0
    if suggested is not None:
        for task in tasks:
            if task.state != State.COMPLETE:
                continue
            seconds = billed_seconds(billing_start(task), task.stopped_at)
            size = _size(task) or requested
            now = task_cost(size.cpu, size.memory_mib, seconds, prices=prices).usd
            then = task_cost(suggested.cpu, suggested.memory_mib, seconds, prices=prices).usd
            saved += now - then
    return Suggestion(
        call=call,
        attempts=len(tasks),
        requested=requested,
        peak_memory_mib=round(peak, 1),
        cores_used=round(cores, 2),
        suggested=suggested,
        saved_usd=round(saved, 6),
        reason=reason,
    )


def _size(task: TaskRecord) -> FargateSize | None:
    if not (task.cpu or "").isdigit() or not (task.memory or "").isdigit():
        return None
    return FargateSize(int(str(task.cpu)), int(str(task.memory)))


def _figure(task: TaskRecord, key: str) -> float:
    value = (task.usage or {}).get(key)
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else 0.0


def _cores(task: TaskRecord) -> float:
    """Cores the attempt kept busy on average (CPU seconds over wall seconds)."""
    seconds = _figure(task, "seconds")
    return _figure(task, "cpu_seconds") / seconds if seconds > 0 else 0.0
