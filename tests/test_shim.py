"""The platform shim: transparent to the command it wraps, and what it records is right."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chalicelib import shim

MODES = list(shim.MODES)


@pytest.fixture(scope="module")
def shim_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    return shim.place(str(tmp_path_factory.mktemp("platform")))


def run(
    argv: list[str], cwd: Path, stdin: bytes = b"", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(argv, input=stdin, capture_output=True, cwd=cwd, timeout=30, env=env)


# Commands whose output, error output and status the shim must leave exactly as they are.
COMMANDS = {
    "succeeds": "echo out; echo err >&2",
    "fails": "echo partial; printf 'no newline' >&2; exit 3",
    "exits 255": "exit 255",
    "not found": "no-such-command-anywhere",
    "reads stdin": "tr a-z A-Z; echo done >&2",
    "binary output": "printf '\\000\\377\\001'; printf '\\002' >&2",
    "killed by SIGKILL": "echo before; kill -KILL $$",
    "killed by SIGTERM": "kill -TERM $$",
    "exit 137 itself": "exit 137",
    "many lines": "i=0; while [ $i -lt 2000 ]; do echo line $i; echo e$i >&2; i=$((i+1)); done",
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_command_sees_and_gives_the_same_as_without_the_shim(
    shim_file: str, tmp_path: Path, mode: str, name: str
) -> None:
    command = ["/bin/sh", "-c", COMMANDS[name]]
    stdin = b"hello stdin\n"
    direct = run(command, tmp_path, stdin)
    usage = tmp_path / "usage.json"
    wrapped = run(shim.shim_argv(shim_file, str(usage), mode, command), tmp_path, stdin)
    # A death by signal N comes back as the shell's 128+N (what ECS and the launcher report).
    expected = 128 - direct.returncode if direct.returncode < 0 else direct.returncode
    assert (wrapped.returncode, wrapped.stdout, wrapped.stderr) == (
        expected,
        direct.stdout,
        direct.stderr,
    )
    recorded = shim.read_usage(str(usage))
    assert recorded is not None and recorded["exit_code"] == expected


def test_sigterm_reaches_the_command_which_keeps_its_grace_period(
    shim_file: str, tmp_path: Path
) -> None:
    script = (
        "trap 'echo got TERM; sleep 0.3; echo cleaned; exit 7' TERM; echo ready;"
        " while :; do sleep 0.05; done"
    )
    proc = subprocess.Popen(
        shim.shim_argv(
            shim_file, str(tmp_path / "usage.json"), "container", ["/bin/sh", "-c", script]
        ),
        stdout=subprocess.PIPE,
        cwd=tmp_path,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 7
    assert out == b"got TERM\ncleaned\n"


def test_a_usage_file_that_cannot_be_written_changes_nothing(
    shim_file: str, tmp_path: Path
) -> None:
    usage = tmp_path / "missing-dir" / "usage.json"
    done = run(
        shim.shim_argv(shim_file, str(usage), "process", ["sh", "-c", "echo x; exit 5"]), tmp_path
    )
    assert (done.returncode, done.stdout, done.stderr) == (5, b"x\n", b"")


BURN = """
import sys, time
block = bytearray({mib} * 1024 * 1024)
for i in range(0, len(block), 4096):
    block[i] = 1
start = time.process_time()
while time.process_time() - start < {cpu}:
    pass
time.sleep(0.3)
with open("out.bin", "wb") as f:
    f.write(b"x" * {disk_kib} * 1024)
"""


@pytest.mark.parametrize("mode", MODES)
def test_memory_cpu_and_disk_are_measured_within_tolerance(
    shim_file: str, tmp_path: Path, mode: str
) -> None:
    """A task that really allocates 200 MiB, burns 1 s of CPU in a child process (so the
    figures are the process tree's, not the shim's) and writes 3 MiB."""
    code = BURN.format(mib=200, cpu=1.0, disk_kib=3072)
    usage = tmp_path / "usage.json"
    command = ["/bin/sh", "-c", f"{sys.executable} -c '{code}'"]
    started = time.time()
    done = run(shim.shim_argv(shim_file, str(usage), mode, command), tmp_path)
    assert done.returncode == 0, done.stderr
    recorded = shim.read_usage(str(usage))
    assert recorded is not None, usage.read_text()
    # here the cgroup is shared with the whole machine: both modes sample /proc
    assert recorded["memory_source"] == "proc"
    assert 200 <= recorded["peak_memory_mib"] <= 320
    # 1 s of burning, plus the start-up and 200 MiB of page faults (0.2-0.6 s, more on a busy
    # machine); counting the tree twice would give 2.4 s or more
    assert 0.9 <= recorded["cpu_seconds"] <= 2.0
    assert 2.9 <= recorded["disk_mib"] <= 3.5
    assert 1.2 <= recorded["seconds"] <= time.time() - started + 0.1
    assert recorded["started_at"] <= recorded["ended_at"]


def fake_cgroup(root: Path, version: int, procs: int) -> Path:
    """A cgroup tree as a container sees its own (``procs`` processes in it)."""
    if version == 2:
        root.mkdir()
        (root / "cgroup.controllers").write_text("cpu memory\n")
        (root / "cgroup.procs").write_text("".join(f"{i}\n" for i in range(1, procs + 1)))
        (root / "memory.current").write_text("1000\n")
        (root / "memory.peak").write_text(f"{300 * 1024 * 1024}\n")
        (root / "cpu.stat").write_text("usage_usec 1000000\nuser_usec 1\n")
        return root / "cpu.stat"
    (root / "memory").mkdir(parents=True)
    (root / "cpuacct").mkdir()
    (root / "memory" / "cgroup.procs").write_text("1\n2\n")
    (root / "cpuacct" / "cgroup.procs").write_text("1\n2\n")
    (root / "memory" / "memory.max_usage_in_bytes").write_text(f"{100 * 1024 * 1024}\n")
    (root / "cpuacct" / "cpuacct.usage").write_text("5000000000\n")
    return root / "cpuacct" / "cpuacct.usage"


def shim_env(root: Path, proc_cgroup: str) -> dict[str, str]:
    (root.parent / "proc-cgroup").write_text(proc_cgroup)
    return {
        **os.environ,
        "MINIWDL_FARGATE_SHIM_CGROUP_ROOT": str(root),
        "MINIWDL_FARGATE_SHIM_PROC_CGROUP": str(root.parent / "proc-cgroup"),
    }


def test_a_containers_own_cgroup_v2_gives_peak_memory_and_cpu(
    shim_file: str, tmp_path: Path
) -> None:
    cpu_stat = fake_cgroup(tmp_path / "cg", 2, procs=2)
    env = shim_env(tmp_path / "cg", "0::/\n")
    # the "container" uses 2.5 s of CPU while the command runs
    command = ["/bin/sh", "-c", f"echo 'usage_usec 3500000' > {cpu_stat}; echo ran"]
    usage = tmp_path / "usage.json"
    done = run(shim.shim_argv(shim_file, str(usage), "container", command), tmp_path, env=env)
    assert (done.returncode, done.stdout) == (0, b"ran\n")
    recorded = shim.read_usage(str(usage))
    assert recorded is not None
    assert (recorded["memory_source"], recorded["peak_memory_mib"]) == ("cgroup2", 300.0)
    assert (recorded["cpu_source"], recorded["cpu_seconds"]) == ("cgroup2", 2.5)


def test_cgroup_v1_is_the_fallback(shim_file: str, tmp_path: Path) -> None:
    usage_file = fake_cgroup(tmp_path / "cg", 1, procs=2)
    env = shim_env(tmp_path / "cg", "4:memory:/\n2:cpu,cpuacct:/\n0::/\n")
    command = ["/bin/sh", "-c", f"echo 7000000000 > {usage_file}"]
    usage = tmp_path / "usage.json"
    done = run(shim.shim_argv(shim_file, str(usage), "container", command), tmp_path, env=env)
    assert done.returncode == 0
    recorded = shim.read_usage(str(usage))
    assert recorded is not None
    assert (recorded["memory_source"], recorded["peak_memory_mib"]) == ("cgroup1", 100.0)
    assert (recorded["cpu_source"], recorded["cpu_seconds"]) == ("cgroup1", 2.0)


def test_a_cgroup_v1_cpu_group_shared_with_the_host_is_not_taken_for_the_tasks_own(
    shim_file: str, tmp_path: Path
) -> None:
    # the task's memory group is its own (the local mode's memory limit), its cpuacct the host's
    fake_cgroup(tmp_path / "cg", 1, procs=2)
    (tmp_path / "cg" / "cpuacct" / "cgroup.procs").write_text("".join(f"{i}\n" for i in range(40)))
    env = shim_env(tmp_path / "cg", "4:memory:/\n2:cpu,cpuacct:/\n0::/\n")
    usage = tmp_path / "usage.json"
    run(shim.shim_argv(shim_file, str(usage), "container", ["true"]), tmp_path, env=env)
    recorded = shim.read_usage(str(usage))
    assert recorded is not None and recorded["memory_source"] == "cgroup1"
    assert recorded["cpu_source"] == "times"


def test_a_shared_cgroup_is_not_taken_for_the_tasks_own(shim_file: str, tmp_path: Path) -> None:
    fake_cgroup(tmp_path / "cg", 2, procs=40)  # the host's: many processes
    env = shim_env(tmp_path / "cg", "0::/\n")
    usage = tmp_path / "usage.json"
    run(shim.shim_argv(shim_file, str(usage), "container", ["true"]), tmp_path, env=env)
    recorded = shim.read_usage(str(usage))
    assert recorded is not None and recorded.get("memory_source") != "cgroup2"
    assert recorded["cpu_source"] == "times"


def test_the_process_mode_never_reads_the_cgroup(shim_file: str, tmp_path: Path) -> None:
    fake_cgroup(tmp_path / "cg", 2, procs=1)
    env = shim_env(tmp_path / "cg", "0::/\n")
    usage = tmp_path / "usage.json"
    run(shim.shim_argv(shim_file, str(usage), "process", ["true"]), tmp_path, env=env)
    recorded = shim.read_usage(str(usage))
    assert recorded is not None and recorded["cpu_source"] == "times"


def test_place_is_idempotent_and_content_addressed(tmp_path: Path) -> None:
    first = shim.place(str(tmp_path))
    assert shim.place(str(tmp_path)) == first
    assert Path(first).read_text() == shim.SCRIPT and shim.DIGEST in first
    assert os.listdir(os.path.dirname(first)) == [os.path.basename(first)]


@pytest.mark.parametrize(
    "raw",
    ["", "not json", "[]", '{"v": 2}', json.dumps({"v": 1, "exit_code": "0"})],
)
def test_parse_usage_refuses_what_is_not_the_shims(raw: str) -> None:
    parsed = shim.parse_usage(raw)
    assert parsed is None or parsed == {}


def test_parse_usage_converts_each_source() -> None:
    base = {"v": 1, "start_epoch": 1700000000, "uptime_start": 10.5, "uptime_end": 12.75}
    proc = shim.parse_usage(
        json.dumps(
            {
                **base,
                "exit_code": 0,
                "memory_source": "proc",
                "memory": 25600,
                "page_size": 4096,
                "cpu_source": "times",
                "times": "1m2.500000s 0m0.500000s",
                "disk_kib": 2048,
                "inputs_kib": 1024,
            }
        )
    )
    assert proc == {
        "exit_code": 0,
        "seconds": 2.25,
        "started_at": "2023-11-14T22:13:20.000Z",
        "ended_at": "2023-11-14T22:13:22.250Z",
        "cpu_seconds": 63.0,
        "cpu_source": "times",
        "peak_memory_mib": 100.0,
        "memory_source": "proc",
        "disk_mib": 2.0,
        "inputs_mib": 1.0,
    }
    none = shim.parse_usage(json.dumps({**base, "memory": None, "uptime_end": 1.0}))
    assert none is not None and "seconds" not in none and "peak_memory_mib" not in none


def test_shim_argv_rejects_unknown_modes() -> None:
    with pytest.raises(ValueError, match="mode"):
        shim.shim_argv("/s.sh", "/u.json", "docker", ["true"])


@pytest.mark.parametrize("mode", MODES)
def test_commands_that_end_at_once_never_leave_the_shim_waiting(
    shim_file: str, tmp_path: Path, mode: str
) -> None:
    """The memory sampler is stopped however soon the command ends (a stop signal sent just
    after its fork could once be lost, and the shim waited for it forever)."""
    usage = tmp_path / "usage.json"
    started = time.monotonic()
    for _ in range(40):
        done = subprocess.run(
            shim.shim_argv(shim_file, str(usage), mode, ["/bin/sh", "-c", "exit 3"]),
            capture_output=True,
            timeout=10,
            cwd=tmp_path,
        )
        assert done.returncode == 3
    assert time.monotonic() - started < 20


def test_recorded_usage_reaches_the_wes_task_log_and_the_notifications() -> None:
    from chalicelib.memory_store import MemoryStore
    from chalicelib.notifications import TASK_USAGE_DETAIL_TYPE, Notification
    from chalicelib.records import TaskRecord
    from chalicelib.states import State
    from chalicelib.status import ControlPlane, record_usage
    from chalicelib.wes import task_log

    class Sent:
        def __init__(self) -> None:
            self.notes: list[Notification] = []

        def publish(self, notes: list[Notification]) -> None:
            self.notes += notes

    usage = {"peak_memory_mib": 812.5, "cpu_seconds": 3.25, "disk_mib": 1.0, "cpu_source": "x"}
    pending = [{"detail_type": "WDL Task State Change", "detail": {"state": "COMPLETE"}}]
    done = TaskRecord(
        task_id="t", run_id="r", state=State.COMPLETE, updated_at="now", unannounced=pending
    )
    sent = Sent()
    plane = ControlPlane(store=MemoryStore(), notifier=sent, launcher=None)  # type: ignore[arg-type]
    assert plane.store.put_task(dataclasses.replace(done, revision=1), None)
    measured = record_usage(plane, dataclasses.replace(done, revision=1), usage)
    assert measured.usage == usage and plane.store.get_task("t") == measured
    # announced once, on its own: the state change still in the outbox is the handler's to send
    assert [n.detail_type for n in sent.notes] == [TASK_USAGE_DETAIL_TYPE]
    assert sent.notes[0].detail["usage"] == usage
    assert measured.unannounced == pending
    assert record_usage(plane, done, usage) == measured and len(sent.notes) == 1
    tags = task_log(measured, base_url="http://localhost")["tags"]
    assert (tags["peak_memory_mib"], tags["cpu_seconds"], tags["disk_mib"]) == (
        "812.5",
        "3.25",
        "1.0",
    )
    assert "cpu_source" not in tags
