"""Placing a task's File and Directory inputs in its working directory: the same bytes, read-only.

Both backends run task commands against host paths (a host process locally, EFS at the same path
on Fargate), so an input is placed as a file of its own under the task's ``work/`` directory.
What a placement guarantees:

- **The same bytes.** A symlink is resolved first (miniwdl's ``out/`` links are relative, so a
  link to the link would dangle), and the target is placed, never the link.
- **No task can change a file it did not create.** Every placed file is read-only. A write to it
  fails; creating, renaming or deleting entries in the task's own directory still works, so
  ``sed -i`` or an index written beside an input do no harm to the original.
- **Cheap on the common path.** A file that is already read-only (a finished task's output:
  ``finalize_script`` makes them so, in the task's own container) is hard-linked, with no copy,
  whatever its size. A writable file (a user's own input) is never linked, since the link would
  share its write permission: it is cloned where the filesystem can (reflink, no copy), else
  copied, once per process, and later placements of it link to that first read-only copy.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import stat
import threading
from dataclasses import dataclass

# Linux's FICLONE ioctl: a copy-on-write clone (btrfs, XFS, bcachefs); fails at once elsewhere.
_FICLONE = 0x40049409
_NO_LINK = (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES)
WRITE_BITS = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH


@dataclass(frozen=True)
class Placed:
    """How one file was placed: ``link`` (no bytes written), ``clone``, or ``copy``."""

    path: str
    how: str


class Placer:
    """Places inputs; remembers the read-only copy of each writable source, so a file used by
    many tasks is copied once, not once per task."""

    def __init__(self) -> None:
        self._copies: dict[tuple[int, int, int, int], str] = {}
        self._lock = threading.Lock()

    def place_file(self, source: str, dest: str, *, copy: bool = False) -> Placed:
        """Place the file ``source`` (symlinks resolved) at ``dest``, read-only. ``copy``
        forces a copy (miniwdl's ``[file_io] copy_input_files``)."""
        real = os.path.realpath(source)
        info = os.stat(real)
        if not stat.S_ISREG(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, "not a regular file", source)
        if not copy and not info.st_mode & WRITE_BITS and _try_link(real, dest):
            return Placed(dest, "link")
        key = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
        if not copy:
            with self._lock:
                earlier = self._copies.get(key)
            if earlier is not None and _try_link(earlier, dest):
                return Placed(dest, "link")
        how = _clone_or_copy(real, dest)
        make_read_only(dest)
        if not copy:
            with self._lock:
                self._copies[key] = dest
        return Placed(dest, how)

    def place_tree(self, source: str, dest: str, *, copy: bool = False) -> list[Placed]:
        """Place the directory ``source`` at ``dest`` as a real tree (a symlinked directory
        breaks ``find`` and friends), each file as ``place_file`` would."""
        placed: list[Placed] = []

        def place(src: str, dst: str) -> str:
            placed.append(self.place_file(src, dst, copy=copy))
            return dst

        shutil.copytree(os.path.realpath(source), dest, symlinks=False, copy_function=place)
        return placed


def make_read_only(path: str) -> None:
    """Clear the write bits of ``path`` (a regular file, not followed if a symlink)."""
    mode = os.stat(path, follow_symlinks=False).st_mode
    if stat.S_ISREG(mode) and mode & WRITE_BITS:
        os.chmod(path, stat.S_IMODE(mode) & ~WRITE_BITS)


def make_outputs_read_only(work_dir: str, streams: list[str]) -> None:
    """Make what a finished task created read-only: every regular file under ``work_dir`` (not
    its placed inputs) and its ``streams``. Where the task ran on this host; a container does
    the same itself (``finalize_script``), sparing the orchestrator a walk over NFS."""
    for parent, dirs, files in os.walk(work_dir):
        if parent == work_dir and "_miniwdl_inputs" in dirs:
            dirs.remove("_miniwdl_inputs")
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                make_read_only(os.path.join(parent, name))
    for stream in streams:
        with contextlib.suppress(FileNotFoundError):
            make_read_only(stream)


def finalize_script(work_dir: str, streams: list[str]) -> str:
    """POSIX shell that, run in the task's container after its command, makes what the task
    created read-only: every regular file under ``work_dir`` (not its placed inputs) and its
    ``streams`` (stdout/stderr files). Downstream tasks can then link them instead of copying.
    Symlinks are not followed, so a task cannot use this to change files outside."""
    from shlex import quote

    files = " ".join(quote(s) for s in streams)
    return (
        f"find {quote(work_dir)} -path {quote(os.path.join(work_dir, '_miniwdl_inputs'))} -prune"
        " -o -type f -exec chmod a-w {} + 2>/dev/null;"
        f" chmod a-w {files} 2>/dev/null"
    )


def _try_link(source: str, dest: str) -> bool:
    try:
        os.link(source, dest)
    except FileNotFoundError:
        return False
    except OSError as exn:
        if exn.errno in _NO_LINK:
            return False
        raise
    return True


def _clone_or_copy(source: str, dest: str) -> str:
    """A reflink clone of ``source`` where the filesystem supports one, else a byte copy."""
    with open(source, "rb") as src, open(dest, "wb") as dst, contextlib.suppress(OSError):
        fcntl.ioctl(dst.fileno(), _FICLONE, src.fileno())
        shutil.copystat(source, dest)
        return "clone"
    shutil.copy2(source, dest)
    return "copy"
