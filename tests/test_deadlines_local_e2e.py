"""A run's deadline in the local mode, end to end through the CLI: the run's agent arms a timer
at the deadline its admission recorded, and when it fires the run is canceled with the reason,
long before its task would have ended. Nothing polls: no CLI command (whose sweep would also
check deadlines) runs while the test waits, it reads the store."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from local_mode import LocalMode, leftover_processes

pytestmark = pytest.mark.e2e

NAP = (Path(__file__).parent / "wdl" / "nap.wdl").read_text()


def test_a_run_past_its_max_duration_is_canceled_by_its_agents_timer(tmp_path: Path) -> None:
    local = LocalMode(tmp_path)
    assert local.cli("group", "create", "short", "--max-duration", "2").code == 0
    wdl = tmp_path / "nap.wdl"
    wdl.write_text(NAP)
    started = time.monotonic()
    submitted = local.cli("submit", str(wdl), "--tag", "group=short")
    assert submitted.code == 0, submitted.err
    run_id = submitted.out.strip()
    store = local.store()
    assert store.get_run(run_id).deadline is not None
    local.wait_for(
        lambda: store.get_run(run_id).state.value == "CANCELED",
        timeout=40,
        what="the run canceled at its deadline",
    )
    elapsed = time.monotonic() - started
    run = store.get_run(run_id)
    assert run.error is not None
    assert run.error["message"] == (
        f"canceled: the run passed its group's max_duration (it had to end by {run.deadline})"
    )
    assert elapsed < 30, f"canceled after {elapsed:.1f} s: the task's own 60 s nearly ran out"
    deadline = time.monotonic() + 15
    while leftover_processes(local.home.root, run_id) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not leftover_processes(local.home.root, run_id)
