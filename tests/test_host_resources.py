"""Host-wide cpu and memory reservations (``host_resources``): several local runs at once never
together reserve more than the host has, and a dead process holds nothing."""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from pathlib import Path

import pytest
from local_mode import WDL_DIR, LocalMode, Result

from chalicelib.host_resources import HostResources, fits


def test_fits_counts_every_entry() -> None:
    entries = {"a": {"cpu": 1, "memory": 10}, "b": {"cpu": 1, "memory": 10}}
    assert fits(entries, 0, 0, (2, 20))
    assert not fits(entries, 1, 0, (2, 20)) and not fits(entries, 0, 1, (2, 20))


def test_two_processes_share_one_ledger(tmp_path: Path) -> None:
    ledger = str(tmp_path / "resources.json")
    first, second = HostResources(2, 100, ledger), HostResources(2, 100, ledger)
    held = threading.Event()

    def hold() -> None:
        with first.reserve(2, 10):
            held.set()
            time.sleep(0.6)

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(5)
    with second.reserve(1, 10) as waited:
        assert waited >= 0.3  # waited for the other reservation to end
    holder.join()
    assert json.loads(Path(ledger).read_text()) == {}


def test_a_dead_process_holds_nothing(tmp_path: Path) -> None:
    ledger = tmp_path / "resources.json"
    ledger.write_text(json.dumps({"x": {"pid": 2**22 + 7, "started": 1.0, "cpu": 2, "memory": 1}}))
    with HostResources(2, 100, str(ledger)).reserve(2, 1) as waited:
        assert waited < 0.2


def test_many_waiters_do_not_each_poll_the_ledger(tmp_path: Path) -> None:
    """A big scatter waits with hundreds of attempts: one of them at a time re-reads the ledger
    for other processes' releases, and a release here wakes only those that may fit."""
    ledger = str(tmp_path / "resources.json")
    resources = HostResources(1, 100, ledger)
    transactions = []
    real = resources._transaction

    def counted(change):  # type: ignore[no-untyped-def]
        transactions.append(time.monotonic())
        return real(change)

    resources._transaction = counted  # type: ignore[method-assign]
    order: list[int] = []

    def attempt(i: int) -> None:
        with resources.reserve(1, 1):
            order.append(i)
            time.sleep(0.05)

    first = threading.Thread(target=attempt, args=(-1,))
    first.start()
    time.sleep(0.02)
    waiters = [threading.Thread(target=attempt, args=(i,)) for i in range(40)]
    for thread in waiters:
        thread.start()
    for thread in [first, *waiters]:
        thread.join(30)
    assert sorted(order) == list(range(-1, 40))
    # about 3 per attempt (its add, its release, and a poll now and then), not one per waiter
    # per release or per tenth of a second
    assert len(transactions) < 41 * 4, len(transactions)
    assert json.loads(Path(ledger).read_text()) == {}


def test_a_waiter_sees_room_freed_by_another_process(tmp_path: Path) -> None:
    ledger = tmp_path / "resources.json"
    other = {"x": {"pid": os.getppid(), "started": 0.0, "cpu": 1, "memory": 1}}
    ledger.write_text(json.dumps(other))  # a live process's entry? its start time says not
    resources = HostResources(1, 100, str(ledger))
    with resources.reserve(1, 1) as waited:
        assert waited < 0.5
    blocker = HostResources(1, 100, str(ledger))
    released = threading.Event()

    def hold() -> None:
        with blocker.reserve(1, 1):
            released.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    time.sleep(0.1)
    waits: list[float] = []

    def wait() -> None:
        with resources.reserve(1, 1) as waited:
            waits.append(waited)

    waiters = [threading.Thread(target=wait) for _ in range(3)]
    for thread in waiters:
        thread.start()
    time.sleep(0.5)
    assert waits == []
    released.set()  # freed by "another process" (another HostResources): found by polling
    for thread in waiters:
        thread.join(10)
    holder.join()
    assert len(waits) == 3


@pytest.mark.e2e
def test_two_runs_at_once_never_exceed_the_host(tmp_path: Path) -> None:
    local = LocalMode(tmp_path)
    timeline = tmp_path / "timeline"
    runs: list[Result] = []

    def submit() -> None:
        runs.append(
            local.cli(
                "submit",
                str(WDL_DIR / "greedy.wdl"),
                f"log={timeline}",
                f"cpu={os.cpu_count()}",
                "seconds=1",
                MINIWDL__CALL_CACHE__GET="false",  # the second run must run its tasks too
            )
        )

    submitters = [threading.Thread(target=submit) for _ in range(2)]
    for thread in submitters:
        thread.start()
    for thread in submitters:
        thread.join()
    assert all(r.code == 0 for r in runs), [r.err for r in runs]
    store = local.store()
    deadline = time.monotonic() + 90
    for run in runs:
        run_id = run.out.strip()
        while (r := store.get_run(run_id)) is None or r.state.value != "COMPLETE":
            in_flight = r is None or r.state.value in ("QUEUED", "INITIALIZING", "RUNNING")
            assert in_flight and time.monotonic() < deadline, r
            time.sleep(0.1)
    # Each task writes its name when it starts and when it ends; as no two may run at once,
    # every start is followed by its own end before anything else.
    lines = [line.split() for line in timeline.read_text().splitlines()]
    assert len(lines) == 12
    intervals = []
    for (task, start), (same, end) in zip(lines[::2], lines[1::2], strict=True):
        assert task == same, f"a task started while another ran: {lines}"
        intervals.append([float(start), float(end)])
    intervals.sort()
    for (_, end), (start, _) in itertools.pairwise(intervals):
        assert start >= end, f"tasks of the two runs overlapped: {intervals}"
