"""Operations on a submitted run that clients share: find it, cancel it, wait for it."""

from __future__ import annotations

import time
from collections.abc import Callable

from .records import RunRecord, utc_now
from .states import State, is_terminal
from .status import ControlPlane, change_run
from .store import NotFound, Store
from .transitions import request_cancel


class AmbiguousRun(LookupError):
    """A run id prefix that matches more than one run."""


def find_run(store: Store, run_id: str, *, scan_limit: int = 10_000) -> RunRecord:
    """The run with this id, or the only run whose id starts with it."""
    exact = store.get_run(run_id)
    if exact is not None:
        return exact
    matches: list[RunRecord] = []
    token, scanned = "", 0
    while scanned < scan_limit:
        page, token = store.list_runs(page_size=500, page_token=token)
        scanned += len(page)
        matches += [r for r in page if r.run_id.startswith(run_id)]
        if not token or len(matches) > 1:
            break
    if not matches or not run_id:
        raise NotFound(f"no run {run_id!r}")
    if len(matches) > 1:
        shown = ", ".join(r.run_id for r in matches[:5])
        raise AmbiguousRun(f"run id {run_id!r} matches several runs: {shown}")
    return matches[0]


def cancel_run(plane: ControlPlane, run_id: str) -> RunRecord:
    """Ask the run to stop: CANCELING, then its orchestrator is stopped; its events finish the
    job (the orchestrator stops its tasks and the run becomes CANCELED). A run still waiting for
    admission in its group leaves the queue CANCELED at once: nothing ran, nothing to stop.
    Returns the run."""
    if plane.admission is not None:
        from .admission import cancel_queued

        queued = cancel_queued(plane, run_id)
        if queued is not None:
            return queued
    changed = change_run(plane, run_id, lambda r: request_cancel(r, utc_now()))
    run = changed or plane.store.get_run(run_id)
    if run is None:
        raise NotFound(f"no run {run_id!r}")
    if run.state == State.CANCELING and run.orchestrator_arn:
        plane.launcher.stop_task(run.orchestrator_arn, "the run was canceled")
    return run


def wait_for_run(
    store: Store,
    run_id: str,
    *,
    timeout: float | None = None,
    interval: float = 0.1,
    on_poll: Callable[[RunRecord], None] | None = None,
) -> RunRecord:
    """Poll the store until the run is terminal (or ``timeout``); returns the last record read."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        run = store.get_run(run_id)
        if run is None:
            raise NotFound(f"no run {run_id!r}")
        if on_poll is not None:
            on_poll(run)
        if is_terminal(run.state) or (deadline is not None and time.monotonic() >= deadline):
            return run
        time.sleep(interval)
