"""The ``miniwdl run`` options a run request carries as WES ``workflow_engine_parameters``.

The CLI turns its ``miniwdl run``-style flags into these (string-valued, as WES has them); the
API and the local submission check them with ``check_engine_parameter``; the orchestrator turns
them back into ``miniwdl run`` arguments with ``miniwdl_run_args`` and places the run directory
with ``requested_run_dir``. All pure, so one table of rules holds in every mode.
"""

from __future__ import annotations

import configparser
import json
import os
import posixpath
import re
from collections.abc import Mapping
from typing import Any

TRUE = "true"
# name -> what it does (the API's service-info lists these beside ``task`` and ``delete_after``)
MINIWDL_PARAMETERS = {
    "dir": "run directory, relative to the work filesystem's root (miniwdl run --dir);"
    " ending in '/.': exactly that directory",
    "cfg": "miniwdl configuration file content, applied in the orchestrator (--cfg)",
    "no_cache": "'true': no call or download cache lookups (--no-cache)",
    "copy_input_files": "'true': copy input files for each task (--copy-input-files)",
    "copy_input_files_for": "JSON list of task names to copy input files for",
    "runtime_defaults": "JSON object of default runtime settings (--runtime-defaults)",
    "runtime_cpu_max": "maximum cpu any task gets (--runtime-cpu-max)",
    "runtime_memory_max": "maximum memory any task gets, e.g. 8G (--runtime-memory-max)",
    "env": "JSON object NAME -> VALUE set in every task's environment (--env)",
    "path": "JSON list of the request's directories to search for imports (-p/--path)",
    "s3upload": "s3://BUCKET/PREFIX to copy the outputs and logs to as well (a subfolder named"
    " after the run unless it ends in '/')",
    "miniwdl_env": "JSON object of MINIWDL__SECTION__KEY settings for the run's miniwdl (the"
    " submitting shell's, unless --no-env)",
    "verbose": "'true': verbose run log (--verbose)",
    "no_color": "'true': no colors in the run log (--no-color)",
    "log_json": "'true': the run log in JSON lines (--log-json)",
}
_FLAGS = {
    "no_cache": "--no-cache",
    "copy_input_files": "--copy-input-files",
    "verbose": "--verbose",
    "no_color": "--no-color",
    "log_json": "--log-json",
}
# Settings a run's --cfg may not change: the deployment depends on them.
CFG_DENYLIST = {
    ("scheduler", "container_backend"): "the deployment's container backend",
    ("file_io", "root"): "the work filesystem's root",
    ("call_cache", "dir"): "the deployment's call cache",
    ("download_cache", "dir"): "the deployment's download cache",
}
MAX_CFG_CHARS = 64 * 1024
# MINIWDL__* settings a run may not bring (the deployment depends on them), by name prefix.
ENV_DENYLIST = (
    "MINIWDL__SCHEDULER__CONTAINER_BACKEND",
    "MINIWDL__FILE_IO__ROOT",
    "MINIWDL__CALL_CACHE__DIR",
    "MINIWDL__DOWNLOAD_CACHE__DIR",
    "MINIWDL__AWS_FARGATE__",
    "MINIWDL__MINIWDL_FARGATE__",
)
_MINIWDL_SETTING = re.compile(r"^MINIWDL__[A-Za-z0-9_]+__[A-Za-z0-9_]+$")
# The longest value any engine parameter takes (the API's limit; a --cfg's content is the largest).
MAX_ENGINE_PARAMETER_CHARS = MAX_CFG_CHARS
# Buckets (or bucket/prefix) the deployment's orchestrator may write to besides its own bucket:
# comma-separated, set by the stack beside the matching IAM policy.
ENV_UPLOAD_BUCKETS = "MINIWDL_FARGATE_UPLOAD_BUCKETS"
ENV_BUCKET = "MINIWDL_FARGATE_BUCKET"
_S3_URI = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(/.*)?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class EngineParameterError(ValueError):
    """An engine parameter with a value the run cannot take; ``str()`` is one line."""


def check_engine_parameter(key: str, value: str, environ: Mapping[str, str] = os.environ) -> None:
    """Refuse a value of one of ``MINIWDL_PARAMETERS`` with a message saying what it takes.
    ``environ`` holds the deployment's settings (``s3upload``'s writable buckets)."""
    if key == "s3upload":
        refusal = upload_refusal(value, environ)
        if refusal:
            raise EngineParameterError(refusal)
    elif key in _FLAGS:
        if value not in (TRUE, "false"):
            raise EngineParameterError(f"{key} must be 'true' or 'false', not {value!r}")
    elif key == "dir":
        check_dir(value)
    elif key == "cfg":
        check_cfg(value)
    elif key == "runtime_defaults":
        _json_object(key, value)
    elif key == "env":
        for name, setting in _json_object(key, value).items():
            if not _ENV_NAME.match(name) or not isinstance(setting, str):
                raise EngineParameterError(
                    f"env must map variable names to strings, not {name!r}: {setting!r}"
                )
    elif key == "miniwdl_env":
        for name, setting in _json_object(key, value).items():
            reason = setting_refusal(name)
            if reason or not isinstance(setting, str):
                raise EngineParameterError(
                    f"miniwdl_env may not set {name!r}: {reason or 'values are strings'}"
                )
    elif key == "copy_input_files_for":
        names = _json_value(key, value)
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise EngineParameterError("copy_input_files_for must be a JSON list of task names")
    elif key == "path":
        dirs = _json_value(key, value)
        if not isinstance(dirs, list) or not all(isinstance(d, str) and d for d in dirs):
            raise EngineParameterError("path must be a JSON list of the request's directories")
        for directory in dirs:
            check_dir(directory, "path")
    elif key == "runtime_cpu_max":
        if not value.isdigit() or int(value) < 1:
            raise EngineParameterError(
                f"runtime_cpu_max must be a whole number >= 1, not {value!r}"
            )
    elif key == "runtime_memory_max":
        from WDL._util import parse_byte_size

        try:
            size = parse_byte_size(value)
        except ValueError:
            size = 0
        if size < 1:
            raise EngineParameterError(
                f"runtime_memory_max must be a size such as 512M or 8G, not {value!r}"
            )


def setting_refusal(name: str) -> str | None:
    """Why a run may not bring the miniwdl setting ``name`` (``MINIWDL__SECTION__KEY``), or
    None."""
    if not _MINIWDL_SETTING.match(name):
        return "not a MINIWDL__SECTION__KEY name"
    if name.upper().startswith(ENV_DENYLIST):
        return "the deployment sets it"
    return None


def check_dir(value: str, key: str = "dir") -> None:
    """A directory that must stay under a root (the work filesystem's; for ``path``, the
    request's): relative, no ``..``."""
    path = value.replace(os.sep, "/")
    normal = posixpath.normpath(path)
    if path.startswith("/") or normal == ".." or normal.startswith("../") or "\0" in path:
        where = "the request's files" if key == "path" else "the work filesystem's root"
        raise EngineParameterError(
            f"{key} {value!r} is outside {where}; give a path relative to it"
        )


def check_cfg(text: str) -> None:
    """A miniwdl configuration file that parses and leaves the deployment's settings alone."""
    if len(text) > MAX_CFG_CHARS:
        raise EngineParameterError(f"cfg is larger than {MAX_CFG_CHARS // 1024} KiB")
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error as exn:
        message = " ".join(str(exn).split())
        raise EngineParameterError(f"cfg is not a miniwdl configuration file: {message}") from None
    for section in parser.sections():
        for option in parser.options(section):
            what = CFG_DENYLIST.get((section.lower(), option.lower()))
            if what:
                raise EngineParameterError(f"cfg may not set [{section}] {option}: it is {what}")


def miniwdl_run_args(options: Mapping[str, Any], cfg_file: str | None = None) -> list[str]:
    """The ``miniwdl run`` arguments the options ask for (``cfg_file``: where the ``cfg``
    option's content was written)."""
    args: list[str] = []
    for key, flag in _FLAGS.items():
        if options.get(key) == TRUE:
            args.append(flag)
    if cfg_file and options.get("cfg"):
        args += ["--cfg", cfg_file]
    if options.get("runtime_defaults"):
        args += ["--runtime-defaults", str(options["runtime_defaults"])]
    for key in ("runtime_cpu_max", "runtime_memory_max"):
        if options.get(key):
            args += ["--" + key.replace("_", "-"), str(options[key])]
    for name, value in sorted(json.loads(options.get("env") or "{}").items()):
        args += ["--env", f"{name}={value}"]
    for task in json.loads(options.get("copy_input_files_for") or "[]"):
        args += ["--copy-input-files-for", str(task)]
    return args


def requested_run_dir(root: str, run_id: str, options: Mapping[str, Any]) -> str | None:
    """The run directory the ``dir`` option asks for under ``root`` (miniwdl's ``--dir``: a
    subdirectory named after the run, or exactly ``DIR`` when it ends in ``/.``); None without
    it. Raises ``EngineParameterError`` for a path that leaves ``root``."""
    value = options.get("dir")
    if not value:
        return None
    check_dir(str(value))
    exact = str(value).rstrip("/").endswith("/.") or str(value) in (".", "./")
    base = os.path.normpath(os.path.join(os.path.abspath(root), str(value)))
    real_root = os.path.realpath(root)
    real = os.path.realpath(base)
    if real != real_root and not real.startswith(real_root + os.sep):
        raise EngineParameterError(f"dir {value!r} leads outside the work filesystem's root")
    if exact:
        if real == real_root:
            raise EngineParameterError("dir may not be the work filesystem's root itself")
        return base
    return os.path.join(base, run_id)


def upload_destination(uri: str, run_id: str) -> tuple[str, str]:
    """(bucket, key prefix) where ``s3upload`` = ``uri`` puts a run's results: a subfolder
    named after the run unless ``uri`` ends in ``/`` (as miniwdl-aws-submit)."""
    bucket, base = _upload_base(uri)
    return bucket, base if uri.endswith("/") else base + run_id + "/"


def _upload_base(uri: str) -> tuple[str, str]:
    """(bucket, the URI's key prefix, ending in ``/`` unless empty)."""
    match = _S3_URI.match(uri)
    path = (match.group(2) or "").strip("/") if match else ""
    if not match or "//" in path or any(p in (".", "..") for p in path.split("/")):
        raise EngineParameterError(f"s3upload must be s3://BUCKET[/PREFIX], not {uri!r}")
    return match.group(1), path + "/" if path else ""


def upload_refusal(uri: str, environ: Mapping[str, str]) -> str | None:
    """Why the deployment may not write to ``uri`` (with the IAM statement to add), or None.

    In a deployment (``MINIWDL_FARGATE_BUCKET`` set) the orchestrator may write to its own
    bucket and to ``MINIWDL_FARGATE_UPLOAD_BUCKETS`` (``bucket`` or ``bucket/prefix`` entries);
    without either set (the local mode) it writes with this machine's credentials, anywhere.
    """
    bucket, base = _upload_base(uri)
    own = environ.get(ENV_BUCKET, "").strip()
    listed = [e.strip().strip("/") for e in environ.get(ENV_UPLOAD_BUCKETS, "").split(",")]
    allowed = [e for e in [own, *listed] if e]
    if not allowed:
        return None
    for entry in allowed:
        allowed_bucket, _, allowed_prefix = entry.partition("/")
        if bucket == allowed_bucket and (
            not allowed_prefix or base.startswith(allowed_prefix + "/")
        ):
            return None
    statement = {
        "Effect": "Allow",
        "Action": ["s3:PutObject"],
        "Resource": f"arn:aws:s3:::{bucket}/{base}*",
    }
    return (
        f"the deployment may not write to {uri}: add {f'{bucket}/{base}'.rstrip('/')} to"
        f" {ENV_UPLOAD_BUCKETS} and this statement to the orchestrator role's policy:"
        f" {json.dumps(statement)}"
    )


def _json_value(key: str, value: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError as exn:
        raise EngineParameterError(f"{key} is not valid JSON: {exn}") from None


def _json_object(key: str, value: str) -> dict[str, Any]:
    data = _json_value(key, value)
    if not isinstance(data, dict):
        raise EngineParameterError(f"{key} must be a JSON object")
    return data
