"""``RunService`` over the WES API (``MINIWDL_FARGATE_API``): a deployment, or ``serve``."""

from __future__ import annotations

import urllib.parse
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .records import TaskRecord
from .run_control import AmbiguousRun
from .run_service import CliError, RunInfo, RunRow, Submission
from .states import State
from .store import NotFound
from .transitions import progress
from .wes_http import LocationError, RunLog, TaskLog, WesClient, WesError
from .wes_locations import stream_location
from .wes_package import package_run

FIND_SCAN_LIMIT = 10_000
LIST_DETAIL_THREADS = 8


class WesRunService:
    """Runs behind a WES API, through its HTTP client."""

    def __init__(self, client: WesClient) -> None:
        self.client = client
        self.work_root: str | None = None
        self.poll_interval = 0.2 if client.is_local else 1.0
        self.tasks_every = 0.5 if client.is_local else 2.0

    def submit(self, submission: Submission) -> str:
        """Package the WDL and inputs and ``POST /runs``. One idempotency key per submission:
        the client's retries of the call cannot start a second run."""
        request = package_run(
            submission.wdl,
            submission.inputs,
            submission.input_file,
            task=submission.task,
            tags=submission.tags,
            options=submission.options,
            empty=submission.empty,
            none=submission.none,
            import_dirs=submission.import_dirs,
            no_outside_imports=submission.no_outside_imports,
        )
        return self.client.submit_run(request, idempotency_key=str(uuid.uuid4()))

    def find_run(self, run_id: str) -> str:
        """As ``run_control.find_run``: the API takes full ids, so prefixes are matched on its
        list."""
        if not run_id:
            raise NotFound(f"no run {run_id!r}")
        try:
            return self.client.get_run_status(run_id)["run_id"]
        except WesError as exn:
            if exn.status_code != 404:
                raise
        matches: list[str] = []
        token, scanned = "", 0
        while scanned < FIND_SCAN_LIMIT:
            page, token = self.client.list_runs(page_size=1000, page_token=token)
            scanned += len(page)
            matches += [r["run_id"] for r in page if r["run_id"].startswith(run_id)]
            if not token or len(matches) > 1:
                break
        if not matches:
            raise NotFound(f"no run {run_id!r}")
        if len(matches) > 1:
            raise AmbiguousRun(f"run id {run_id!r} matches several runs: {', '.join(matches[:5])}")
        return matches[0]

    def refresh(self) -> None:
        """The deployment repairs its own records (its sweep), and so does ``serve``."""

    def state(self, run_id: str) -> str:
        return self.client.get_run_status(run_id)["state"]

    def info(self, run_id: str) -> RunInfo:
        return run_info(self.client.get_run(run_id))

    def tasks(self, run_id: str) -> list[TaskRecord]:
        return [task_record(run_id, t) for t in self.client.all_tasks(run_id)]

    def outputs(self, run_id: str) -> dict[str, Any]:
        return dict(self.client.get_run(run_id).get("outputs") or {})

    def list_rows(self, state: State | None, limit: int) -> list[RunRow]:
        run_ids: list[str] = []
        token = ""
        while len(run_ids) < limit:
            page, token = self.client.list_runs(
                page_size=min(1000, limit - len(run_ids)),
                page_token=token,
                state=state.value if state else None,
            )
            run_ids += [r["run_id"] for r in page]
            if not token:
                break

        def row(run_id: str) -> RunRow:
            # WES lists ids and states only: the other columns need the run and its tasks.
            try:
                info = self.info(run_id)
                counts = progress(self.tasks(run_id))
            except WesError as exn:
                if exn.status_code != 404:
                    raise
                return RunRow(run_id, None, None)
            return RunRow(run_id, info, counts)

        with ThreadPoolExecutor(max_workers=LIST_DETAIL_THREADS) as pool:
            return list(pool.map(row, run_ids[:limit]))

    def cancel(self, run_id: str) -> None:
        self.client.cancel_run(run_id)

    def run_log(self, run_id: str, stdout: bool) -> str | None:
        log = self.client.get_run(run_id).get("run_log") or {}
        return log.get("stdout") if stdout else (log.get("stderr") or log.get("stdout"))

    def read(
        self, location: str, *, tail_bytes: int | None = None, offset: int = 0
    ) -> Iterator[bytes]:
        if self.client.owns(location):
            return self.client.stream_url(location, tail_bytes=tail_bytes, start=offset)
        return stream_location(location, tail_bytes=tail_bytes, offset=offset)

    def report(self, run_id: str) -> bytes:
        """``GET /runs/{run_id}/report``, this API's route beside WES's run log."""
        url = f"{self.client.base_url}/runs/{urllib.parse.quote(run_id, safe='')}/report"
        try:
            return b"".join(self.client.stream_url(url))
        except LocationError as exn:
            raise CliError(f"the API gave no report for run {run_id}: {exn}") from None

    def save_report(self, run_id: str, page: bytes) -> str | None:
        """The run's results are the API's (S3 on AWS, the server's home with ``serve``)."""
        return None


def run_info(run: RunLog) -> RunInfo:
    """The CLI's view of a WES ``RunLog`` with this API's extensions (pure)."""
    log = run.get("run_log") or {}
    extra: dict[str, Any] = dict(run)
    submitted = extra.get("submitted_at") or extra.get("created_at")
    exit_code = log.get("exit_code")
    return RunInfo(
        run_id=str(run.get("run_id") or ""),
        state=str(run.get("state") or ""),
        workflow=log.get("name"),
        submitted=str(submitted) if submitted else None,
        started=log.get("start_time"),
        ended=log.get("end_time"),
        run_dir=extra.get("run_dir"),
        log=log.get("stderr") or log.get("stdout"),
        outputs_location=extra.get("outputs_location"),
        error=run.get("error"),
        exit_code=exit_code if isinstance(exit_code, int) else None,
        cost=run.get("cost"),
    )


def task_record(run_id: str, log: TaskLog) -> TaskRecord:
    """A WES task log as a task record, so progress and call lookup are shared (pure)."""
    tags = log.get("tags") or {}
    try:
        state = State(str(tags.get("state") or State.QUEUED.value))
    except ValueError:
        state = State.QUEUED
    try:
        attempt = int(tags.get("attempt") or 1)
    except (TypeError, ValueError):
        attempt = 1
    task_id = str(log.get("id") or "")
    name = str(log.get("name") or "")
    return TaskRecord(
        task_id=task_id,
        run_id=run_id,
        state=state,
        updated_at=log.get("end_time") or log.get("start_time") or "",
        call_id="" if name == task_id else name,
        attempt=attempt,
        exit_code=log.get("exit_code"),
        started_at=log.get("start_time"),
        stopped_at=log.get("end_time"),
        stdout=log.get("stdout"),
        stderr=log.get("stderr"),
    )
