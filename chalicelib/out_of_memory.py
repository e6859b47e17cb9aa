"""Attempts killed for their memory: how one is recognised, and what its retry asks for (pure).

Fargate kills a task whose container exceeds the task's memory, with exit code 137 and the
container reason ``OutOfMemoryError: Container killed due to memory usage``; the local mode's
memory cgroups report the same (``memory_cgroup``). Such an attempt fails like any other, so
miniwdl retries it within the task's ``maxRetries``; the backend (``container_base``) makes the
retry ask for ``factor`` times the memory, up to a ceiling: ``[miniwdl_fargate] oom_max_memory``
and the largest task the backend can run. The backend's own sizing then fits the new request to
a valid Fargate size, or to EC2 capacity where the stack has it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .records import TaskRecord

# What ECS puts in the container's ``reason`` (the task's ``stoppedReason`` only says "Essential
# container in task exited").
ECS_OOM_REASON = "OutOfMemoryError: Container killed due to memory usage"
OOM_EXIT_CODE = 137
# Without ECS's reason, a kill (137) counts as out of memory when the shim's recorded peak came
# this close to the attempt's memory.
OOM_PEAK_FRACTION = 0.9
DEFAULT_FACTOR = 2.0
MIB = 1024 * 1024


def is_oom_killed(task: TaskRecord) -> bool:
    """Whether the attempt was killed for exceeding its memory: ECS's ``OutOfMemoryError``
    container reason, or a kill (137) with the shim's recorded peak near the task's memory."""
    if any("OutOfMemory" in (r or "") for r in (task.container_reason, task.stopped_reason)):
        return True
    if task.exit_code != OOM_EXIT_CODE or not task.usage or not (task.memory or "").isdigit():
        return False
    peak = task.usage.get("peak_memory_mib")
    return isinstance(peak, int | float) and peak >= OOM_PEAK_FRACTION * int(str(task.memory))


@dataclass(frozen=True)
class OomPolicy:
    """How an attempt killed for its memory is retried: ``factor`` times the memory, at most
    ``max_bytes`` (None: only the backend's largest task bounds it)."""

    factor: float = DEFAULT_FACTOR
    max_bytes: int | None = None

    @classmethod
    def from_options(cls, factor: str, max_memory: str) -> OomPolicy:
        """Parse ``oom_memory_factor`` and ``oom_max_memory`` ("" for the defaults); a bad
        value is a ``ValueError`` that names the option."""
        policy = cls()
        if factor:
            try:
                value = float(factor)
            except ValueError:
                value = 0.0
            if not value >= 1.0 or value > 1024:
                raise ValueError(
                    f"[miniwdl_fargate] oom_memory_factor {factor!r} is not a number from 1 to"
                    " 1024 (1 retries with the same memory)"
                )
            policy = cls(factor=value)
        if max_memory:
            # miniwdl's parser, imported here: the API's Lambda reads ``is_oom_killed`` (costs)
            # and must not import miniwdl for it (``make bench``'s cold_import)
            from WDL._util import parse_byte_size

            try:
                limit = parse_byte_size(max_memory)
            except (ValueError, SyntaxError):
                limit = 0
            if limit < MIB:
                raise ValueError(
                    f"[miniwdl_fargate] oom_max_memory {max_memory!r} is not a memory size such"
                    " as 64 GiB"
                )
            policy = cls(factor=policy.factor, max_bytes=limit)
        return policy

    def next_memory(self, killed_at_bytes: int, largest_bytes: int) -> int | None:
        """The memory the retry of an attempt killed at ``killed_at_bytes`` asks for, in whole
        MiB: ``factor`` times more, at most the ceiling (this policy's and ``largest_bytes``,
        the backend's largest task). None when it cannot grow (already at the ceiling, or the
        attempt asked for no memory)."""
        if killed_at_bytes <= 0:
            return None
        ceiling = min(largest_bytes, self.max_bytes) if self.max_bytes else largest_bytes
        wanted = -(-int(killed_at_bytes * self.factor) // MIB) * MIB  # rounded up to a MiB
        grown = min(wanted, ceiling // MIB * MIB)
        return grown if grown > killed_at_bytes else None
