"""The work filesystem: where runs keep their working directories.

On AWS this is EFS, mounted at the same path in the orchestrator and in every task container;
locally it is a directory. Either way a run works in ``<root>/<run_id>``, so paths written by one
container are valid in all the others.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

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


NETWORK_FILESYSTEMS = frozenset({"nfs", "nfs4", "efs"})


@dataclass(frozen=True)
class EfsSettings:
    """How task containers mount the work filesystem."""

    file_system_id: str
    access_point_id: str = ""
    iam: bool = False
    mountpoint: str = "/mnt/efs"


def volume_configuration(settings: EfsSettings) -> dict[str, Any]:
    """The task definition's ``efsVolumeConfiguration``: through the access point (its POSIX
    user and root directory apply), always with transit encryption, IAM authorization as an
    option."""
    volume: dict[str, Any] = {
        "fileSystemId": settings.file_system_id,
        "transitEncryption": "ENABLED",
    }
    if settings.access_point_id or settings.iam:
        volume["authorizationConfig"] = {"iam": "ENABLED" if settings.iam else "DISABLED"}
        if settings.access_point_id:
            volume["authorizationConfig"]["accessPointId"] = settings.access_point_id
    return volume


def mount_of(path: str, mounts_text: str) -> tuple[str, str]:
    """The (mount point, filesystem type) that holds ``path``, from /proc/mounts' text (pure)."""
    path = os.path.abspath(path)
    best = ("/", "")
    for line in mounts_text.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ").replace("\\011", "\t").replace("\\134", "\\")
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best[0]):
            best = (point, fields[2])
    return best


def check_mounted(mountpoint: str, mounts_path: str = "/proc/mounts") -> None:
    """Fail clearly, with how to fix it, unless ``mountpoint`` is on an NFS (EFS) mount."""
    try:
        with open(mounts_path, encoding="utf-8", errors="replace") as f:
            mounts = f.read()
    except OSError as exn:
        raise WorkFilesystemError(
            f"cannot read {mounts_path} to check the EFS mount: {exn}"
        ) from exn
    point, fstype = mount_of(mountpoint, mounts)
    if fstype not in NETWORK_FILESYSTEMS:
        raise WorkFilesystemError(
            f"[aws_fargate] efs_mountpoint {mountpoint} is not on EFS (it is on {fstype or 'no'}"
            f" filesystem mounted at {point}). Mount the file system there, e.g."
            f" `sudo mount -t efs -o tls,accesspoint=ACCESS_POINT FILE_SYSTEM_ID:/ {mountpoint}`,"
            " or set efs_mountpoint to where it is mounted: task containers see it at that path,"
            " so the orchestrator must too."
        )
