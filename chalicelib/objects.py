"""The objects port: run requests in, results out (S3 on AWS, a directory locally).

Keys are S3-style ("requests/RUN/inputs.json"). ``location`` gives the address a user can use to
fetch an object: an ``s3://`` URI on AWS, an absolute path locally.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from typing import Protocol

REQUESTS_PREFIX = "requests"
RESULTS_PREFIX = "results"


class ObjectStore(Protocol):
    """Where request and result objects live."""

    def put_bytes(self, key: str, data: bytes) -> str:
        """Store ``data`` at ``key``; returns its location."""

    def put_file(self, key: str, path: str) -> str:
        """Store a local file at ``key``; returns its location."""

    def get_bytes(self, key: str) -> bytes:
        """The object's bytes; raises ``FileNotFoundError`` if absent."""

    def get_file(self, key: str, path: str) -> None:
        """Write the object to a local file."""

    def location(self, key: str) -> str:
        """The user-facing address of ``key``."""


def request_key(run_id: str, name: str) -> str:
    """Key of a run's request object (the WDL bundle, the inputs)."""
    return f"{REQUESTS_PREFIX}/{run_id}/{name}"


def result_key(run_id: str, name: str) -> str:
    """Key of a run's result object (outputs, logs)."""
    return f"{RESULTS_PREFIX}/{run_id}/{name}"


class DirectoryObjects:
    """Local adapter: objects are files under a root directory.

    Files are hard-linked in when the filesystem allows, so large outputs are not copied twice;
    writes go through a temporary file and a rename, so a reader never sees half an object.
    """

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        os.makedirs(self.root, exist_ok=True)

    def _path(self, key: str) -> str:
        path = os.path.normpath(os.path.join(self.root, key))
        if not key or os.path.isabs(key) or not path.startswith(self.root + os.sep):
            raise ValueError(f"invalid object key {key!r}")
        return path

    def location(self, key: str) -> str:
        return self._path(key)

    def put_bytes(self, key: str, data: bytes) -> str:
        path = self._path(key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
        return path

    def put_file(self, key: str, path: str) -> str:
        path = os.path.realpath(path)  # link the file, never a symlink to it
        dest = self._path(key)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        tmp = os.path.join(os.path.dirname(dest), f".tmp-{os.getpid()}-{os.path.basename(dest)}")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        try:
            os.link(path, tmp)
        except OSError as exn:
            if exn.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                raise
            shutil.copyfile(path, tmp)
        os.replace(tmp, dest)
        return dest

    def get_bytes(self, key: str) -> bytes:
        with open(self._path(key), "rb") as f:
            return f.read()

    def get_file(self, key: str, path: str) -> None:
        shutil.copyfile(self._path(key), path)
