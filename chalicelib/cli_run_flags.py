"""``run``/``submit``'s flags: ``miniwdl run``'s, as a run that may happen on AWS takes them.

``add_run_flags`` puts them on a subcommand's parser; ``submission`` turns the parsed flags into
a ``Submission``: the flags that change the run become engine parameters the orchestrator
applies (``wes_engine_parameters``), the ones that change how the WDL and inputs are read apply
where the request is put together, and the ones about output apply in the CLI. Every option of
``miniwdl run --help`` is either here or in ``REFUSED`` with the reason.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from .run_service import CliError, Submission, parse_tags
from .wes_engine_parameters import (
    EngineParameterError,
    check_engine_parameter,
    setting_refusal,
)

DELETE_AFTER = ("never", "success", "failure", "always")
# miniwdl run's options this CLI does not take, with the reason (one line each).
REFUSED = {
    "--json": "use miniwdl run --json on this machine: it needs no deployment",
    "--as-me": "task containers run as the work filesystem's access-point user",
    "--no-quant-check": "runs are checked with miniwdl's quantifier checks, as the API does",
    "--debug": "use -v/--verbose; the run's log keeps miniwdl's tracebacks",
    "-e": "use --error-json (or -o FILE)",
    "-@": "how many tasks run at once is set by the deployment's limits",
}
# engine parameter -> the flag that sets it, for messages
FLAG_OF = {
    "dir": "-d/--dir",
    "cfg": "--cfg",
    "no_cache": "--no-cache",
    "copy_input_files": "--copy-input-files",
    "copy_input_files_for": "--copy-input-files-for",
    "runtime_defaults": "--runtime-defaults",
    "runtime_cpu_max": "--runtime-cpu-max",
    "runtime_memory_max": "--runtime-memory-max",
    "env": "--env",
    "verbose": "-v/--verbose",
    "no_color": "--no-color",
    "log_json": "--log-json",
    "delete_after": "--delete-after",
    "s3upload": "--s3upload",
    "miniwdl_env": "MINIWDL__* (--no-env)",
}


class _Refused(argparse.Action):
    """An option of ``miniwdl run`` this CLI refuses: recorded, then refused in one line."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        namespace.refused = f"{option_string} is not supported here: {REFUSED[self.dest_key]}"

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        self.dest_key = kwargs.pop("key")
        super().__init__(option_strings, dest, **kwargs)


def add_run_flags(p: argparse.ArgumentParser, *, submit: bool = False) -> None:
    """``miniwdl run``'s flags (and this CLI's own) on ``run``/``submit``'s parser."""
    p.add_argument("wdl", help="WDL file")
    p.add_argument(
        "--follow",
        action="store_true",
        help="stream the run's log (as tail -f) instead of a progress line, then its outputs",
    )
    if submit:
        p.add_argument(
            "--wait",
            action="store_true",
            help="wait for the run to end, then print its outputs (Ctrl-C: stop waiting only)",
        )
    p.add_argument("inputs", nargs="*", metavar="input=value", help="inputs, as miniwdl run")
    p.add_argument("-i", "--input", dest="input_file", metavar="FILE", help="inputs JSON file")
    p.add_argument("--task", help="run this task of the WDL instead of its workflow")
    p.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE", help="tag the run")
    p.add_argument(
        "--delete-after",
        choices=DELETE_AFTER,
        help="delete the run's work directory once it ends this way (default never)",
    )
    p.add_argument(
        "--s3upload",
        metavar="URI",
        help="copy the outputs and logs to this s3:// prefix too (a subfolder named after the"
        " run unless URI ends in '/')",
    )
    g = p.add_argument_group("input (as miniwdl run)")
    g.add_argument("--empty", action="append", default=[], metavar="NAME", help="empty input")
    g.add_argument("--none", action="append", default=[], metavar="NAME", help="None input")
    g.add_argument(
        "-p", "--path", action="append", default=[], metavar="DIR", help="import search dir"
    )
    g.add_argument(
        "--no-outside-imports",
        action="store_true",
        help="deny imports from outside the main WDL's directory (or --path)",
    )
    g = p.add_argument_group("output (as miniwdl run)")
    g.add_argument(
        "-d",
        "--dir",
        dest="run_dir",
        metavar="DIR",
        help="run directory under the work filesystem's root (DIR/RUN; 'DIR/.': exactly DIR)",
    )
    g.add_argument(
        "--error-json", action="store_true", help="on failure, print the error JSON on stdout"
    )
    g.add_argument("-o", dest="stdout_file", metavar="OUT.json", help="write the JSON here")
    g.add_argument("-v", "--verbose", action="store_true", help="verbose run log")
    g.add_argument("--no-color", action="store_true", help="no colors in the run log")
    g.add_argument("--log-json", action="store_true", help="the run log in JSON lines")
    g = p.add_argument_group("configuration (as miniwdl run, applied in the orchestrator)")
    g.add_argument(
        "--no-env",
        action="store_true",
        help="do not pass this shell's MINIWDL__* settings to the run's miniwdl",
    )
    g.add_argument("--cfg", metavar="FILE", help="miniwdl configuration file")
    g.add_argument("--runtime-defaults", metavar="JSON", help="JSON object or file")
    g.add_argument("--runtime-cpu-max", metavar="N", help="maximum cpu of any task")
    g.add_argument("--runtime-memory-max", metavar="SIZE", help="maximum memory of any task")
    g.add_argument("--no-cache", action="store_true", help="no call or download cache lookups")
    g.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME[=VALUE]",
        help="set in every task's environment (NAME alone: its value in this shell)",
    )
    g.add_argument("--copy-input-files", action="store_true", help="copy input files for each task")
    g.add_argument(
        "--copy-input-files-for",
        action="append",
        default=[],
        metavar="TASK",
        help="copy input files for this task only",
    )
    for option, nargs in (
        ("--json", 0),
        ("--as-me", 0),
        ("--no-quant-check", 0),
        ("--debug", 0),
        ("-e", 1),
        ("-@", 1),
    ):
        names = ["-j", option] if option == "--json" else [option]
        p.add_argument(
            *names,
            action=_Refused,
            nargs=nargs,
            key=option,
            dest="refused_" + option.strip("-@") + ("at" if option == "-@" else ""),
            help=argparse.SUPPRESS,
        )
    p.set_defaults(refused=None)


def submission(args: argparse.Namespace, work_root: str | None = None) -> Submission:
    """The run the flags ask for; ``CliError`` for a flag with a value no run takes.
    ``work_root``: the local work filesystem's root, under which ``-d`` may be absolute."""
    if args.refused:
        raise CliError(args.refused)
    options = engine_options(args, work_root)
    for key, value in options.items():
        try:
            check_engine_parameter(key, value)
        except EngineParameterError as exn:
            raise CliError(f"{FLAG_OF.get(key, key)}: {exn}") from None
    return Submission(
        wdl=args.wdl,
        inputs=tuple(args.inputs),
        input_file=args.input_file,
        task=args.task,
        tags=parse_tags(args.tag),
        options=options,
        empty=tuple(args.empty),
        none=tuple(args.none),
        import_dirs=tuple(args.path),
        no_outside_imports=args.no_outside_imports,
    )


def engine_options(args: argparse.Namespace, work_root: str | None = None) -> dict[str, str]:
    """The engine parameters the flags ask of the orchestrator (strings, as WES has them)."""
    options: dict[str, str] = {}
    if args.delete_after:
        options["delete_after"] = args.delete_after
    for key in ("no_cache", "copy_input_files", "verbose", "no_color", "log_json"):
        if getattr(args, key):
            options[key] = "true"
    if args.s3upload:
        options["s3upload"] = args.s3upload
    if args.run_dir:
        options["dir"] = _work_relative(args.run_dir, work_root)
    if args.cfg:
        options["cfg"] = _read_text(args.cfg, "--cfg")
    if args.runtime_defaults:
        value = args.runtime_defaults
        if not value.lstrip().startswith("{"):
            value = _read_text(value, "--runtime-defaults")
        options["runtime_defaults"] = value
    if args.runtime_cpu_max is not None:
        options["runtime_cpu_max"] = str(args.runtime_cpu_max).strip()
    if args.runtime_memory_max is not None:
        options["runtime_memory_max"] = str(args.runtime_memory_max).strip()
    if args.env:
        options["env"] = json.dumps(task_environment(args.env, os.environ))
    if not args.no_env:
        settings = shell_settings(os.environ)
        if settings:
            options["miniwdl_env"] = json.dumps(settings)
    if args.copy_input_files_for:
        options["copy_input_files_for"] = json.dumps(args.copy_input_files_for)
    return options


def shell_settings(environ: Mapping[str, str]) -> dict[str, str]:
    """The submitting shell's ``MINIWDL__*`` settings a run takes along (pure); the
    deployment's own (``wes_engine_parameters.ENV_DENYLIST``: the container backend, the work
    root, the caches' directories, ``[aws_fargate]`` and ``[miniwdl_fargate]``) stay behind."""
    return {
        name: environ[name]
        for name in sorted(environ)
        if name.upper().startswith("MINIWDL__") and setting_refusal(name) is None
    }


def task_environment(pairs: Sequence[str], environ: Any) -> dict[str, str]:
    """``--env NAME=VALUE`` and ``--env NAME`` (its value in this shell) as a map (pure in
    ``environ``)."""
    env: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            if name not in environ:
                raise CliError(f"--env {name}: {name} is not set in this shell; give {name}=VALUE")
            value = environ[name]
        env[name] = value
    return env


def _work_relative(path: str, work_root: str | None) -> str:
    """``-d``'s path relative to the work root; an absolute one under the local work root (the
    only root this machine sees) is made relative."""
    if not os.path.isabs(path) or work_root is None:
        return path
    root = os.path.realpath(work_root)
    real = os.path.realpath(path)
    if real != root and not real.startswith(root + os.sep):
        return path  # refused as in every mode (``check_dir``)
    relative = os.path.relpath(real, root)
    return relative + "/." if path.rstrip("/").endswith("/.") else relative


def _read_text(path: str, flag: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as exn:
        raise CliError(f"{flag}: cannot read {path}: {exn.strerror or exn}") from None
    except UnicodeDecodeError:
        raise CliError(f"{flag}: {path} is not UTF-8 text") from None
