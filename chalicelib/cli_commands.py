"""The CLI's commands, each written once over ``RunService`` (the local home, or the WES API).

Each command takes the parsed arguments and a service, prints what the user asked for on stdout
(progress and failures on stderr) and returns the exit code. Refusals raise ``CliError``.
"""

from __future__ import annotations

import argparse
import codecs
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from .cli_follow import follow, watch
from .cli_run_flags import submission
from .records import TaskRecord
from .run_service import CliError, RunInfo, RunRow, RunService, find_task
from .states import State, parse_state
from .transitions import progress
from .wes_http import TERMINAL_STATES, LocationError

STDERR_TAIL_LINES = 20
STDERR_TAIL_BYTES = 64 * 1024
CANCEL_WAIT_SECONDS = 60.0


def cmd_submit(args: argparse.Namespace, service: RunService) -> int:
    run_id = service.submit(submission(args, service.work_root))
    if not (args.wait or args.follow):
        print(run_id)
        return 0
    # Waiting, the run id goes to stderr and stdout gets what ``run`` prints. Ctrl-C stops the
    # waiting only: a submitted run goes on (``run`` cancels it).
    print(f"run {run_id} submitted", file=sys.stderr)
    if args.follow:
        follow(service, run_id, lambda: service.run_log(run_id, True), sys.stderr)
    else:
        wait(service, run_id)
    return finish(args, service, run_id)


def cmd_run(args: argparse.Namespace, service: RunService) -> int:
    run_id = service.submit(submission(args, service.work_root))
    line = ProgressLine(
        sys.stderr, run_id, lambda: service.tasks(run_id), tasks_every=service.tasks_every
    )
    try:
        if args.follow:
            follow(service, run_id, lambda: service.run_log(run_id, True), sys.stderr)
        else:
            wait(service, run_id, on_poll=line.show)
    except KeyboardInterrupt:
        line.finish()
        print(f"interrupted: canceling run {run_id}", file=sys.stderr)
        service.cancel(run_id)
        state = wait(service, run_id, timeout=CANCEL_WAIT_SECONDS)
        print(f"run {run_id} {state}", file=sys.stderr)
        return 130
    line.finish()
    return finish(args, service, run_id)


def finish(args: argparse.Namespace, service: RunService, run_id: str) -> int:
    """Once the run has ended: its outputs JSON (as ``miniwdl run``: on stdout, or in ``-o``'s
    file), or its error on stderr (and its error JSON with ``--error-json`` or ``-o``); the exit
    code is the run's."""
    info = service.info(run_id)
    if info.state == State.COMPLETE.value:
        outputs = service.outputs(run_id)
        emit(args, {"run_id": run_id, "dir": info.run_dir, "outputs": outputs})
        return 0
    report_failure(service, info)
    if getattr(args, "error_json", False) or getattr(args, "stdout_file", None):
        emit(args, {"run_id": run_id, "state": info.state, **dict(info.error or {})})
    return info.exit_code if info.exit_code is not None and info.exit_code > 0 else 1


def emit(args: argparse.Namespace, payload: dict[str, Any]) -> None:
    """Print ``payload`` as JSON, or write it to ``-o``'s file."""
    text = json.dumps(payload, indent=2)
    path = getattr(args, "stdout_file", None)
    if not path:
        print(text)
        return
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    except OSError as exn:
        raise CliError(f"-o: cannot write {path}: {exn.strerror or exn}") from None


def cmd_status(args: argparse.Namespace, service: RunService) -> int:
    service.refresh()
    run_id = service.find_run(args.run_id)
    if args.watch:
        interval = max(service.poll_interval, 0.5)
        watch(service, run_id, lambda: status_of(service, run_id), sys.stdout, interval=interval)
    else:
        print(json.dumps(status_of(service, run_id), indent=2))
    return 0


def status_of(service: RunService, run_id: str) -> dict[str, Any]:
    """``status``'s JSON for the run."""
    info = service.info(run_id)
    counts = progress(service.tasks(run_id))
    shown: dict[str, Any] = {
        "run_id": run_id,
        "state": info.state,
        "workflow": info.workflow,
        "submitted": info.submitted,
        "started": info.started,
        "ended": info.ended,
        "tasks": {
            "queued": counts.queued,
            "running": counts.running,
            "done": counts.done,
            "failed": counts.failed,
        },
        "dir": info.run_dir,
        "log": info.log,
    }
    if info.outputs_location is not None or info.state == State.COMPLETE.value:
        shown["outputs"] = info.outputs_location
    if info.error is not None:
        shown["error"] = info.error.get("message")
    if info.cost:
        shown["cost"] = dict(info.cost)
    return shown


def cmd_list(args: argparse.Namespace, service: RunService) -> int:
    if args.limit < 1:
        raise CliError("--limit must be at least 1")
    try:
        state = parse_state(args.state) if args.state else None
    except ValueError as exn:
        raise CliError(str(exn)) from None
    service.refresh()
    rows = service.list_rows(state, args.limit)
    if args.json:
        print(json.dumps([list_entry(row) for row in rows], indent=2))
        return 0
    print(f"{'RUN':<26} {'STATE':<15} {'SUBMITTED':<25} {'TASKS':<12} WORKFLOW")
    for row in rows:
        if row.info is None or row.counts is None:
            print(f"{row.run_id:<26} {'(gone)':<15}")
            continue
        counts = row.counts
        total = counts.queued + counts.running + counts.done + counts.failed
        print(
            f"{row.run_id:<26} {row.info.state:<15} {row.info.submitted or '-':<25} "
            f"{f'{counts.done}/{total}':<12} {row.info.workflow or '-'}"
        )
    return 0


def list_entry(row: RunRow) -> dict[str, Any]:
    """One run of ``list --json``."""
    if row.info is None or row.counts is None:
        return {"run_id": row.run_id, "state": None}
    counts = row.counts
    return {
        "run_id": row.run_id,
        "state": row.info.state,
        "submitted": row.info.submitted,
        "workflow": row.info.workflow,
        "tasks": {
            "queued": counts.queued,
            "running": counts.running,
            "done": counts.done,
            "failed": counts.failed,
        },
    }


def cmd_logs(args: argparse.Namespace, service: RunService) -> int:
    run_id = service.find_run(args.run_id)
    if args.follow:
        return follow_logs(args, service, run_id)
    if not args.task:
        location = service.run_log(run_id, args.stdout)
        if not location or missing_local_file(location):
            raise CliError(f"run {run_id} has no log yet")
        copy_to_stdout(service.read(location))
        return 0
    task = find_task(service.tasks(run_id), args.task, run_id)
    location = task.stdout if args.stdout else task.stderr
    if not location or missing_local_file(location):
        raise CliError(f"task {task.call_id} has no {'stdout' if args.stdout else 'stderr'} file")
    copy_to_stdout(service.read(location))
    return 0


def follow_logs(args: argparse.Namespace, service: RunService, run_id: str) -> int:
    """``logs --follow``: the log as it grows until the run has ended (a task's: until that
    call's latest attempt has ended); the exit code is the run's (``run``'s)."""
    stream = "stdout" if args.stdout else "stderr"

    def task_now() -> TaskRecord | None:
        try:
            return find_task(service.tasks(run_id), args.task, run_id)
        except CliError:
            return None  # not started yet

    def locate() -> str | None:
        if not args.task:
            return service.run_log(run_id, args.stdout)
        task = task_now()
        return getattr(task, stream) if task is not None else None

    def task_ended() -> bool:
        task = task_now()
        return task is not None and task.state.value in TERMINAL_STATES

    state = follow(service, run_id, locate, sys.stdout, until=task_ended if args.task else None)
    if args.task or state == State.COMPLETE.value:
        return 0
    info = service.info(run_id)
    return info.exit_code if info.exit_code is not None and info.exit_code > 0 else 1


def cmd_outputs(args: argparse.Namespace, service: RunService) -> int:
    run_id = service.find_run(args.run_id)
    state = service.state(run_id)
    if state != State.COMPLETE.value:
        raise CliError(f"run {run_id} is {state}; only a COMPLETE run has outputs")
    print(json.dumps(service.outputs(run_id), indent=2))
    return 0


def cmd_cancel(args: argparse.Namespace, service: RunService) -> int:
    run_id = service.find_run(args.run_id)
    state = service.state(run_id)
    if state in TERMINAL_STATES:
        raise CliError(f"run {run_id} already ended {state}")
    service.cancel(run_id)
    if args.no_wait:
        state = service.state(run_id)
    else:
        state = wait(service, run_id, timeout=CANCEL_WAIT_SECONDS)
    print(f"run {run_id} {state}")
    return 0 if state in (State.CANCELED.value, State.CANCELING.value) else 1


def cmd_report(args: argparse.Namespace, service: RunService) -> int:
    """Write the run's HTML report: to ``-o FILE`` (``-`` for stdout), else beside the run's
    results when they are on this machine (``results/RUN/report.html``), else to
    ``./RUN-report.html``; then print where."""
    run_id = service.find_run(args.run_id)
    page = service.report(run_id)
    if args.output == "-":
        sys.stdout.write(page.decode("utf-8", errors="replace"))
        return 0
    if args.output:
        print(os.path.abspath(write_file(args.output, page, "-o: ")))
        return 0
    try:
        location = service.save_report(run_id, page)
    except OSError as exn:
        raise CliError(
            f"the report of run {run_id} cannot be written beside its results:"
            f" {exn.strerror or exn}; give -o FILE"
        ) from None
    print(os.path.abspath(location or write_file(f"{run_id}-report.html", page)))
    return 0


# helpers


def write_file(path: str, data: bytes, what: str = "") -> str:
    """Write ``data`` to ``path`` (replacing it); ``CliError`` if it cannot be written."""
    try:
        with open(path, "wb") as f:
            f.write(data)
    except OSError as exn:
        raise CliError(f"{what}cannot write {path}: {exn.strerror or exn}") from None
    return path


def wait(
    service: RunService,
    run_id: str,
    *,
    timeout: float | None = None,
    on_poll: Callable[[str], None] | None = None,
) -> str:
    """Poll the run's state until it is terminal (or ``timeout``); returns the last state."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        state = service.state(run_id)
        if on_poll is not None:
            on_poll(state)
        if state in TERMINAL_STATES or (deadline is not None and time.monotonic() >= deadline):
            return state
        time.sleep(service.poll_interval)


def report_failure(service: RunService, info: RunInfo) -> None:
    """On stderr: the run's error, the failed task's stderr tail, and how to see the log."""
    error = info.error or {}
    message = error.get("message") or "no error recorded"
    print(f"run {info.run_id} {info.state}: {message}", file=sys.stderr)
    failed = [t for t in service.tasks(info.run_id) if t.state == State.EXECUTOR_ERROR]
    name = error.get("failed_call") or (failed[-1].call_id if failed else "task")
    # The error's own stderr path may be on the orchestrator's disk (EFS on AWS); the task
    # log's location is the one the service means for clients.
    for location in (error.get("stderr_file"), failed[-1].stderr if failed else None):
        if not location:
            continue
        try:
            data = b"".join(service.read(str(location), tail_bytes=STDERR_TAIL_BYTES))
        except LocationError:
            continue
        tail = data.decode("utf-8", errors="replace").splitlines(keepends=True)
        tail = tail[-STDERR_TAIL_LINES:]
        print(f"--- last {len(tail)} lines of {name} stderr ({location}) ---", file=sys.stderr)
        sys.stderr.write("".join(tail))
        break
    if info.log:
        print(f"full log: miniwdl-fargate logs {info.run_id}", file=sys.stderr)


def missing_local_file(location: str) -> bool:
    """Whether ``location`` is a path on this machine with no file there (yet)."""
    return os.path.isabs(location) and not os.path.isfile(location)


def copy_to_stdout(chunks: Iterator[bytes]) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    for chunk in chunks:
        sys.stdout.write(decoder.decode(chunk))
    sys.stdout.write(decoder.decode(b"", final=True))
    sys.stdout.flush()


class ProgressLine:
    """One status line, rewritten in place on a terminal, printed on change otherwise.

    The run's state is read on every poll (to notice its end at once); its tasks, a larger
    read, at most every ``tasks_every`` seconds.
    """

    def __init__(
        self,
        out: TextIO,
        run_id: str,
        read_tasks: Callable[[], list[TaskRecord]],
        tasks_every: float = 0.5,
    ):
        self.out = out
        self.run_id = run_id
        self.read_tasks = read_tasks
        self.tasks_every = tasks_every
        self.tty = out.isatty()
        self.started = time.monotonic()
        self.tasks_read_at = -tasks_every
        self.tasks_text = ""
        self.last = ""

    def show(self, state: str) -> None:
        """Show the run in ``state`` (a WES state name)."""
        now = time.monotonic()
        if now - self.tasks_read_at >= self.tasks_every or state in TERMINAL_STATES:
            self.tasks_text = progress(self.read_tasks()).describe()
            self.tasks_read_at = now
        text = f"run {self.run_id} {state:<12} {self.tasks_text}"
        elapsed = int(time.monotonic() - self.started)
        if self.tty:
            self.out.write(f"\r\033[K{text}  {elapsed // 60}:{elapsed % 60:02d}")
            self.out.flush()
        elif text != self.last:
            self.out.write(f"[{elapsed // 60}:{elapsed % 60:02d}] {text}\n")
            self.out.flush()
        self.last = text

    def finish(self) -> None:
        if self.tty and self.last:
            self.out.write("\n")
            self.out.flush()
