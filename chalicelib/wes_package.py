"""Package a local WDL file and ``miniwdl run``-style inputs as a WES run request.

The WDL, the files it imports and names beside itself, and the local input files all travel as
``workflow_attachment`` parts (the API never reads the submitter's disk), with the inputs
rewritten to the attachments' names. The body is ``multipart/form-data``, encoded by urllib3.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import WDL

WDL_VERSIONS = ("1.0", "1.1", "1.2")
DEFAULT_WDL_VERSION = "draft-2"
INPUTS_PREFIX = "inputs"
_VERSION_LINE = re.compile(r"^\s*version\s+(\S+)")

log = logging.getLogger(__name__)


class RunRequestError(ValueError):
    """A run request that cannot be put together on this side (a missing file, bad inputs)."""


# The request


@dataclass(frozen=True)
class Attachment:
    """One ``workflow_attachment`` part: its name (relative, ``/``-separated) and content."""

    name: str
    data: bytes


@dataclass(frozen=True)
class RunRequest:
    """A WES ``RunRequest`` with its attachments, ready to encode."""

    workflow_url: str
    workflow_params: dict[str, Any]
    workflow_type_version: str
    attachments: tuple[Attachment, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    workflow_engine_parameters: dict[str, Any] | None = None
    workflow_type: str = "WDL"

    def encode(self) -> tuple[str, bytes]:
        """The ``multipart/form-data`` body: (content type, bytes)."""
        fields = [
            ("workflow_url", self.workflow_url),
            ("workflow_params", json.dumps(self.workflow_params)),
            ("workflow_type", self.workflow_type),
            ("workflow_type_version", self.workflow_type_version),
            ("tags", json.dumps(self.tags)),
        ]
        if self.workflow_engine_parameters is not None:
            fields.append(
                ("workflow_engine_parameters", json.dumps(self.workflow_engine_parameters))
            )
        files = [("workflow_attachment", a.name, a.data) for a in self.attachments]
        return encode_multipart(fields, files)


def encode_multipart(
    fields: Sequence[tuple[str, str]],
    files: Sequence[tuple[str, str, bytes]] = (),
    *,
    boundary: str | None = None,
) -> tuple[str, bytes]:
    """Encode form fields and file parts as ``multipart/form-data`` (urllib3's encoder).

    ``files`` are (field name, file name, content), sent as ``application/octet-stream``. The
    boundary is checked against every part, so content that happens to contain it cannot cut
    the body short. Returns (content type, body).
    """
    from urllib3.fields import RequestField
    from urllib3.filepost import choose_boundary, encode_multipart_formdata

    contents = [value.encode() for _, value in fields] + [data for _, _, data in files]
    if boundary is None:
        boundary = choose_boundary()
        while any(boundary.encode() in c for c in contents):
            boundary = choose_boundary()
    elif any(boundary.encode() in c for c in contents):
        raise ValueError("the multipart boundary occurs in a part's content")
    parts = [RequestField(name, value.encode()) for name, value in fields]
    for name, filename, data in files:
        part = RequestField(name, data, filename=filename)
        part.make_multipart(content_type="application/octet-stream")
        parts.append(part)
    for part in parts[: len(fields)]:
        part.make_multipart()
    body, content_type = encode_multipart_formdata(parts, boundary=boundary)
    return content_type, body


# Packaging a local WDL as a run request


def wdl_type_version(source: str) -> str:
    """``workflow_type_version`` of a WDL source: its ``version`` line (1.0, 1.1, 1.2), else
    "draft-2" (WDL before 1.0 had no version line)."""
    for line in source.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _VERSION_LINE.match(line)
        if match and match.group(1) in WDL_VERSIONS:
            return match.group(1)
        return DEFAULT_WDL_VERSION
    return DEFAULT_WDL_VERSION


def package_run(
    wdl_path: str,
    inputs: Sequence[str] = (),
    input_file: str | None = None,
    *,
    task: str | None = None,
    tags: Mapping[str, str] | None = None,
    options: Mapping[str, str] | None = None,
    empty: Sequence[str] = (),
    none: Sequence[str] = (),
    import_dirs: Sequence[str] = (),
    no_outside_imports: bool = False,
) -> RunRequest:
    """A run request for a local WDL file and ``miniwdl run``-style inputs.

    The WDL is loaded with miniwdl to find what must travel with it: the files it imports, the
    files WDL 1.2 names relative to it, and the local ``File``/``Directory`` inputs (rewritten to
    their names under ``inputs/``). Attachment names are relative to the directory holding the
    WDL files. A WDL that does not load, or inputs missing, are left for the API to report, so its
    message is the one the user sees; inputs that cannot even be parsed fail here, and so do
    ``name=value`` inputs to a WDL that does not load here (their types come from the WDL: they
    could only be dropped, and the run might then start without them). ``options`` are engine
    parameters beside ``task`` (``delete_after``, ...). ``empty``, ``none``, ``import_dirs``
    and ``no_outside_imports`` are ``miniwdl run``'s ``--empty``, ``--none``, ``-p`` and
    ``--no-outside-imports``: the WDL is loaded here with them; a ``-p`` directory an import
    came from travels as the ``path`` engine parameter.
    """
    rules = _LocalRules(tuple(empty), tuple(none), tuple(import_dirs), no_outside_imports)
    path = os.path.abspath(os.path.expanduser(wdl_path))
    if not os.path.isfile(path):
        raise RunRequestError(f"WDL file not found: {wdl_path}")
    main_source = _read(path, wdl_path)
    params_json = _read_inputs_file(input_file) if input_file else None
    version = wdl_type_version(main_source.decode(errors="replace"))
    engine: dict[str, Any] | None = dict(options or {})
    if task:
        engine = {"task": task, **(engine or {})}
    engine = engine or None
    doc = _load(path, rules)
    if doc is None:
        if inputs or rules != _LocalRules():
            raise RunRequestError(_local_message(wdl_path, inputs, input_file, task, None, rules))
        # The API loads it again and says what is wrong.
        return RunRequest(
            workflow_url=os.path.basename(path),
            workflow_params=params_json or {},
            workflow_type_version=version,
            attachments=(Attachment(os.path.basename(path), main_source),),
            tags=dict(tags or {}),
            workflow_engine_parameters=engine,
        )

    from .validation import source_relative_files

    wdl_files = _local_wdl_files(doc)
    search = [os.path.realpath(d) for d in import_dirs]
    used = [d for d in search if any(f.startswith(d + os.sep) for f in wdl_files[1:])]
    root = os.path.commonpath([os.path.dirname(f) for f in wdl_files] + used)
    if used:
        engine = {**(engine or {}), "path": json.dumps([_relative(d, root) for d in used])}
    attachments: dict[str, bytes] = {}
    for wdl_file in wdl_files:
        attachments[_relative(wdl_file, root)] = _read(wdl_file, wdl_file)
    for extra in source_relative_files(doc):
        for file_path in _files_under(extra):
            attachments[_relative(file_path, root)] = _read(file_path, file_path)

    params, local_paths = _typed_inputs(doc, path, inputs, input_file, params_json, task, rules)
    names = _input_names(local_paths, set(attachments))
    for local_path, name in names.items():
        if os.path.isdir(local_path):
            for file_path in _files_under(local_path):
                relative = _relative(file_path, local_path)
                attachments[name + "/" + relative] = _read(file_path, file_path)
        else:
            attachments[name] = _read(local_path, local_path)
    return RunRequest(
        workflow_url=_relative(wdl_files[0], root),
        workflow_params=_rewrite_inputs(doc, params, names, task),
        workflow_type_version=version,
        attachments=tuple(Attachment(n, d) for n, d in attachments.items()),
        tags=dict(tags or {}),
        workflow_engine_parameters=engine,
    )


def _read(path: str, shown: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exn:
        raise RunRequestError(f"cannot read {shown}: {exn.strerror or exn}") from None


def _read_inputs_file(input_file: str) -> dict[str, Any]:
    """The ``-i`` file, with the local mode's messages."""
    try:
        with open(input_file, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as exn:
        raise RunRequestError(
            f"cannot read inputs file {input_file}: {exn.strerror or exn}"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exn:
        raise RunRequestError(f"inputs file {input_file} is not valid JSON: {exn}") from None
    if not isinstance(data, dict):
        raise RunRequestError(f"inputs file {input_file} must hold a JSON object")
    return data


@dataclass(frozen=True)
class _LocalRules:
    """``miniwdl run``'s flags that change how the WDL and inputs are read here."""

    empty: tuple[str, ...] = ()
    none: tuple[str, ...] = ()
    import_dirs: tuple[str, ...] = ()
    no_outside_imports: bool = False


def _load(path: str, local: _LocalRules) -> WDL.Tree.Document | None:
    import WDL
    from WDL import CLI as wdl_cli
    from WDL import Error as wdl_error

    try:
        if local.import_dirs or local.no_outside_imports:
            return WDL.load(
                path,
                [os.path.abspath(d) for d in local.import_dirs],
                read_source=wdl_cli.make_read_source(local.no_outside_imports),
            )
        return WDL.load(path)
    except (
        wdl_error.SyntaxError,
        wdl_error.ValidationError,
        wdl_error.ImportError,
        wdl_error.MultipleValidationErrors,
        OSError,
    ):
        return None


def _local_wdl_files(doc: WDL.Tree.Document) -> list[str]:
    """The main WDL file, then every file it imports from the local disk (transitively)."""
    found: list[str] = []

    def visit(d: WDL.Tree.Document) -> None:
        path = os.path.realpath(d.pos.abspath)
        if path in found:
            return
        found.append(path)
        for imported in d.imports:
            if imported.doc is not None and not _is_url(imported.uri):
                visit(imported.doc)

    visit(doc)
    return found


def _is_url(uri: str) -> bool:
    scheme = urllib.parse.urlsplit(uri).scheme
    return len(scheme) > 1 and scheme != "file"


def _files_under(path: str) -> list[str]:
    """``path`` itself if it is a file, else the files in its tree, sorted."""
    if not os.path.isdir(path):
        return [path]
    found = []
    for directory, subdirs, files in os.walk(path):
        subdirs.sort()
        found += [os.path.join(directory, f) for f in sorted(files)]
    return found


def _relative(path: str, root: str) -> str:
    return os.path.relpath(path, root).replace(os.sep, "/")


def _typed_inputs(
    doc: WDL.Tree.Document,
    wdl_path: str,
    inputs: Sequence[str],
    input_file: str | None,
    params_json: dict[str, Any] | None,
    task: str | None,
    rules: _LocalRules,
) -> tuple[Any, list[str]]:
    """The inputs as miniwdl's typed bindings, and the local files and directories they name.

    Required inputs are not checked here (the API does, with its message). A parse error is
    reported with the local mode's message.
    """
    from WDL import CLI as wdl_cli
    from WDL import Error as wdl_error
    from WDL import Value
    from WDL.runtime import config as wdl_config
    from WDL.runtime import download as wdl_download

    cfg = wdl_config.Loader(log)
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # miniwdl prints a help text on errors
            _target, env, _json = wdl_cli.runner_input(
                doc,
                list(inputs),
                json.dumps(params_json) if params_json is not None else None,
                list(rules.empty),
                list(rules.none),
                task=task,
                check_required=False,
                downloadable=lambda fn, is_dir: wdl_download.able(cfg, fn, directory=is_dir),
                root="/",
            )
    except (
        wdl_error.InputError,
        wdl_error.SyntaxError,
        wdl_error.ValidationError,
        ValueError,
    ) as exn:
        raise RunRequestError(
            _local_message(wdl_path, inputs, input_file, task, exn, rules)
        ) from None

    local: list[str] = []

    def collect(value: Value.File | Value.Directory) -> str:
        if os.path.isabs(value.value) and os.path.exists(value.value):
            real = os.path.realpath(value.value)
            if real not in local:
                local.append(real)
        return str(value.value)

    Value.rewrite_env_paths(env, collect)
    return env, local


def _local_message(
    wdl_path: str,
    inputs: Sequence[str],
    input_file: str | None,
    task: str | None,
    exn: Exception | None,
    local: _LocalRules,
) -> str:
    """The one-line message the local mode gives for this request (a WDL that does not load,
    inputs that do not parse)."""
    from .validation import RequestError, validate_request

    try:
        validate_request(
            wdl_path,
            list(inputs),
            input_file,
            task=task,
            empty=local.empty,
            none=local.none,
            import_dirs=local.import_dirs,
            no_outside_imports=local.no_outside_imports,
        )
    except RequestError as error:
        return str(error)
    return " ".join(str(exn).split()) if exn else f"cannot load {wdl_path}"


def _input_names(local_paths: list[str], taken: set[str]) -> dict[str, str]:
    """An attachment name under ``inputs/`` for each local input path, never clashing with
    another attachment: ``inputs/NAME``, else ``inputs/2/NAME``, ``inputs/3/NAME``..."""
    names: dict[str, str] = {}
    used = set(taken)

    def clashes(name: str) -> bool:
        return any(u == name or u.startswith(name + "/") or name.startswith(u + "/") for u in used)

    for path in local_paths:
        base = os.path.basename(path.rstrip(os.sep)) or "input"
        name = f"{INPUTS_PREFIX}/{base}"
        k = 2
        while clashes(name):
            name = f"{INPUTS_PREFIX}/{k}/{base}"
            k += 1
        names[path] = name
        used.add(name)
    return names


def _rewrite_inputs(
    doc: WDL.Tree.Document, env: Any, names: dict[str, str], task: str | None
) -> dict[str, Any]:
    """The inputs JSON, local paths replaced by their attachment names."""
    from WDL import CLI as wdl_cli
    from WDL import Tree, Value, values_to_json

    def rename(value: Value.File | Value.Directory) -> str:
        if os.path.isabs(value.value) and os.path.exists(value.value):
            return names[os.path.realpath(value.value)]
        return str(value.value)

    target = wdl_cli.runner_exe(doc, task)
    rewritten = Value.rewrite_env_paths(env, rename)
    namespace = target.name if isinstance(target, Tree.Workflow) else ""
    return dict(values_to_json(rewritten, namespace=namespace))
