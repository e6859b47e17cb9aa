"""Hard memory limits for the local mode's tasks, enforced by the kernel as Fargate enforces them.

A task attempt that declares ``memory`` runs in a memory cgroup of its own with that limit, so
a task that exceeds it is killed (exit 137) as it would be on Fargate, and the launcher reports
ECS's ``OutOfMemoryError`` reason for it (``out_of_memory``), which makes the retry ask for more.

cgroup v2 is used where this process's group lets it create children with the memory controller
(``memory.max``), else cgroup v1's memory hierarchy (``memory.limit_in_bytes``). Where neither
is writable (no cgroups, not permitted) ``find_root`` returns None and limits are not enforced.
Groups are made under ``miniwdl-fargate/`` in this process's own group, one per attempt, and
removed when it ends.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)

PARENT = "miniwdl-fargate"


@dataclass(frozen=True)
class MemoryCgroup:
    """One attempt's memory cgroup."""

    path: str
    version: int

    def argv(self, command: list[str]) -> list[str]:
        """``command``, run from inside this group: a shell moves itself in, then execs it, so
        every process the command starts is in the group from its first allocation."""
        procs = os.path.join(self.path, "cgroup.procs")
        return ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', procs, *command]

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process of this group for exceeding its limit."""
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            with open(os.path.join(self.path, name), encoding="ascii") as events:
                for line in events:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value) > 0
        except (OSError, ValueError):
            pass
        return False

    def remove(self) -> None:
        """Remove the group once its processes are gone (killed ones may take a moment)."""
        for _ in range(50):
            try:
                os.rmdir(self.path)
                return
            except FileNotFoundError:
                return
            except OSError:  # EBUSY: a process is still leaving
                time.sleep(0.01)
        log.warning("memory cgroup %s could not be removed", self.path)


@dataclass(frozen=True)
class CgroupRoot:
    """A directory where this process may create memory cgroups."""

    path: str
    version: int

    def create(self, name: str, limit_bytes: int) -> MemoryCgroup:
        """A new group ``name`` limited to ``limit_bytes`` of memory, and no swap beyond it.
        Raises ``OSError`` if it can't be made (nothing is left behind then)."""
        path = os.path.join(self.path, name)
        os.mkdir(path)
        try:
            if self.version == 2:
                _write(path, "memory.max", str(limit_bytes))
                with contextlib.suppress(OSError):  # kernels without swap accounting
                    _write(path, "memory.swap.max", "0")
            else:
                _write(path, "memory.limit_in_bytes", str(limit_bytes))
                with contextlib.suppress(OSError):
                    _write(path, "memory.memsw.limit_in_bytes", str(limit_bytes))
        except OSError:
            with contextlib.suppress(OSError):
                os.rmdir(path)
            raise
        return MemoryCgroup(path, self.version)


@functools.cache
def host_root() -> CgroupRoot | None:
    """This host's root for task groups, found once (None: limits can't be enforced here)."""
    root = find_root()
    if root is None:
        log.info("memory cgroups are not writable here: task memory limits are not enforced")
    return root


def find_root(
    proc_cgroup: str = "/proc/self/cgroup", mountinfo: str = "/proc/self/mountinfo"
) -> CgroupRoot | None:
    """Where this process may create memory cgroups: v2 first, then v1; None if neither."""
    try:
        with open(proc_cgroup, encoding="utf-8") as f:
            memberships = parse_proc_cgroup(f.read())
        with open(mountinfo, encoding="utf-8") as f:
            mounts = parse_mountinfo(f.read())
    except OSError:
        return None
    for version in (2, 1):
        directory = own_group_dir(memberships, mounts, version)
        if directory is None:
            continue
        root = _prepare(directory, version)
        if root is not None:
            return root
    return None


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """``/proc/self/cgroup`` as {hierarchy: path}: "" for v2's unified one, "memory" for v1's
    memory hierarchy (the only ones this module needs)."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy_id, controllers, path = parts
        if hierarchy_id == "0" and controllers == "":
            found[""] = path
        elif "memory" in controllers.split(","):
            found["memory"] = path
    return found


def parse_mountinfo(text: str) -> dict[str, tuple[str, str]]:
    """The cgroup mounts of ``/proc/self/mountinfo`` as {hierarchy: (root in it, mount point)},
    keyed as ``parse_proc_cgroup`` keys them."""
    found: dict[str, tuple[str, str]] = {}
    for line in text.splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        dash = fields.index("-")
        if len(fields) < dash + 4 or dash < 5:
            continue
        fs_type, options = fields[dash + 1], fields[dash + 3]
        root, mount_point = _unescape(fields[3]), _unescape(fields[4])
        if fs_type == "cgroup2":
            found.setdefault("", (root, mount_point))
        elif fs_type == "cgroup" and "memory" in options.split(","):
            found.setdefault("memory", (root, mount_point))
    return found


def own_group_dir(
    memberships: dict[str, str], mounts: dict[str, tuple[str, str]], version: int
) -> str | None:
    """The directory of this process's own group in the v2 or v1 memory hierarchy, if mounted
    here (a path outside the mount's root, as in another namespace's view, is not)."""
    key = "" if version == 2 else "memory"
    if key not in memberships or key not in mounts:
        return None
    path = memberships[key]
    root, mount_point = mounts[key]
    relative = os.path.relpath(path, root)
    if relative == os.pardir or relative.startswith(os.pardir + os.sep):
        return None
    return os.path.normpath(os.path.join(mount_point, relative))


def _prepare(directory: str, version: int) -> CgroupRoot | None:
    """Make (or reuse) ``directory/miniwdl-fargate`` as the parent of task groups, if allowed.

    In v2 its children get the memory controller only through its ``cgroup.subtree_control``,
    and only if this process's group passes the controller on: then it is enabled there."""
    if version == 2 and "memory" not in _read(directory, "cgroup.subtree_control").split():
        return None
    parent = os.path.join(directory, PARENT)
    try:
        os.makedirs(parent, exist_ok=True)
        if version == 2 and "memory" not in _read(parent, "cgroup.subtree_control").split():
            _write(parent, "cgroup.subtree_control", "+memory")
        limit_file = "memory.max" if version == 2 else "memory.limit_in_bytes"
        probe = CgroupRoot(parent, version).create(f"probe-{os.getpid()}", 1 << 40)
        exists = os.path.exists(os.path.join(probe.path, limit_file))
        os.rmdir(probe.path)
    except OSError:
        return None
    return CgroupRoot(parent, version) if exists else None


def _read(directory: str, name: str) -> str:
    try:
        with open(os.path.join(directory, name), encoding="ascii") as f:
            return f.read()
    except OSError:
        return ""


def _write(directory: str, name: str, value: str) -> None:
    with open(os.path.join(directory, name), "w", encoding="ascii") as f:
        f.write(value)


def _unescape(field: str) -> str:
    """mountinfo's octal escapes (``\\040`` for a space)."""
    return field.encode("ascii", "backslashreplace").decode("unicode_escape")
