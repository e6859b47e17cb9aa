"""How many WDL tasks one run's miniwdl keeps in flight: its ``[scheduler] task_concurrency``.

miniwdl runs each task attempt on a thread of one pool of ``task_concurrency`` threads, and a
thread stays busy for the whole attempt: waiting for its lease in the launch budget, then for
its container to end. The right bound is therefore not the orchestrator's CPUs (miniwdl's
default) nor a fixed 100, which caps a run at 100 containers at once (a run of 30 s tasks at
about 3 launches/s), but what can run at once anyway: the account's Fargate vCPUs, and the run
group's, over the smallest task (0.25 vCPU). Threads past that would only wait in the launch
budget. It is capped (``MAX_TASK_CONCURRENCY``), and is that cap when no limit is known: each
thread costs the orchestrator memory (about a quarter of a MiB: ``make bench``'s
``fargate_scale``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .launch_budget import run_limits

if TYPE_CHECKING:
    from .status import ControlPlane

SMALLEST_TASK_VCPUS = 0.25  # Fargate's smallest size
MAX_TASK_CONCURRENCY = 500
ENV_TASK_CONCURRENCY = "MINIWDL__SCHEDULER__TASK_CONCURRENCY"


def task_concurrency(
    account_vcpus: float | None,
    group_vcpus: float | None,
    *,
    cap: int = MAX_TASK_CONCURRENCY,
) -> int:
    """Threads for miniwdl's task pool (pure): the tasks of the smallest size that fit the
    tighter of the account's and the group's vCPU limits (None: no limit), at least 1, at most
    ``cap``."""
    limits = [v for v in (account_vcpus, group_vcpus) if v is not None and v > 0]
    if not limits:
        return cap
    return max(1, min(cap, math.floor(min(limits) / SMALLEST_TASK_VCPUS + 1e-9)))


def concurrency_setting(
    plane: ControlPlane, run_id: str, *given: Mapping[str, str]
) -> dict[str, str]:
    """``{MINIWDL__SCHEDULER__TASK_CONCURRENCY: n}`` for a run under the shared launch budget
    (on AWS): ``task_concurrency`` of the account's vCPU limit (its quota, read once per
    process anyway) and the run group's (``run_limits``, which the backend reads once too).
    Nothing when a setting ``given`` already names it (the submitter's or the task
    definition's), or without a budget (the local mode keeps miniwdl's default, the host's
    CPUs, which its ``local`` backend is bounded by)."""
    if plane.budget is None or any(ENV_TASK_CONCURRENCY in g for g in given):
        return {}
    _group, limits = run_limits(plane.store, run_id)
    threads = task_concurrency(plane.budget.account.max_vcpus, limits.max_vcpus)
    return {ENV_TASK_CONCURRENCY: str(threads)}
