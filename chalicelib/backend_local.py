"""miniwdl container backend ``local``: each WDL task runs as a process on this host, no Docker.

Select it with ``[scheduler] container_backend = local`` (the local mode's orchestrator does).
Each attempt is launched through the local launcher, which reports ECS-shaped events; the backend
learns that the attempt ended by reading the store, exactly as ``aws_fargate`` does on AWS.

Under the orchestrator (``[miniwdl_fargate] run_id`` and ``home`` set), the store is the local
mode's SQLite file and every event is recorded and announced. Under plain ``miniwdl run`` the
store is in memory.

Tasks never reserve more cpu or memory at once than the host has: an attempt waits until its
``runtime.cpu``/``runtime.memory`` fit beside those already running, in every run of the local
mode's home at once (``host_resources``).
"""

from __future__ import annotations

import atexit
import functools
import logging
import multiprocessing
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import psutil
from WDL._util import StructuredLogMessage as _
from WDL.runtime import config
from WDL.runtime.error import Terminated

from . import ecs_events
from .container_base import (
    CONFIG_SECTION,
    SharedFilesystemContainer,
    attempt_exit_code,
    control_plane_option,
    oom_policy,
)
from .host_resources import HostResources
from .launcher import TaskSpec
from .local_launcher import DEFAULT_STOP_GRACE_SECONDS, LocalLauncher
from .local_mode import LocalHome
from .memory_store import MemoryStore
from .miniwdl_plugins import remember_plugin_entry_points
from .notifications import LogNotifier
from .records import utc_now
from .status import ControlPlane, handle_ecs_event
from .task_watcher import TaskWatcher

WATCH_INTERVAL = 1.0
RECONCILE_AFTER = 30.0


@dataclass
class _Runtime:
    """Per-process state of the backend, made once by ``global_init``."""

    run_id: str
    plane: ControlPlane
    watcher: TaskWatcher
    resources: HostResources
    stop_grace_seconds: float
    memory_limits: bool  # whether a task's declared memory is its hard limit (``memory_cgroup``)


def _host_limits() -> dict[str, int]:
    return {"cpu": multiprocessing.cpu_count(), "mem_bytes": psutil.virtual_memory().total}


class LocalContainer(SharedFilesystemContainer):
    """Runs each task attempt as a host process in the task's working directory."""

    FINALIZE_IN_CONTAINER = False  # the orchestrator is on the same host: no process for it

    _runtime: ClassVar[_Runtime | None] = None
    _limits: ClassVar[dict[str, int] | None] = None
    _init_lock: ClassVar[threading.Lock] = threading.Lock()
    _warned_docker: ClassVar[bool] = False

    @classmethod
    def global_init(cls, cfg: config.Loader, logger: logging.Logger) -> None:
        remember_plugin_entry_points()
        with cls._init_lock:
            limits = cls.detect_resource_limits(cfg, logger)
            oom_policy(cfg)  # a bad setting fails the run now, not at a task's first kill
            grace = _cfg_float(cfg, "stop_grace_seconds", DEFAULT_STOP_GRACE_SECONDS)
            managed_run = control_plane_option(cfg, "run_id")
            ledger = None
            if managed_run:
                home = LocalHome(control_plane_option(cfg, "home"))
                ledger = home.resources_ledger
                plane = home.control_plane(stop_grace_seconds=grace)
                run_id = managed_run
            else:
                plane = _in_memory_plane(logger, grace)
                run_id = f"miniwdl-{int(time.time())}"
            launcher = plane.launcher
            assert isinstance(launcher, LocalLauncher)
            cls._runtime = _Runtime(
                run_id=run_id,
                plane=plane,
                watcher=TaskWatcher(
                    plane.store,
                    interval=_cfg_float(cfg, "watch_interval", WATCH_INTERVAL),
                    # a task whose end was not recorded (its event could not be delivered)
                    reconcile=functools.partial(launcher.repair, plane),
                    reconcile_after=_cfg_float(cfg, "reconcile_after_seconds", RECONCILE_AFTER),
                ),
                resources=HostResources(limits["cpu"], limits["mem_bytes"], ledger),
                stop_grace_seconds=grace,
                memory_limits=_memory_limits(cfg),
            )
            logger.info(
                _("local backend ready", run_id=run_id, managed=bool(managed_run), **limits)
            )

    @classmethod
    def detect_resource_limits(cls, cfg: config.Loader, logger: logging.Logger) -> dict[str, int]:
        if cls._limits is None:
            cls._limits = _host_limits()
        return cls._limits

    def _run(self, logger: logging.Logger, terminating: Callable[[], bool], command: str) -> int:
        runtime = self._runtime
        if runtime is None:
            raise RuntimeError("the local backend was used before global_init")
        if self.runtime_values.get("docker"):
            self._warn_docker_once(logger)
        argv = self.attempt_command(logger, command)
        cpu = int(self.runtime_values.get("cpu", 0))
        memory = int(self.runtime_values.get("memory_reservation", 0))
        memory_mb = memory // (1024 * 1024)
        requested = {ecs_events.ENV_REQUESTED_AT: utc_now()}  # its queued time starts here
        with runtime.resources.reserve(cpu, memory) as waited:
            logger.info(
                _("provisioned", seconds_waited=round(waited, 3), cpu=cpu, mem_bytes=memory)
            )
            if terminating():
                raise Terminated()
            spec = TaskSpec(
                run_id=runtime.run_id,
                role=ecs_events.ROLE_TASK,
                command=argv,
                environment={**self.identity_environment(runtime.run_id), **requested},
                family="miniwdl-fargate-local-task",
                cpu=max(cpu, 1) * 1024,
                memory_mb=max(memory_mb, 1),
                memory_limit_mb=memory_mb if memory_mb and runtime.memory_limits else None,
            )
            record = self.launch_and_wait(
                logger,
                terminating,
                runtime.plane.launcher,
                runtime.watcher,
                spec,
                stop_wait_seconds=runtime.stop_grace_seconds + 5,
            )
        return attempt_exit_code(record)

    @classmethod
    def _warn_docker_once(cls, logger: logging.Logger) -> None:
        with cls._init_lock:
            if cls._warned_docker:
                return
            cls._warned_docker = True
        logger.warning(
            "the local backend ignores runtime.docker/container: task commands run directly on"
            " this host, with its installed tools"
        )


def _in_memory_plane(logger: logging.Logger, stop_grace_seconds: float) -> ControlPlane:
    state_dir = tempfile.mkdtemp(prefix="miniwdl-local-")
    atexit.register(shutil.rmtree, state_dir, True)
    plane = ControlPlane(store=MemoryStore(), notifier=LogNotifier(logger), launcher=None)  # type: ignore[arg-type]
    plane.launcher = LocalLauncher(
        state_dir,
        lambda event: handle_ecs_event(event, plane),
        stop_grace_seconds=stop_grace_seconds,
    )
    return plane


def _memory_limits(cfg: config.Loader) -> bool:
    """``[miniwdl_fargate] local_memory_limits`` (default true): a task's ``memory`` is a hard
    limit, as on Fargate, where this host's memory cgroups allow it."""
    key = "local_memory_limits"
    return not cfg.has_option(CONFIG_SECTION, key) or cfg[CONFIG_SECTION].get_bool(key)


def _cfg_float(cfg: config.Loader, key: str, default: float) -> float:
    value = control_plane_option(cfg, key)
    return float(value) if value else default
