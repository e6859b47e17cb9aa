"""``RunService`` over the local mode's home: the store, launcher and objects on this machine."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

from .local_mode import LocalHome
from .objects import result_key
from .outputs import recorded_outputs
from .records import RunRecord, TaskRecord
from .run_control import cancel_run, find_run
from .run_service import CliError, RunInfo, RunRow, Submission
from .states import State
from .status import ControlPlane
from .store import NotFound
from .transitions import progress
from .wes_locations import stream_location

# A lost event must not leave a wait hanging: the records are swept this often while waiting.
SWEEP_EVERY_SECONDS = 5.0


class LocalRunService:
    """Runs in a local home; the orchestrators it starts outlive this process."""

    poll_interval = 0.05
    tasks_every = 0.5

    def __init__(self, home: LocalHome) -> None:
        self.home = home
        self.work_root: str | None = home.work_root
        self._plane: ControlPlane | None = None
        self._swept_at = time.monotonic()

    @property
    def plane(self) -> ControlPlane:
        if self._plane is None:
            self._plane = self.home.control_plane()
        return self._plane

    def submit(self, submission: Submission) -> str:
        from .submit import SubmitError, submit  # defers miniwdl's import to commands needing it
        from .validation import RequestError, validate_request

        try:
            request = validate_request(
                submission.wdl,
                list(submission.inputs),
                submission.input_file,
                task=submission.task,
                empty=submission.empty,
                none=submission.none,
                import_dirs=submission.import_dirs,
                no_outside_imports=submission.no_outside_imports,
            )
        except RequestError as exn:
            raise CliError(str(exn)) from None
        try:
            run = submit(
                request,
                plane=self.home.control_plane(detach=True),
                objects=self.home.objects(),
                orchestrator_spec=self.home.orchestrator_spec,
                tags=dict(submission.tags),
                options=dict(submission.options),
                cwd=os.getcwd(),
            )
        except SubmitError as exn:
            raise CliError(str(exn)) from None
        return run.run_id

    def find_run(self, run_id: str) -> str:
        return find_run(self.plane.store, run_id).run_id

    def refresh(self) -> None:
        self.home.sweep(self.plane)
        self._swept_at = time.monotonic()

    def state(self, run_id: str) -> str:
        if time.monotonic() - self._swept_at >= SWEEP_EVERY_SECONDS:
            self.refresh()
        return self._record(run_id).state.value

    def info(self, run_id: str) -> RunInfo:
        return run_info(self._record(run_id))

    def tasks(self, run_id: str) -> list[TaskRecord]:
        return self.plane.store.list_tasks(run_id)

    def outputs(self, run_id: str) -> dict[str, Any]:
        return recorded_outputs(self._record(run_id), self.home.objects())

    def list_rows(self, state: State | None, limit: int) -> list[RunRow]:
        store = self.plane.store
        runs: list[RunRecord] = []
        token = ""
        while len(runs) < limit:
            page, token = store.list_runs(
                state=state, page_size=min(500, limit - len(runs)), page_token=token
            )
            runs += page
            if not token:
                break
        return [RunRow(r.run_id, run_info(r), progress(store.list_tasks(r.run_id))) for r in runs]

    def cancel(self, run_id: str) -> None:
        cancel_run(self.plane, run_id)

    def run_log(self, run_id: str, stdout: bool) -> str | None:
        return self._record(run_id).orchestrator_log

    def read(
        self, location: str, *, tail_bytes: int | None = None, offset: int = 0
    ) -> Iterator[bytes]:
        return stream_location(location, tail_bytes=tail_bytes, offset=offset)

    def report(self, run_id: str) -> bytes:
        from .cost import spot_prices_from_environment
        from .report import ReportError, current_page

        try:
            return current_page(
                self.plane.store,
                self.home.objects(),
                run_id,
                work_root=self.home.work_root,
                prices=self.plane.prices,
                spot_prices=spot_prices_from_environment(),
            )
        except KeyError:
            raise NotFound(f"no run {run_id!r}") from None
        except ReportError as exn:
            raise CliError(str(exn)) from None

    def save_report(self, run_id: str, page: bytes) -> str | None:
        """``results/RUN/report.html`` in the home's objects, where the orchestrator put it."""
        from .report import REPORT_OBJECT

        return self.home.objects().put_bytes(result_key(run_id, REPORT_OBJECT), page)

    def _record(self, run_id: str) -> RunRecord:
        run = self.plane.store.get_run(run_id)
        if run is None:
            raise NotFound(f"no run {run_id!r}")
        return run


def run_info(run: RunRecord) -> RunInfo:
    """The CLI's view of a run record (pure)."""
    return RunInfo(
        run_id=run.run_id,
        state=run.state.value,
        workflow=run.workflow_name,
        submitted=run.created_at,
        started=run.start_time,
        ended=run.end_time,
        run_dir=run.run_dir,
        log=run.orchestrator_log,
        outputs_location=(run.outputs or {}).get("location"),
        error=run.error,
        exit_code=run.exit_code,
    )
