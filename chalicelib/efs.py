"""The work filesystem: where runs keep their working directories.

On AWS this is EFS, mounted at the same path in the orchestrator and in every task container;
locally it is a directory. Either way a run works in ``<root>/<run_id>``, so paths written by one
container are valid in all the others.
"""

from __future__ import annotations

import os
import re

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


class WorkFilesystemError(RuntimeError):
    """The work filesystem is missing or unusable; the message says how to fix it."""


def run_dir(root: str, run_id: str) -> str:
    """The working directory of a run (miniwdl's run directory)."""
    if not _RUN_ID.match(run_id):
        raise ValueError(f"invalid run id {run_id!r}")
    return os.path.join(os.path.abspath(root), run_id)


def request_dir(root: str, run_id: str) -> str:
    """Where the orchestrator stages the run's request (WDL bundle and inputs)."""
    return os.path.join(run_dir(root, run_id), "_request")


def ensure_work_root(root: str) -> str:
    """Create the work root if needed and check it is a writable directory."""
    path = os.path.abspath(root)
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exn:
        raise WorkFilesystemError(f"cannot create the work directory {path}: {exn}") from exn
    if not os.access(path, os.W_OK | os.X_OK):
        raise WorkFilesystemError(f"the work directory {path} is not writable by this user")
    return path
