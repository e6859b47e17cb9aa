"""The local mode: every port on one machine, under one home directory.

    <home>/state.sqlite3         the store (runs and tasks)
    <home>/notifications.jsonl   notifications out
    <home>/objects/              requests in, results out
    <home>/work/                 the work filesystem (run directories)
    <home>/tasks/, <home>/logs/  the local launcher's task state and container logs

The home is ``$MINIWDL_FARGATE_HOME``, else ``$XDG_DATA_HOME/miniwdl-fargate``, else
``~/.local/share/miniwdl-fargate``.
"""

from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass

from . import ecs_events
from .admission import Admission
from .groups import default_limits
from .launcher import TaskSpec
from .local_launcher import DEFAULT_STOP_GRACE_SECONDS, LocalLauncher
from .notifications import JsonLinesNotifier
from .objects import DirectoryObjects
from .sqlite_store import SqliteStore
from .status import ControlPlane, handle_ecs_event
from .sweep import SweepReport, sweep

ENV_HOME = "MINIWDL_FARGATE_HOME"
# Locally a sweep costs a few file reads, so records are looked at after a short quiet.
SWEEP_QUIET_SECONDS = 5.0


def default_home() -> str:
    """The local home directory, from the environment."""
    if os.environ.get(ENV_HOME):
        return os.path.abspath(os.environ[ENV_HOME])
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local/share")
    return os.path.join(data, "miniwdl-fargate")


@dataclass(frozen=True)
class LocalHome:
    """Paths of the local mode's ports under one root (made absolute: every process of the
    local mode, whatever its working directory, must find the same store)."""

    root: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", os.path.abspath(os.path.expanduser(self.root)))

    @property
    def store_path(self) -> str:
        return os.path.join(self.root, "state.sqlite3")

    @property
    def notifications_path(self) -> str:
        return os.path.join(self.root, "notifications.jsonl")

    @property
    def objects_root(self) -> str:
        return os.path.join(self.root, "objects")

    @property
    def work_root(self) -> str:
        return os.path.join(self.root, "work")

    @property
    def tasks_dir(self) -> str:
        return os.path.join(self.root, "tasks")

    @property
    def resources_ledger(self) -> str:
        """The host's cpu and memory reserved by the task attempts of every run."""
        return os.path.join(self.root, "resources.json")

    @property
    def logs_dir(self) -> str:
        return os.path.join(self.root, "logs")

    def objects(self) -> DirectoryObjects:
        """The objects adapter."""
        return DirectoryObjects(self.objects_root)

    def control_plane(
        self, *, detach: bool = False, stop_grace_seconds: float = DEFAULT_STOP_GRACE_SECONDS
    ) -> ControlPlane:
        """Store, notifier and launcher, wired so launched tasks report to the handler.

        ``detach`` launches tasks through a separate agent process (for the orchestrator, which
        must outlive the CLI); otherwise tasks are children of this process.
        """
        plane = ControlPlane(
            store=SqliteStore(self.store_path),
            notifier=JsonLinesNotifier(self.notifications_path),
            launcher=None,  # type: ignore[arg-type]  # set just below: it needs the plane
        )
        plane.launcher = LocalLauncher(
            self.tasks_dir,
            lambda event: handle_ecs_event(event, plane),
            detach=detach,
            stop_grace_seconds=stop_grace_seconds,
        )
        # Run groups: a run admitted when another ends is launched by whichever process handled
        # that event (an agent, the CLI's sweep), so through an agent of its own.
        plane.admission = Admission(
            self.orchestrator_spec,
            default_limits(os.environ),
            launcher=None
            if detach
            else LocalLauncher(self.tasks_dir, plane.launcher.on_event, detach=True),
        )
        return plane

    def sweep(self, plane: ControlPlane, quiet_seconds: float = SWEEP_QUIET_SECONDS) -> SweepReport:
        """Repair the records of runs and tasks whose events were lost (``sweep``), from what
        the local launcher's state files say became of their processes."""
        launcher = LocalLauncher(self.tasks_dir, lambda event: handle_ecs_event(event, plane))
        return sweep(plane, functools.partial(launcher.repair, plane), quiet_seconds=quiet_seconds)

    def orchestrator_log(self, run_id: str) -> str:
        """Where the orchestrator's stdout/stderr go (CloudWatch Logs' part on AWS)."""
        return os.path.join(self.logs_dir, f"{run_id}.orchestrator.log")

    def orchestrator_spec(self, run_id: str) -> TaskSpec:
        """How the local mode runs a run's orchestrator: this Python, this package."""
        return TaskSpec(
            run_id=run_id,
            role=ecs_events.ROLE_ORCHESTRATOR,
            command=[sys.executable, "-m", "chalicelib.orchestrator", run_id],
            environment={ENV_HOME: self.root, ecs_events.ENV_RUN_ID: run_id},
            family="miniwdl-fargate-orchestrator",
            container_name="orchestrator",
            log_path=self.orchestrator_log(run_id),
            client_token=run_id,  # a repeated launch of the run starts no second orchestrator
        )
