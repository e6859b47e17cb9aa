"""``miniwdl-fargate``: submit WDL runs and follow them.

With nothing deployed (the default), every command works on the local mode's home directory.
Inputs are given as ``miniwdl run`` takes them: ``name=value`` arguments and ``-i inputs.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import Any, NoReturn, TextIO

from .local_mode import LocalHome, default_home
from .records import RunRecord, TaskRecord
from .run_control import AmbiguousRun, cancel_run, find_run, wait_for_run
from .states import State, is_terminal, parse_state
from .status import ControlPlane
from .store import NotFound
from .transitions import progress

ENV_API = "MINIWDL_FARGATE_API"
STDERR_TAIL_LINES = 20
CANCEL_WAIT_SECONDS = 60.0


class CliError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    args = _parser().parse_args(argv)
    try:
        if os.environ.get(ENV_API):
            raise CliError(
                f"{ENV_API} is set, but talking to a deployed API is not built yet;"
                f" unset it to use the local mode"
            )
        home = LocalHome(args.home or default_home())
        result: int = args.handler(args, home)
        return result
    except CliError as exn:
        _die(str(exn))
    except (NotFound, AmbiguousRun) as exn:
        _die(str(exn.args[0]) if exn.args else str(exn))
    except BrokenPipeError:  # e.g. `miniwdl-fargate list | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


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

    for name, handler, help_text in (
        ("run", _cmd_run, "submit a run, follow it, print its outputs"),
        ("submit", _cmd_submit, "submit a run and print its id"),
    ):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("wdl", help="WDL file")
        p.add_argument("inputs", nargs="*", metavar="input=value", help="inputs, as miniwdl run")
        p.add_argument("-i", "--input", dest="input_file", metavar="FILE", help="inputs JSON file")
        p.add_argument("--task", help="run this task of the WDL instead of its workflow")
        p.add_argument(
            "--tag", action="append", default=[], metavar="KEY=VALUE", help="tag the run"
        )
        p.set_defaults(handler=handler)

    p = sub.add_parser("status", help="show a run's state and progress")
    p.add_argument("run_id", metavar="RUN")
    p.set_defaults(handler=_cmd_status)

    p = sub.add_parser("list", help="list runs, newest first")
    p.add_argument("--state", help="only runs in this state (e.g. RUNNING, COMPLETE)")
    p.add_argument("--limit", type=int, default=50, help="at most this many runs (default 50)")
    p.set_defaults(handler=_cmd_list)

    p = sub.add_parser("logs", help="print a run's log, or a task's stderr")
    p.add_argument("run_id", metavar="RUN")
    p.add_argument("--task", metavar="CALL", help="a call id, e.g. call-hello-0")
    p.add_argument("--stdout", action="store_true", help="with --task: stdout, not stderr")
    p.set_defaults(handler=_cmd_logs)

    p = sub.add_parser("outputs", help="print a completed run's outputs JSON")
    p.add_argument("run_id", metavar="RUN")
    p.set_defaults(handler=_cmd_outputs)

    p = sub.add_parser("cancel", help="cancel a run and wait until it has stopped")
    p.add_argument("run_id", metavar="RUN")
    p.add_argument("--no-wait", action="store_true", help="return once the cancel is asked")
    p.set_defaults(handler=_cmd_cancel)
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
    try:
        final = wait_for_run(plane.store, run.run_id, interval=0.05, on_poll=line.show)
    except KeyboardInterrupt:
        line.finish()
        print(f"interrupted: canceling run {run.run_id}", file=sys.stderr)
        cancel_run(plane, run.run_id)
        final = wait_for_run(plane.store, run.run_id, timeout=CANCEL_WAIT_SECONDS)
        print(f"run {run.run_id} {final.state.value}", file=sys.stderr)
        return 130
    line.finish()
    if final.state == State.COMPLETE:
        print(json.dumps({"run_id": final.run_id, "outputs": _outputs(final)}, indent=2))
        return 0
    _report_failure(final, plane)
    return final.exit_code or 1


def _cmd_status(args: argparse.Namespace, home: LocalHome) -> int:
    plane = home.control_plane()
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


def _cmd_list(args: argparse.Namespace, home: LocalHome) -> int:
    try:
        state = parse_state(args.state) if args.state else None
    except ValueError as exn:
        raise CliError(str(exn)) from None
    if args.limit < 1:
        raise CliError("--limit must be at least 1")
    store = home.control_plane().store
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
    print(json.dumps(_outputs(run), indent=2))
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


# helpers


def _submit(args: argparse.Namespace, home: LocalHome) -> RunRecord:
    from .submit import SubmitError, submit  # defers miniwdl's import to commands that need it
    from .validation import RequestError, validate_request

    tags = {}
    for tag in args.tag:
        key, sep, value = tag.partition("=")
        if not sep or not key:
            raise CliError(f"--tag takes KEY=VALUE, not {tag!r}")
        tags[key] = value
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
        )
    except SubmitError as exn:
        raise CliError(str(exn)) from None


def _outputs(run: RunRecord) -> Any:
    return (run.outputs or {}).get("values", {})


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

    The run is read on every poll (to notice its end at once); its tasks, a larger read, at
    most every ``TASKS_EVERY`` seconds.
    """

    TASKS_EVERY = 0.5

    def __init__(self, out: TextIO, run_id: str, read_tasks: Callable[[], list[TaskRecord]]):
        self.out = out
        self.run_id = run_id
        self.read_tasks = read_tasks
        self.tty = out.isatty()
        self.started = time.monotonic()
        self.tasks_read_at = -self.TASKS_EVERY
        self.tasks_text = ""
        self.last = ""

    def show(self, run: RunRecord) -> None:
        now = time.monotonic()
        if now - self.tasks_read_at >= self.TASKS_EVERY or is_terminal(run.state):
            self.tasks_text = progress(self.read_tasks()).describe()
            self.tasks_read_at = now
        text = f"run {run.run_id} {run.state.value:<12} {self.tasks_text}"
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
