"""A task's longest run: its ``runtime.timeout`` (pure, no I/O).

Neither WDL (1.0 to 1.2) nor miniwdl has a task timeout key, so this project reads ``timeout``
from the task's ``runtime`` section (``requirements`` in WDL 1.2), as dxWDL's ``dx_timeout`` and
Nextflow's ``time`` do: seconds, or a string such as "90m", "12h", "2d". ``[task_runtime]
defaults`` can give every task one (``{"timeout": "12h"}``). An attempt running longer is
stopped and fails with ``TaskTimedOut``, which miniwdl retries within ``maxRetries`` like any
failure. The clock starts when the container starts (its record's ``started_at``), so image
pulls and waiting for EC2 capacity don't count; until that is known, at the launch.
"""

from __future__ import annotations

import contextlib
from datetime import datetime

from WDL import Error as wdl_error
from WDL import Value

from .groups import GroupError, parse_duration

KEY = "timeout"


class TaskTimedOut(wdl_error.RuntimeError):
    """The attempt ran past its ``runtime.timeout`` and was stopped (the task's failure)."""


def timeout_seconds(value: Value.Base) -> float:
    """The seconds a ``timeout`` runtime value allows; a bad one is the task's error."""
    raw = value.value if isinstance(value, Value.Int | Value.Float | Value.String) else None
    try:
        seconds = parse_duration(raw) if raw is not None else None
    except GroupError:
        seconds = None
    if seconds is None:
        raise wdl_error.RuntimeError(
            f'runtime.timeout {value} is not a duration: seconds, or e.g. "90m", "12h", "2d"'
        )
    return seconds


def timeout_reason(
    limit_seconds: float,
    *,
    started_at: str | None,
    launched_at: float,
    now: float,
) -> str | None:
    """Why an attempt must stop now (None while it may go on): it has run ``limit_seconds``
    since ``started_at`` (ISO time), else since ``launched_at``; times are epoch seconds."""
    start = launched_at
    if started_at:
        with contextlib.suppress(ValueError):
            start = datetime.fromisoformat(started_at.replace("Z", "+00:00")).timestamp()
    ran = now - start
    if ran < limit_seconds:
        return None
    return f"timed out: ran {ran:.0f}s, past its runtime.timeout of {_duration(limit_seconds)}"


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"
