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
import posixpath
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import WDL
from WDL import CLI as wdl_cli
from WDL import Error as wdl_error
from WDL import Zip as wdl_zip
from WDL.runtime import config as wdl_config
from WDL.runtime import download as wdl_download

from .wdl_parser_cache import use_cached_wdl_parser
from .wes import RunRequest, is_url

log = logging.getLogger(__name__)
# miniwdl's config loader and zip builder narrate at INFO; a submission needs only problems.
_miniwdl_log = logging.getLogger(__name__ + ".miniwdl")
_miniwdl_log.setLevel(logging.WARNING)

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
    empty: Sequence[str] = (),
    none: Sequence[str] = (),
    import_dirs: Sequence[str] = (),
    no_outside_imports: bool = False,
) -> ValidatedRequest:
    """Check a request the way ``miniwdl run`` would, without running it (the CLI's local
    submissions: inputs may name any local file). ``empty``, ``none``, ``import_dirs`` and
    ``no_outside_imports`` are ``miniwdl run``'s ``--empty``, ``--none``, ``--path`` and
    ``--no-outside-imports``."""
    path = os.path.abspath(os.path.expanduser(wdl_path))
    if not os.path.isfile(path):
        raise RequestError(f"WDL file not found: {wdl_path}")
    inputs_json = _read_inputs_file(input_file) if input_file else None
    if import_dirs or no_outside_imports:
        doc = _load(
            path,
            wdl_path,
            wdl_cli.make_read_source(no_outside_imports),
            import_dirs=[os.path.abspath(d) for d in import_dirs],
        )
    else:
        doc = _load(path, wdl_path)
    cfg = wdl_config.Loader(_miniwdl_log)
    name, input_json = _check_inputs(
        doc,
        list(inputs or []),
        inputs_json,
        task,
        lambda fn, is_dir: wdl_download.able(cfg, fn, directory=is_dir),
        empty=empty,
        none=none,
    )
    return ValidatedRequest(
        wdl_path=path,
        workflow_name=name,
        inputs=input_json,
        bundle=_bundle(doc, input_json, []),
        task=task,
    )


def validate_run_request(request: RunRequest, fetch: Callable[[str], bytes]) -> ValidatedRequest:
    """Check a WES run request (the API and S3 drops): the WDL is an attachment or fetched from
    its URL with ``fetch``; File and Directory inputs must be URIs or attachments. Nothing on
    this machine outside the request's own files can be read, imported or named as an input."""
    with tempfile.TemporaryDirectory(prefix="miniwdl-fargate-request-") as tmp:
        root = os.path.realpath(tmp)
        for name, data in request.attachments.items():
            dest = os.path.join(root, os.path.normpath(name))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with open(dest, "wb") as f:
                f.write(data)
        if is_url(request.workflow_url):
            data = fetch(request.workflow_url)
            name = posixpath.basename(request.workflow_url.split("?")[0]) or "workflow.wdl"
            main = os.path.join(root, name)
            if os.path.exists(main):
                raise RequestError(
                    f"workflow_url {request.workflow_url!r} clashes with attachment {name!r}"
                )
            with open(main, "wb") as f:
                f.write(data)
        else:
            main = os.path.join(root, os.path.normpath(request.workflow_url))
        base_url = request.workflow_url if is_url(request.workflow_url) else None
        import_dirs = [
            os.path.join(root, os.path.normpath(d))
            for d in _import_path(request.workflow_engine_parameters.get("path") or "[]")
        ]
        doc = _load(
            main,
            request.workflow_url,
            read_source=_confined_reader(root, base_url, fetch, import_dirs=import_dirs),
        )
        cfg = wdl_config.Loader(_miniwdl_log)
        attached: set[str] = set()

        def downloadable(path: str, is_dir: bool) -> bool:
            if wdl_download.able(cfg, path, directory=is_dir):
                return True
            attached.add(_attachment_input(root, os.path.dirname(main), path, is_dir))
            return True

        name, input_json = _check_inputs(
            doc, [], request.workflow_params, request.task, downloadable
        )
        return ValidatedRequest(
            wdl_path=request.workflow_url,
            workflow_name=name,
            inputs=input_json,
            bundle=_bundle(doc, input_json, sorted(attached)),
            task=request.task,
        )


def _attachment_input(root: str, base: str, path: str, is_dir: bool) -> str:
    """The attachment an input path names (relative to the main WDL's directory), or
    ``RequestError``: a run may not read the submitter's or the service's own files."""
    kind = "Directory" if is_dir else "File"
    if os.path.isabs(path) or "://" in path:
        raise RequestError(
            f"{kind} input {path!r} names a path outside the run; give an s3:// or https:// URI,"
            " or attach the file and name it relative to the workflow"
        )
    target = os.path.realpath(os.path.join(base, path))
    if not target.startswith(root + os.sep):
        raise RequestError(f"{kind} input {path!r} names a path outside the run's attachments")
    exists = os.path.isdir(target) if is_dir else os.path.isfile(target)
    if not exists:
        raise RequestError(f"{kind} input {path!r} is not among the attachments")
    return target


def _import_path(value: str) -> list[str]:
    """The ``path`` engine parameter (``miniwdl run -p``): the request's directories."""
    try:
        dirs = json.loads(value)
    except json.JSONDecodeError:
        dirs = None
    if not isinstance(dirs, list) or not all(isinstance(d, str) for d in dirs):
        raise RequestError("path must be a JSON list of the request's directories")
    return dirs


def _confined_reader(
    root: str,
    base_url: str | None,
    fetch: Callable[[str], bytes],
    *,
    import_dirs: Sequence[str] = (),
) -> Callable[..., Awaitable[Any]]:
    """miniwdl ``read_source`` that reads WDL only from the request's own directory; an import
    missing there is looked for in ``import_dirs`` (``miniwdl run -p``, directories of the
    request), then fetched relative to ``base_url`` (the workflow's URL), if there is one."""

    async def read_source(uri: str, path: list[str], importer: Any) -> Any:
        if "://" in uri or (importer is not None and os.path.isabs(uri)):
            raise RequestError(f"import {uri!r}: imports must be relative to the workflow")
        base = os.path.dirname(importer.pos.abspath) if importer is not None else root
        target = os.path.realpath(os.path.join(base, uri))
        if importer is not None and not os.path.exists(target):
            for directory in import_dirs:
                candidate = os.path.realpath(os.path.join(directory, uri))
                if os.path.isfile(candidate):
                    target = candidate
                    break
        if not target.startswith(root + os.sep):
            raise RequestError(f"import {uri!r} is outside the request's files")
        if not os.path.exists(target) and base_url:
            relative = os.path.relpath(target, root)
            data = fetch(posixpath.join(posixpath.dirname(base_url), relative))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as f:
                f.write(data)
        return await WDL.Tree.read_source_default(target, [], importer)

    return read_source


def _load(
    path: str,
    shown: str,
    read_source: Callable[..., Awaitable[Any]] | None = None,
    *,
    import_dirs: Sequence[str] = (),
) -> Any:
    use_cached_wdl_parser()
    try:
        return WDL.load(path, list(import_dirs), read_source=read_source)
    except (wdl_error.SyntaxError, wdl_error.ValidationError) as exn:
        raise RequestError(_one_line(exn)) from None
    except wdl_error.ImportError as exn:
        cause = exn.__cause__
        if isinstance(cause, RequestError):
            raise RequestError(str(cause)) from None
        raise RequestError(_one_line(exn)) from None
    except wdl_error.MultipleValidationErrors as exn:
        first = _one_line(exn.exceptions[0])
        more = len(exn.exceptions) - 1
        raise RequestError(first + (f" (and {more} more errors)" if more else "")) from None
    except RequestError:
        raise
    except OSError as exn:
        raise RequestError(f"cannot read {shown}: {exn.strerror or exn}") from None
    except UnicodeDecodeError:
        raise RequestError(f"{shown} is not UTF-8 text") from None


def _check_inputs(
    doc: Any,
    inputs: list[str],
    inputs_json: dict[str, Any] | None,
    task: str | None,
    downloadable: Callable[[str, bool], bool],
    *,
    empty: Sequence[str] = (),
    none: Sequence[str] = (),
) -> tuple[str, dict[str, Any]]:
    """(target name, inputs JSON) as ``miniwdl run`` would take them; ``RequestError`` else."""
    try:
        # miniwdl prints a help text to stderr when an input name is unknown; keep one line.
        with contextlib.redirect_stderr(io.StringIO()):
            target, _env, input_json = wdl_cli.runner_input(
                doc,
                inputs,
                json.dumps(inputs_json) if inputs_json is not None else None,
                list(empty),
                list(none),
                task=task,
                downloadable=downloadable,
                root="/",
            )
    except RequestError:
        raise
    except wdl_error.InputError as exn:
        raise RequestError(_one_line(exn)) from None
    except ValueError as exn:  # int("abc") and friends, from key=value arguments
        raise RequestError(_wrong_type(doc, task, inputs, exn)) from None
    except (wdl_error.SyntaxError, wdl_error.ValidationError) as exn:
        raise RequestError(_one_line(exn)) from None
    return str(target.name), dict(input_json)


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


def _bundle(doc: WDL.Tree.Document, inputs: dict[str, Any], files: list[str]) -> bytes:
    """The run's one request object: miniwdl's zip of the WDL and its imports, with the inputs
    as its default inputs, and the files they name relative to the WDL."""
    with tempfile.TemporaryDirectory(prefix="miniwdl-fargate-") as tmp:
        archive = os.path.join(tmp, "workflow.zip")
        extra = sorted(set(source_relative_files(doc)) | set(files))
        try:
            wdl_zip.build(doc, archive, _miniwdl_log, inputs=inputs or None, additional_files=extra)
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
