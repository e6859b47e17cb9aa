"""``miniwdl-fargate``: submit WDL runs and follow them.

With ``MINIWDL_FARGATE_API`` set to a WES API's URL (a deployment's API Gateway, or ``serve`` on
this machine), every command goes through that API (``run_service_wes``); otherwise it works on
the local mode's home directory (``run_service_local``). The commands (``cli_commands``) are
written once over the ``RunService`` both adapters implement, so both print the same shapes and
exit with the same codes. Inputs are given as ``miniwdl run`` takes them: ``name=value``
arguments and ``-i inputs.json``. This module holds the parser and the dispatch.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from typing import NoReturn

from . import cli_commands as commands
from . import group_cli
from .cli_run_flags import add_run_flags
from .local_mode import LocalHome, default_home
from .run_control import AmbiguousRun
from .run_service import CliError, RunService
from .store import NotFound
from .wes_http import ENV_API, LocationError, WesClient, WesError
from .wes_package import RunRequestError

__all__ = ["CliError", "main", "store_error_message"]


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _cmd_serve(args)
        result: int = args.handler(args, _service(args))
        return result
    except KeyboardInterrupt:
        return 130
    except (CliError, WesError, RunRequestError, LocationError, group_cli.GroupCommandError) as exn:
        _die(str(exn))
    except (NotFound, AmbiguousRun) as exn:
        _die(str(exn.args[0]) if exn.args else str(exn))
    except sqlite3.Error as exn:
        _die(store_error_message(LocalHome(args.home or default_home()).store_path, exn))
    except BrokenPipeError:  # e.g. `miniwdl-fargate list | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _service(args: argparse.Namespace) -> RunService:
    """The WES API's adapter when ``MINIWDL_FARGATE_API`` is set, else the local home's."""
    api = os.environ.get(ENV_API, "").strip()
    if api:
        if args.home:
            raise CliError(
                f"--home names a local-mode home, but {ENV_API} is set: unset it to use"
                " the local mode"
            )
        from .run_service_wes import WesRunService

        return WesRunService(WesClient(api))
    from .run_service_local import LocalRunService

    return LocalRunService(LocalHome(args.home or default_home()))


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

    for name, handler, help_text in (
        ("run", commands.cmd_run, "submit a run, follow it, print its outputs"),
        ("submit", commands.cmd_submit, "submit a run and print its id"),
    ):
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_run_flags(p, submit=name == "submit")
        p.set_defaults(handler=handler)

    p = sub.add_parser("status", help="show a run's state and progress")
    p.add_argument("run_id", metavar="RUN")
    p.add_argument("--watch", action="store_true", help="redraw it until the run has ended")
    p.set_defaults(handler=commands.cmd_status)

    p = sub.add_parser("list", help="list runs, newest first")
    p.add_argument("--state", help="only runs in this state (e.g. RUNNING, COMPLETE)")
    p.add_argument("--limit", type=int, default=50, help="at most this many runs (default 50)")
    p.add_argument("--json", action="store_true", help="a JSON list instead of a table")
    p.set_defaults(handler=commands.cmd_list)

    p = sub.add_parser("logs", help="print a run's log, or a task's stderr")
    p.add_argument("run_id", metavar="RUN")
    p.add_argument("--task", metavar="CALL", help="a call id, e.g. call-hello-0")
    p.add_argument("--stdout", action="store_true", help="with --task: stdout, not stderr")
    p.add_argument(
        "--follow",
        action="store_true",
        help="stream it as it grows (tail -f) until the run (or --task's call) has ended",
    )
    p.set_defaults(handler=commands.cmd_logs)

    p = sub.add_parser("outputs", help="print a completed run's outputs JSON")
    p.add_argument("run_id", metavar="RUN")
    p.set_defaults(handler=commands.cmd_outputs)

    p = sub.add_parser("cancel", help="cancel a run and wait until it has stopped")
    p.add_argument("run_id", metavar="RUN")
    p.add_argument("--no-wait", action="store_true", help="return once the cancel is asked")
    p.set_defaults(handler=commands.cmd_cancel)

    p = sub.add_parser(
        "report",
        help="write a run's HTML report and print where",
        description="Write the run's HTML report (its timeline, calls, cost and rightsizing;"
        " docs/report.md) and print its path: beside the run's results in the local mode"
        " (results/RUN/report.html), else ./RUN-report.html.",
    )
    p.add_argument("run_id", metavar="RUN")
    p.add_argument("-o", "--output", metavar="FILE", help="write it to FILE instead (-: stdout)")
    p.set_defaults(handler=commands.cmd_report)

    group_cli.register(sub)

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


def _die(message: str) -> NoReturn:
    print(f"miniwdl-fargate: error: {message}", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
    sys.exit(main())
