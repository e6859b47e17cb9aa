"""The local mode's memory limits (``memory_cgroup``): finding where this process may make memory
cgroups, and, where this host allows it, a real kill for exceeding a limit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib import memory_cgroup
from chalicelib.memory_cgroup import find_root, own_group_dir, parse_mountinfo, parse_proc_cgroup

HYBRID_CGROUP = """9:name=systemd:/
4:memory:/process_api/abc
1:cpu:/
0::/
"""
HYBRID_MOUNTS = """31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
# a container's view: its group is the mount's root, so it sees its group at the mount point
V2_CGROUP = "0::/kubepods/pod1/c1\n"
V2_MOUNTS = "30 23 0:27 /kubepods/pod1/c1 /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n"


def test_a_hybrid_hosts_memory_group_is_found_in_the_v1_hierarchy() -> None:
    memberships = parse_proc_cgroup(HYBRID_CGROUP)
    mounts = parse_mountinfo(HYBRID_MOUNTS)
    assert memberships == {"memory": "/process_api/abc", "": "/"}
    assert mounts == {
        "memory": ("/", "/sys/fs/cgroup/memory"),
        "": ("/", "/sys/fs/cgroup/unified"),
    }
    assert own_group_dir(memberships, mounts, 1) == "/sys/fs/cgroup/memory/process_api/abc"
    assert own_group_dir(memberships, mounts, 2) == "/sys/fs/cgroup/unified"


def test_a_group_is_found_relative_to_its_mounts_root() -> None:
    memberships, mounts = parse_proc_cgroup(V2_CGROUP), parse_mountinfo(V2_MOUNTS)
    assert own_group_dir(memberships, mounts, 2) == "/sys/fs/cgroup"
    assert own_group_dir(memberships, mounts, 1) is None  # no v1 memory hierarchy
    elsewhere = parse_proc_cgroup("0::/system.slice/other\n")
    assert own_group_dir(elsewhere, mounts, 2) is None  # outside what this mount shows


def test_directories_that_are_not_cgroups_are_not_taken_for_them(tmp_path: Path) -> None:
    # the files name a group, but the directory has no cgroup files: nothing is enforced
    (tmp_path / "memory" / "grp").mkdir(parents=True)
    cgroup = tmp_path / "cgroup"
    mountinfo = tmp_path / "mountinfo"
    cgroup.write_text("4:memory:/grp\n")
    mountinfo.write_text(f"35 31 0:32 / {tmp_path / 'memory'} rw - cgroup cgroup rw,memory\n")
    assert find_root(str(cgroup), str(mountinfo)) is None
    assert find_root(str(tmp_path / "missing"), str(mountinfo)) is None


ROOT = memory_cgroup.host_root()
needs_cgroups = pytest.mark.skipif(ROOT is None, reason="memory cgroups are not writable here")


@needs_cgroups
def test_a_process_past_its_limit_is_killed_and_reported(tmp_path: Path) -> None:
    assert ROOT is not None
    allocate = [sys.executable, "-c", "import sys; x = b'x' * (int(sys.argv[1]) << 20)"]
    group = ROOT.create("test-oom", 64 << 20)
    try:
        done = subprocess.run(group.argv([*allocate, "200"]), check=False)
        assert done.returncode == -9  # SIGKILL, which a shell reports as 137
        assert group.oom_killed()
    finally:
        group.remove()
    assert not Path(group.path).exists()
    within = ROOT.create("test-within", 256 << 20)
    try:
        assert subprocess.run(within.argv([*allocate, "50"]), check=False).returncode == 0
        assert not within.oom_killed()
    finally:
        within.remove()
