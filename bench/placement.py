"""Input placement of ``make bench``: what a 1 GiB input costs a task (``chalicelib.placement``).

Two cases, each measured on a fresh 1 GiB file in a temporary directory on the same filesystem
as the work directory would be:
- an upstream task's output (read-only once its task ended): placed by hard link, no byte copied;
- a user's own writable file: cloned where the filesystem has reflinks, else copied once, and
  every later task of the run links to that first read-only copy.
Bytes written are read from /proc/self/io (``wchar``), so "no copy" is measured, not assumed.
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

from chalicelib.placement import Placer

GIB = 1024**3
CHUNK = 16 * 1024 * 1024


def _written() -> int:
    with open("/proc/self/io", encoding="ascii") as io:
        return next(int(line.split()[1]) for line in io if line.startswith("wchar:"))


def _make(path: str, size: int) -> None:
    block = os.urandom(CHUNK)
    with open(path, "wb") as out:
        for _ in range(size // CHUNK):
            out.write(block)


def _place(placer: Placer, source: str, dest: str) -> tuple[float, int, str]:
    before, started = _written(), time.perf_counter()
    how = placer.place_file(source, dest).how
    return time.perf_counter() - started, _written() - before, how


def input_placement(size: int = GIB) -> dict[str, Any]:
    """Seconds and bytes written to place a 1 GiB input: an upstream output, then a user's
    writable file in two tasks of one run."""
    with tempfile.TemporaryDirectory(prefix="bench-placement-", dir=os.getcwd()) as tmp:
        upstream = os.path.join(tmp, "upstream.bin")
        _make(upstream, size)
        os.chmod(upstream, 0o444)
        placer = Placer()
        up_s, up_bytes, up_how = _place(placer, upstream, os.path.join(tmp, "task1-in.bin"))
        user = os.path.join(tmp, "user.bin")
        _make(user, size)
        first_s, first_bytes, first_how = _place(placer, user, os.path.join(tmp, "task2-in.bin"))
        again_s, again_bytes, again_how = _place(placer, user, os.path.join(tmp, "task3-in.bin"))
    return {
        "scenario": "input_placement",
        "input_bytes": size,
        "upstream_output": {"seconds": round(up_s, 4), "bytes_written": up_bytes, "how": up_how},
        "user_file_first_task": {
            "seconds": round(first_s, 3),
            "bytes_written": first_bytes,
            "how": first_how,
        },
        "user_file_later_tasks": {
            "seconds": round(again_s, 4),
            "bytes_written": again_bytes,
            "how": again_how,
        },
        "target": "an upstream output is placed with no copy (0 bytes written)",
        "met": up_bytes < 1024 * 1024 and up_how == "link",
    }
