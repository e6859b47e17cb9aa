"""``miniwdl-fargate``: submit WDL runs and follow them.

With ``MINIWDL_FARGATE_API`` set to a WES API's URL (a deployment's API Gateway, or ``serve`` on
this machine), every command goes through that API (``wes_client``); otherwise it works on the
local mode's home directory. Both paths print the same shapes and exit with the same codes.
Inputs are given as ``miniwdl run`` takes them: ``name=value`` arguments and ``-i inputs.json``.
"""

from __future__ import annotations

import argparse
import codecs
import json
import os
import sqlite3
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NoReturn, TextIO

from .local_mode import LocalHome, default_home
from .outputs import recorded_outputs
from .records import RunRecord, TaskRecord
from .run_control import AmbiguousRun, cancel_run, find_run, wait_for_run
from .states import State, is_terminal, parse_state
from .status import ControlPlane
from .store import NotFound
from .transitions import progress
from .wes_client import (
    ENV_API,
    TERMINAL_STATES,
    LocationError,
    RunLog,
    RunRequestError,
    TaskLog,
    WesClient,
    WesError,
    package_run,
    read_location,
    stream_location,
)

STDERR_TAIL_LINES = 20
STDERR_TAIL_BYTES = 64 * 1024
CANCEL_WAIT_SECONDS = 60.0
SWEEP_EVERY_SECONDS = 5.0
FIND_SCAN_LIMIT = 10_000
LIST_DETAIL_THREADS = 8


class CliError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _cmd_serve(args)
        api = os.environ.get(ENV_API, "").strip()
        if api:
            if args.home:
                raise CliError(
                    f"--home names a local-mode home, but {ENV_API} is set: unset it to use"
                    " the local mode"
                )
            try:
                api_result: int = args.api_handler(args, WesClient(api))
            except KeyboardInterrupt:
                return 130
            return api_result
        home = LocalHome(args.home or default_home())
        result: int = args.handler(args, home)
        return result
    except (CliError, WesError, RunRequestError, LocationError) as exn:
        _die(str(exn))
    except (NotFound, AmbiguousRun) as exn:
        _die(str(exn.args[0]) if exn.args else str(exn))
    except sqlite3.Error as exn:
        _die(store_error_message(LocalHome(args.home or default_home()).store_path, exn))
    except BrokenPipeError:  # e.g. `miniwdl-fargate list | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def store_error_message(path: str, exn: sqlite3.Error) -> str:
    """One line saying what is wrong with the local store and what to do (pure)."""
    text = str(exn)
    if "locked" in text or "busy" in text:
        return (
            f"the local store {path} stayed locked by another process ({text}); try again once"
            " it is done"
        )
    if "full" in text:
        return f"the disk holding the local store {path} is full ({text}); free some space"
    return (
        f"the local store {path} cannot be read ({text}); move it aside (mv {path}"
        f" {path}.broken) to start an empty history"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="miniwdl-fargate",
        description="Run WDL workflows: on AWS Fargate when deployed, on this machine otherwise.",
    )
    parser.add_argument(
        "--home",
        help="local mode's state directory (default: $MINIWDL_FARGATE_HOME or "
        "~/.local/share/miniwdl-fargate)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for name, handler, api_handler, help_text in (
        ("run", _cmd_run, _api_run, "submit a run, follow it, print its outputs"),
        ("submit", _cmd_submit, _api_submit, "submit a run and print its id"),
    ):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("wdl", help="WDL file")
        p.add_argument("inputs", nargs="*", metavar="input=value", help="inputs, as miniwdl run")
        p.add_argument("-i", "--input", dest="input_file", metavar="FILE", help="inputs JSON file")
        p.add_argument("--task", help="run this task of the WDL instead of its workflow")
        p.add_argument(
            "--tag", action="append", default=[], metavar="KEY=VALUE", help="tag the run"
        )
        p.set_defaults(handler=handler, api_handler=api_handler)

    p = sub.add_parser("status", help="show a run's state and progress")
    p.add_argument("run_id", metavar="RUN")
    p.set_defaults(handler=_cmd_status, api_handler=_api_status)

    p = sub.add_parser("list", help="list runs, newest first")
    p.add_argument("--state", help="only runs in this state (e.g. RUNNING, COMPLETE)")
    p.add_argument("--limit", type=int, default=50, help="at most this many runs (default 50)")
    p.set_defaults(handler=_cmd_list, api_handler=_api_list)

    p = sub.add_parser("logs", help="print a run's log, or a task's stderr")
    p.add_argument("run_id", metavar="RUN")
    p.add_argument("--task", metavar="CALL", help="a call id, e.g. call-hello-0")
    p.add_argument("--stdout", action="store_true", help="with --task: stdout, not stderr")
    p.set_defaults(handler=_cmd_logs, api_handler=_api_logs)

    p = sub.add_parser("outputs", help="print a completed run's outputs JSON")
    p.add_argument("run_id", metavar="RUN")
    p.set_defaults(handler=_cmd_outputs, api_handler=_api_outputs)

    p = sub.add_parser("cancel", help="cancel a run and wait until it has stopped")
    p.add_argument("run_id", metavar="RUN")
    p.add_argument("--no-wait", action="store_true", help="return once the cancel is asked")
    p.set_defaults(handler=_cmd_cancel, api_handler=_api_cancel)

    p = sub.add_parser(
        "serve",
        help="serve the WES API over the local mode's home",
        description="Serve the WES API (the app's routes, Chalice's local server) over the local"
        f" mode's home, until Ctrl-C. Point the CLI at it with {ENV_API}=URL.",
    )
    p.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default 8080; 0: any free one)")
    p.add_argument(
        "--allow-unauthenticated",
        action="store_true",
        help="listen off loopback without a token (whoever reaches it runs commands as you)",
    )
    return parser


# commands


def _cmd_submit(args: argparse.Namespace, home: LocalHome) -> int:
    run = _submit(args, home)
    print(run.run_id)
    return 0


def _cmd_run(args: argparse.Namespace, home: LocalHome) -> int:
    run = _submit(args, home)
    plane = home.control_plane()
    line = _ProgressLine(sys.stderr, run.run_id, lambda: plane.store.list_tasks(run.run_id))
    swept = [time.monotonic()]

    def on_poll(current: RunRecord) -> None:
        line.show(current.state.value)
        if time.monotonic() - swept[0] >= SWEEP_EVERY_SECONDS:
            home.sweep(plane)  # a lost event must not leave the wait hanging
            swept[0] = time.monotonic()

    try:
        final = wait_for_run(plane.store, run.run_id, interval=0.05, on_poll=on_poll)
    except KeyboardInterrupt:
        line.finish()
        print(f"interrupted: canceling run {run.run_id}", file=sys.stderr)
        cancel_run(plane, run.run_id)
        final = wait_for_run(plane.store, run.run_id, timeout=CANCEL_WAIT_SECONDS)
        print(f"run {run.run_id} {final.state.value}", file=sys.stderr)
        return 130
    line.finish()
    if final.state == State.COMPLETE:
        outputs = recorded_outputs(final, home.objects())
        print(json.dumps({"run_id": final.run_id, "outputs": outputs}, indent=2))
        return 0
    _report_failure(final, plane)
    return final.exit_code or 1


def _cmd_status(args: argparse.Namespace, home: LocalHome) -> int:
    plane = home.control_plane()
    home.sweep(plane)
    run = find_run(plane.store, args.run_id)
    tasks = plane.store.list_tasks(run.run_id)
    counts = progress(tasks)
    info: dict[str, Any] = {
        "run_id": run.run_id,
        "state": run.state.value,
        "workflow": run.workflow_name,
        "submitted": run.created_at,
        "started": run.start_time,
        "ended": run.end_time,
        "tasks": {
            "queued": counts.queued,
            "running": counts.running,
            "done": counts.done,
            "failed": counts.failed,
        },
        "dir": run.run_dir,
        "log": run.orchestrator_log,
    }
    if run.outputs is not None:
        info["outputs"] = run.outputs.get("location")
    if run.error is not None:
        info["error"] = run.error.get("message")
    print(json.dumps(info, indent=2))
    return 0


def _list_filter(args: argparse.Namespace) -> State | None:
    """``list``'s ``--state`` (checked with ``--limit``)."""
    if args.limit < 1:
        raise CliError("--limit must be at least 1")
    try:
        return parse_state(args.state) if args.state else None
    except ValueError as exn:
        raise CliError(str(exn)) from None


def _cmd_list(args: argparse.Namespace, home: LocalHome) -> int:
    state = _list_filter(args)
    plane = home.control_plane()
    home.sweep(plane)
    store = plane.store
    runs: list[RunRecord] = []
    token = ""
    while len(runs) < args.limit:
        page, token = store.list_runs(
            state=state, page_size=min(500, args.limit - len(runs)), page_token=token
        )
        runs += page
        if not token:
            break
    print(f"{'RUN':<26} {'STATE':<15} {'SUBMITTED':<25} {'TASKS':<12} WORKFLOW")
    for run in runs:
        counts = progress(store.list_tasks(run.run_id))
        total = counts.queued + counts.running + counts.done + counts.failed
        print(
            f"{run.run_id:<26} {run.state.value:<15} {run.created_at:<25} "
            f"{f'{counts.done}/{total}':<12} {run.workflow_name}"
        )
    return 0


def _cmd_logs(args: argparse.Namespace, home: LocalHome) -> int:
    plane = home.control_plane()
    run = find_run(plane.store, args.run_id)
    if not args.task:
        if not run.orchestrator_log or not os.path.isfile(run.orchestrator_log):
            raise CliError(f"run {run.run_id} has no log yet")
        _copy_to_stdout(run.orchestrator_log)
        return 0
    task = _find_task(plane.store.list_tasks(run.run_id), args.task, run.run_id)
    path = task.stdout if args.stdout else task.stderr
    if not path or not os.path.isfile(path):
        raise CliError(f"task {task.call_id} has no {'stdout' if args.stdout else 'stderr'} file")
    _copy_to_stdout(path)
    return 0


def _cmd_outputs(args: argparse.Namespace, home: LocalHome) -> int:
    run = find_run(home.control_plane().store, args.run_id)
    if run.state != State.COMPLETE:
        raise CliError(f"run {run.run_id} is {run.state.value}; only a COMPLETE run has outputs")
    print(json.dumps(recorded_outputs(run, home.objects()), indent=2))
    return 0


def _cmd_cancel(args: argparse.Namespace, home: LocalHome) -> int:
    plane = home.control_plane()
    run = find_run(plane.store, args.run_id)
    if is_terminal(run.state):
        raise CliError(f"run {run.run_id} already ended {run.state.value}")
    run = cancel_run(plane, run.run_id)
    if not args.no_wait:
        run = wait_for_run(plane.store, run.run_id, timeout=CANCEL_WAIT_SECONDS)
    print(f"run {run.run_id} {run.state.value}")
    return 0 if run.state in (State.CANCELED, State.CANCELING) else 1


# commands over the API (MINIWDL_FARGATE_API)


def _cmd_serve(args: argparse.Namespace) -> int:
    from .serve import DEFAULT_HOST, DEFAULT_PORT, ServeError, serve

    port = DEFAULT_PORT if args.port is None else args.port
    if not 0 <= port <= 65535:
        raise CliError(f"--port must be from 0 to 65535, not {port}")
    try:
        return serve(
            args.home or default_home(),
            args.host or DEFAULT_HOST,
            port,
            allow_unauthenticated=args.allow_unauthenticated,
        )
    except ServeError as exn:
        raise CliError(str(exn)) from None


def _api_submit(args: argparse.Namespace, client: WesClient) -> int:
    print(_api_send(args, client))
    return 0


def _api_run(args: argparse.Namespace, client: WesClient) -> int:
    run_id = _api_send(args, client)
    line = _ProgressLine(
        sys.stderr,
        run_id,
        lambda: _task_records(client, run_id),
        tasks_every=0.5 if client.is_local else 2.0,
    )
    try:
        state = _api_wait(client, run_id, on_poll=line.show)
    except KeyboardInterrupt:
        line.finish()
        print(f"interrupted: canceling run {run_id}", file=sys.stderr)
        client.cancel_run(run_id)
        state = _api_wait(client, run_id, timeout=CANCEL_WAIT_SECONDS)
        print(f"run {run_id} {state}", file=sys.stderr)
        return 130
    line.finish()
    run = client.get_run(run_id)
    if run.get("state") == State.COMPLETE.value:
        print(json.dumps({"run_id": run_id, "outputs": run.get("outputs") or {}}, indent=2))
        return 0
    _api_report_failure(client, run_id, run)
    exit_code = (run.get("run_log") or {}).get("exit_code")
    return exit_code if isinstance(exit_code, int) and exit_code > 0 else 1


def _api_status(args: argparse.Namespace, client: WesClient) -> int:
    run_id = _api_find_run(client, args.run_id)
    run = client.get_run(run_id)
    log = run.get("run_log") or {}
    counts = progress(_task_records(client, run_id))
    info: dict[str, Any] = {
        "run_id": run_id,
        "state": run.get("state"),
        "workflow": log.get("name"),
        "submitted": _submitted(run),
        "started": log.get("start_time"),
        "ended": log.get("end_time"),
        "tasks": {
            "queued": counts.queued,
            "running": counts.running,
            "done": counts.done,
            "failed": counts.failed,
        },
        "dir": _extension(run, "run_dir"),
        "log": log.get("stderr") or log.get("stdout"),
    }
    outputs_location = _extension(run, "outputs_location")
    if outputs_location is not None or run.get("state") == State.COMPLETE.value:
        info["outputs"] = outputs_location
    if run.get("error"):
        info["error"] = (run.get("error") or {}).get("message")
    if run.get("cost"):
        info["cost"] = run.get("cost")
    print(json.dumps(info, indent=2))
    return 0


def _api_list(args: argparse.Namespace, client: WesClient) -> int:
    state = _list_filter(args)
    run_ids: list[str] = []
    token = ""
    while len(run_ids) < args.limit:
        page, token = client.list_runs(
            page_size=min(1000, args.limit - len(run_ids)),
            page_token=token,
            state=state.value if state else None,
        )
        run_ids += [r["run_id"] for r in page]
        if not token:
            break
    run_ids = run_ids[: args.limit]

    def row(run_id: str) -> str:
        # WES lists ids and states only: the other columns need the run and its tasks.
        try:
            run = client.get_run(run_id)
            counts = progress(_task_records(client, run_id))
        except WesError as exn:
            if exn.status_code != 404:
                raise
            return f"{run_id:<26} {'(gone)':<15}"
        total = counts.queued + counts.running + counts.done + counts.failed
        submitted = _submitted(run) or "-"
        name = (run.get("run_log") or {}).get("name") or "-"
        return (
            f"{run_id:<26} {run.get('state', ''):<15} {submitted:<25} "
            f"{f'{counts.done}/{total}':<12} {name}"
        )

    with ThreadPoolExecutor(max_workers=LIST_DETAIL_THREADS) as pool:
        rows = list(pool.map(row, run_ids))
    print(f"{'RUN':<26} {'STATE':<15} {'SUBMITTED':<25} {'TASKS':<12} WORKFLOW")
    for text in rows:
        print(text)
    return 0


def _api_logs(args: argparse.Namespace, client: WesClient) -> int:
    run_id = _api_find_run(client, args.run_id)
    if not args.task:
        log = client.get_run(run_id).get("run_log") or {}
        location = log.get("stdout") if args.stdout else (log.get("stderr") or log.get("stdout"))
        if not location or _missing_local_file(location):
            raise CliError(f"run {run_id} has no log yet")
        _copy_location_to_stdout(location)
        return 0
    task = _find_task(_task_records(client, run_id), args.task, run_id)
    location = task.stdout if args.stdout else task.stderr
    if not location or _missing_local_file(location):
        raise CliError(f"task {task.call_id} has no {'stdout' if args.stdout else 'stderr'} file")
    _copy_location_to_stdout(location)
    return 0


def _api_outputs(args: argparse.Namespace, client: WesClient) -> int:
    run_id = _api_find_run(client, args.run_id)
    run = client.get_run(run_id)
    state = run.get("state")
    if state != State.COMPLETE.value:
        raise CliError(f"run {run_id} is {state}; only a COMPLETE run has outputs")
    print(json.dumps(run.get("outputs") or {}, indent=2))
    return 0


def _api_cancel(args: argparse.Namespace, client: WesClient) -> int:
    run_id = _api_find_run(client, args.run_id)
    state = client.get_run_status(run_id)["state"]
    if state in TERMINAL_STATES:
        raise CliError(f"run {run_id} already ended {state}")
    client.cancel_run(run_id)
    if args.no_wait:
        state = client.get_run_status(run_id)["state"]
    else:
        state = _api_wait(client, run_id, timeout=CANCEL_WAIT_SECONDS)
    print(f"run {run_id} {state}")
    return 0 if state in (State.CANCELED.value, State.CANCELING.value) else 1


# helpers over the API


def _api_send(args: argparse.Namespace, client: WesClient) -> str:
    """Package the WDL and inputs and ``POST /runs``; returns the run id. One idempotency key
    per invocation: the client's retries of the call cannot start a second run."""
    tags = _tags(args.tag)
    request = package_run(args.wdl, args.inputs, args.input_file, task=args.task, tags=tags)
    return client.submit_run(request, idempotency_key=str(uuid.uuid4()))


def _api_wait(
    client: WesClient,
    run_id: str,
    *,
    timeout: float | None = None,
    on_poll: Callable[[str], None] | None = None,
) -> str:
    """Poll the run's status until it is terminal (or ``timeout``); returns the last state."""
    deadline = None if timeout is None else time.monotonic() + timeout
    interval = 0.2 if client.is_local else 1.0
    while True:
        state = client.get_run_status(run_id)["state"]
        if on_poll is not None:
            on_poll(state)
        if state in TERMINAL_STATES or (deadline is not None and time.monotonic() >= deadline):
            return state
        time.sleep(interval)


def _api_find_run(client: WesClient, run_id: str) -> str:
    """The full id of the run named by ``run_id`` or by a unique prefix of it (as
    ``run_control.find_run``: the API takes full ids, so prefixes are matched on its list)."""
    if not run_id:
        raise NotFound(f"no run {run_id!r}")
    try:
        return client.get_run_status(run_id)["run_id"]
    except WesError as exn:
        if exn.status_code != 404:
            raise
    matches: list[str] = []
    token, scanned = "", 0
    while scanned < FIND_SCAN_LIMIT:
        page, token = client.list_runs(page_size=1000, page_token=token)
        scanned += len(page)
        matches += [r["run_id"] for r in page if r["run_id"].startswith(run_id)]
        if not token or len(matches) > 1:
            break
    if not matches:
        raise NotFound(f"no run {run_id!r}")
    if len(matches) > 1:
        raise AmbiguousRun(f"run id {run_id!r} matches several runs: {', '.join(matches[:5])}")
    return matches[0]


def _task_records(client: WesClient, run_id: str) -> list[TaskRecord]:
    """The run's WES task logs as task records, so progress and call lookup are shared."""
    return [_task_record(run_id, t) for t in client.all_tasks(run_id)]


def _task_record(run_id: str, log: TaskLog) -> TaskRecord:
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


def _api_report_failure(client: WesClient, run_id: str, run: RunLog) -> None:
    """As ``_report_failure``: the error, the failed task's stderr tail, where the log is."""
    error = run.get("error") or {}
    message = error.get("message") or "no error recorded"
    print(f"run {run_id} {run.get('state')}: {message}", file=sys.stderr)
    failed = [t for t in _task_records(client, run_id) if t.state == State.EXECUTOR_ERROR]
    name = error.get("failed_call") or (failed[-1].call_id if failed else "task")
    # The error's own stderr path may be on the orchestrator's disk (EFS on AWS); the task
    # log's location is the one the API means for clients.
    candidates = [error.get("stderr_file"), failed[-1].stderr if failed else None]
    for location in candidates:
        if not location:
            continue
        try:
            data = read_location(str(location), tail_bytes=STDERR_TAIL_BYTES)
        except LocationError:
            continue
        tail = data.decode("utf-8", errors="replace").splitlines(keepends=True)
        tail = tail[-STDERR_TAIL_LINES:]
        print(f"--- last {len(tail)} lines of {name} stderr ({location}) ---", file=sys.stderr)
        sys.stderr.write("".join(tail))
        break
    log = run.get("run_log") or {}
    if log.get("stderr") or log.get("stdout"):
        print(f"full log: miniwdl-fargate logs {run_id}", file=sys.stderr)


def _submitted(run: RunLog) -> str | None:
    value = _extension(run, "submitted_at") or _extension(run, "created_at")
    return str(value) if value else None


def _extension(run: RunLog, key: str) -> Any:
    """A field beyond WES's RunLog, if this API sends it."""
    return dict(run).get(key)


def _missing_local_file(location: str) -> bool:
    return os.path.isabs(location) and not os.path.isfile(location)


def _copy_location_to_stdout(location: str) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    for chunk in stream_location(location):
        sys.stdout.write(decoder.decode(chunk))
    sys.stdout.write(decoder.decode(b"", final=True))
    sys.stdout.flush()


# helpers


def _submit(args: argparse.Namespace, home: LocalHome) -> RunRecord:
    from .submit import SubmitError, submit  # defers miniwdl's import to commands that need it
    from .validation import RequestError, validate_request

    tags = _tags(args.tag)
    try:
        request = validate_request(args.wdl, args.inputs, args.input_file, task=args.task)
    except RequestError as exn:
        raise CliError(str(exn)) from None
    plane = home.control_plane(detach=True)
    try:
        return submit(
            request,
            plane=plane,
            objects=home.objects(),
            orchestrator_spec=home.orchestrator_spec,
            tags=tags,
            cwd=os.getcwd(),
        )
    except SubmitError as exn:
        raise CliError(str(exn)) from None


def _tags(pairs: list[str]) -> dict[str, str]:
    tags = {}
    for tag in pairs:
        key, sep, value = tag.partition("=")
        if not sep or not key:
            raise CliError(f"--tag takes KEY=VALUE, not {tag!r}")
        tags[key] = value
    return tags


def _report_failure(run: RunRecord, plane: ControlPlane) -> None:
    message = (run.error or {}).get("message", "no error recorded")
    print(f"run {run.run_id} {run.state.value}: {message}", file=sys.stderr)
    stderr_file = (run.error or {}).get("stderr_file")
    failed = [t for t in plane.store.list_tasks(run.run_id) if t.state == State.EXECUTOR_ERROR]
    if not stderr_file and failed:
        stderr_file = failed[-1].stderr
    name = (run.error or {}).get("failed_call") or (failed[-1].call_id if failed else "task")
    if stderr_file and os.path.isfile(stderr_file):
        with open(stderr_file, encoding="utf-8", errors="replace") as f:
            tail = deque(f, maxlen=STDERR_TAIL_LINES)
        print(f"--- last {len(tail)} lines of {name} stderr ({stderr_file}) ---", file=sys.stderr)
        sys.stderr.write("".join(tail))
    if run.orchestrator_log:
        print(f"full log: miniwdl-fargate logs {run.run_id}", file=sys.stderr)


def _find_task(tasks: list[TaskRecord], call: str, run_id: str) -> TaskRecord:
    matching = [t for t in tasks if t.call_id == call] or [
        t for t in tasks if t.call_id.startswith(call) or t.task_id.startswith(call)
    ]
    if not matching:
        calls = sorted({t.call_id for t in tasks})
        shown = ", ".join(calls[:10]) + (" ..." if len(calls) > 10 else "")
        raise CliError(f"run {run_id} has no task {call!r}; its calls: {shown or 'none yet'}")
    if len({t.call_id for t in matching}) > 1:
        raise CliError(f"{call!r} matches several calls; give the full call id")
    return max(matching, key=lambda t: t.attempt)


def _copy_to_stdout(path: str) -> None:
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            sys.stdout.write(line)


class _ProgressLine:
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


def _die(message: str) -> NoReturn:
    print(f"miniwdl-fargate: error: {message}", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
    sys.exit(main())
