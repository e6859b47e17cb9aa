"""Validate a run request with miniwdl before anything is recorded or launched.

The WDL is loaded and type-checked, and the inputs are parsed the way ``miniwdl run`` parses them
(``key=value`` arguments and ``-i inputs.json``), checked against the workflow's declarations.
Every problem becomes one ``RequestError`` with a one-line message. The result carries the WDL
and its imports as a zip bundle (miniwdl's own format), so the run no longer depends on the
submitter's files.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from typing import Any

import WDL
from WDL import CLI as wdl_cli
from WDL import Error as wdl_error
from WDL import Zip as wdl_zip
from WDL.runtime import config as wdl_config
from WDL.runtime import download as wdl_download

log = logging.getLogger(__name__)

MAX_INPUTS_FILE_BYTES = 16 * 1024 * 1024
MAX_BUNDLE_BYTES = 64 * 1024 * 1024


class RequestError(ValueError):
    """A run request that cannot run; the message is one line saying why."""


@dataclass(frozen=True)
class ValidatedRequest:
    """A request that passed validation: what to run, with which inputs."""

    wdl_path: str
    workflow_name: str
    inputs: dict[str, Any]
    bundle: bytes
    task: str | None = None


def validate_request(
    wdl_path: str,
    inputs: list[str] | None = None,
    input_file: str | None = None,
    *,
    task: str | None = None,
) -> ValidatedRequest:
    """Check a request the way ``miniwdl run`` would, without running it."""
    path = os.path.abspath(os.path.expanduser(wdl_path))
    if not os.path.isfile(path):
        raise RequestError(f"WDL file not found: {wdl_path}")
    inputs_json = _read_inputs_file(input_file) if input_file else None

    try:
        doc = WDL.load(path)
    except (wdl_error.SyntaxError, wdl_error.ValidationError, wdl_error.ImportError) as exn:
        raise RequestError(_one_line(exn)) from None
    except wdl_error.MultipleValidationErrors as exn:
        first = _one_line(exn.exceptions[0])
        more = len(exn.exceptions) - 1
        raise RequestError(first + (f" (and {more} more errors)" if more else "")) from None
    except OSError as exn:
        raise RequestError(f"cannot read {wdl_path}: {exn.strerror or exn}") from None

    cfg = wdl_config.Loader(log)
    try:
        # miniwdl prints a help text to stderr when an input name is unknown; keep one line.
        with contextlib.redirect_stderr(io.StringIO()):
            target, _env, input_json = wdl_cli.runner_input(
                doc,
                list(inputs or []),
                json.dumps(inputs_json) if inputs_json is not None else None,
                [],
                [],
                task=task,
                downloadable=lambda fn, is_dir: wdl_download.able(cfg, fn, directory=is_dir),
                root="/",
            )
    except wdl_error.InputError as exn:
        raise RequestError(_one_line(exn)) from None
    except ValueError as exn:  # int("abc") and friends, from key=value arguments
        raise RequestError(_wrong_type(doc, task, list(inputs or []), exn)) from None
    except (wdl_error.SyntaxError, wdl_error.ValidationError) as exn:
        raise RequestError(_one_line(exn)) from None

    return ValidatedRequest(
        wdl_path=path,
        workflow_name=str(target.name),
        inputs=dict(input_json),
        bundle=_bundle(doc),
        task=task,
    )


def _read_inputs_file(input_file: str) -> dict[str, Any]:
    try:
        if os.path.getsize(input_file) > MAX_INPUTS_FILE_BYTES:
            raise RequestError(f"inputs file {input_file} is larger than 16 MiB")
        with open(input_file, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as exn:
        raise RequestError(f"cannot read inputs file {input_file}: {exn.strerror or exn}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exn:
        raise RequestError(f"inputs file {input_file} is not valid JSON: {exn}") from None
    if not isinstance(data, dict):
        raise RequestError(f"inputs file {input_file} must hold a JSON object")
    return data


def _bundle(doc: WDL.Tree.Document) -> bytes:
    with tempfile.TemporaryDirectory(prefix="miniwdl-fargate-") as tmp:
        archive = os.path.join(tmp, "workflow.zip")
        try:
            wdl_zip.build(doc, archive, log, additional_files=source_relative_files(doc))
        except wdl_error.InputError as exn:
            raise RequestError(_one_line(exn)) from None
        if os.path.getsize(archive) > MAX_BUNDLE_BYTES:
            raise RequestError(
                "the WDL and the files it names beside it exceed 64 MiB; pass large files as"
                " inputs instead"
            )
        with open(archive, "rb") as f:
            return f.read()


def source_relative_files(doc: WDL.Tree.Document) -> list[str]:
    """Files and directories that WDL 1.2+ string literals name relative to their WDL file.

    WDL 1.2 resolves such paths (e.g. ``File names = "names.txt"``) against the source file's
    directory, so they must travel with the WDL in the run's bundle.
    """
    found: set[str] = set()
    seen: set[int] = set()

    def visit_doc(d: WDL.Tree.Document) -> None:
        if id(d) in seen:
            return
        seen.add(id(d))
        for imported in d.imports:
            if imported.doc is not None:
                visit_doc(imported.doc)
        source_dir = os.path.dirname(d.pos.abspath) if d.pos.abspath else ""
        if source_dir and _at_least_1_2(d.effective_wdl_version):
            visit_node(d, os.path.realpath(source_dir))

    def visit_node(node: Any, source_dir: str) -> None:
        if isinstance(node, WDL.Expr.String):
            parts = node.parts
            if len(parts) == 3 and isinstance(parts[1], str) and parts[1].strip():
                _add_if_beside(parts[1], source_dir, found)
        for child in node.children:
            visit_node(child, source_dir)

    visit_doc(doc)
    return sorted(found)


def _add_if_beside(literal: str, source_dir: str, found: set[str]) -> None:
    if os.path.isabs(literal) or "\\" in literal or "://" in literal:
        return
    target = os.path.realpath(os.path.join(source_dir, literal))
    if target == source_dir or not target.startswith(source_dir + os.sep):
        return
    if os.path.isfile(target) or os.path.isdir(target):
        found.add(target)


def _at_least_1_2(version: str) -> bool:
    if version == "development":
        return True
    major, _, minor = version.partition(".")
    return major.isdigit() and minor.isdigit() and (int(major), int(minor)) >= (1, 2)


def _one_line(exn: BaseException) -> str:
    message = " ".join(str(exn).split())
    pos = getattr(exn, "pos", None)
    if isinstance(pos, wdl_error.SourcePosition):
        where = pos.abspath or pos.uri
        if pos.abspath and not os.path.relpath(pos.abspath).startswith(".."):
            where = os.path.relpath(pos.abspath)
        return f"{where}:{pos.line}:{pos.column}: {message}"
    if isinstance(exn, wdl_error.ImportError) and exn.__cause__ is not None:
        return f"{message}: {_one_line(exn.__cause__)}"
    return message


def _wrong_type(
    doc: WDL.Tree.Document, task: str | None, inputs: list[str], exn: ValueError
) -> str:
    """Name the ``key=value`` argument whose value does not fit its declared type."""
    target = wdl_cli.runner_exe(doc, task)
    available = target.available_inputs
    for arg in inputs:
        name, _, value = arg.partition("=")
        name = name.removeprefix(target.name + ".")
        if not available.has_binding(name):
            continue
        declared = available[name].type
        try:
            wdl_cli.runner_input_value(value, declared, None, "/")
        except ValueError:
            return f"input {name} should be {declared}, not {value!r}"
        except wdl_error.InputError:
            continue
    return f"an input has the wrong type: {exn}"
