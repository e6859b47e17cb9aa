"""The machine a scenario ran on, recorded beside its result: a ratio taken while other work
loads the machine can flatter us (it did once), so each result says how quiet the machine was.

Just before a scenario, the CPU time all processes used is sampled from /proc/stat over
``SAMPLE_SECONDS``: the share of the machine something else was using then. A result whose share
was over ``LOADED_BUSY_FRACTION`` is marked ``loaded``. The load averages and the CPU count are
recorded too (the 1-minute average still carries the previous scenario's load for a while).
"""

from __future__ import annotations

import os
import time
from typing import Any

SAMPLE_SECONDS = 2.0
LOADED_BUSY_FRACTION = 0.1


def _cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    return total - idle, total


def busy_fraction(seconds: float = SAMPLE_SECONDS) -> float | None:
    """The share of all CPUs busy over the next ``seconds`` (None without /proc/stat)."""
    try:
        busy0, total0 = _cpu_times()
        time.sleep(seconds)
        busy1, total1 = _cpu_times()
    except (OSError, ValueError, IndexError):
        return None
    return round((busy1 - busy0) / max(total1 - total0, 1), 3)


def conditions() -> dict[str, Any]:
    """How busy the machine is now: CPU count, load averages, busy share, ``loaded``."""
    busy = busy_fraction()
    return {
        "cpu_count": os.cpu_count(),
        "load_avg": [round(v, 2) for v in os.getloadavg()],
        "busy_before": busy,
        "loaded": busy is not None and busy > LOADED_BUSY_FRACTION,
    }
