"""The local launcher: each "ECS task" is a child process, watched by a local stand-in for ECS.

For every task it emits the events ECS would (PROVISIONING, RUNNING, STOPPED with exit code and
stop code, ``version`` increasing) to the same handler that serves EventBridge on AWS.

Each task runs in its own session, so stopping it kills its whole process group. A small JSON
file per task (pid, process start time, the pid of whoever watches it, last event version) lets
any process of the local mode stop any task, and report it STOPPED itself if its watcher died.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict
from typing import Any

import psutil

from . import ecs_events, memory_cgroup, warm_start
from .launcher import ENV_TASK_ARN, LaunchError, TaskSpec
from .out_of_memory import ECS_OOM_REASON
from .records import utc_now
from .status import ControlPlane
from .sweep import reconcile

EventSink = Callable[[dict[str, Any]], None]

CLUSTER = "miniwdl-fargate-local"
DEFAULT_STOP_GRACE_SECONDS = 10.0
DEFAULT_DELIVERY_SECONDS = 600.0
REGION = "local"
ACCOUNT = "000000000000"
CLUSTER_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{CLUSTER}"

log = logging.getLogger(__name__)


def task_arn_for(task_id: str) -> str:
    """A local task ARN, shaped like ECS's."""
    return f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{CLUSTER}/{task_id}"


class LocalLauncher:
    """``Launcher`` over child processes.

    ``detach=False`` (used inside the orchestrator): the task is this process's child and a
    thread here watches it. ``detach=True`` (used by submit): a separate agent process
    (``python -m chalicelib.local_agent``) runs and watches the task, so it outlives the caller.
    """

    def __init__(
        self,
        state_dir: str,
        on_event: EventSink,
        *,
        detach: bool = False,
        stop_grace_seconds: float = DEFAULT_STOP_GRACE_SECONDS,
        delivery_seconds: float = DEFAULT_DELIVERY_SECONDS,
    ) -> None:
        self.state_dir = state_dir
        self.on_event = on_event
        self.detach = detach
        self.stop_grace_seconds = stop_grace_seconds
        self.delivery_seconds = delivery_seconds
        self._watched: dict[str, _LocalTask] = {}
        self._watched_lock = threading.Lock()
        os.makedirs(state_dir, exist_ok=True)

    # the Launcher port

    def run_task(self, spec: TaskSpec) -> str:
        """Start the task. As ECS does with RunTask's ``clientToken``, a launch with a token
        already used returns the first launch's task and starts nothing (the claim is a file
        created exclusively, so concurrent launches from several processes agree)."""
        if spec.client_token:
            task_id = hashlib.sha256(spec.client_token.encode()).hexdigest()[:32]
            try:
                os.close(os.open(self._path(task_id, "token"), os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                return task_arn_for(task_id)
        else:
            task_id = uuid.uuid4().hex
        if self.detach:
            try:
                return self._run_detached(task_id, spec)
            except LaunchError:
                # nothing started: a retry with the token may start it, as on ECS
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self._path(task_id, "token"))
                raise
        task = _LocalTask(self, task_id, spec)
        self._watch(task)
        task.start()
        return task.arn

    def run_in_foreground(self, task_id: str, spec: TaskSpec) -> int | None:
        """Run a task and watch it from this thread (the local agent's job); returns its exit
        code, or None if it could not start.

        Call from the main thread: SIGTERM to this process then stops the task (SIGTERM to its
        process group, SIGKILL after the grace period), so a stop needs no one but this agent.
        """
        task = _LocalTask(self, task_id, spec, agent=True)
        self._watch(task)

        def on_sigterm(_signum: int, _frame: Any) -> None:
            if task.proc is not None:
                self._terminate(task.proc.pid, task.start_ticks, wait=False)

        signal.signal(signal.SIGTERM, on_sigterm)
        if not task.start(background=False):
            return None
        return task.watch()

    def read_spec(self, task_id: str) -> TaskSpec:
        """The spec a detached launch left for its agent."""
        data = _read_json(self._path(task_id, "spec"))
        if data is None:
            raise LaunchError(f"no spec for task {task_id} in {self.state_dir}")
        return TaskSpec(**data)

    def stop_task(self, task_arn: str, reason: str) -> None:
        task_id = ecs_events.task_id_of(task_arn)
        with self._watched_lock:
            own = self._watched.get(task_id)
        if own is not None:
            own.stop_reason = reason
            if own.proc is not None:
                self._terminate(own.proc.pid, own.start_ticks, wait=False)
            return  # else start() sees stop_reason once the process exists
        state = self._read_state(task_id)
        if state is None:
            return
        _write_json(self._path(task_id, "stop"), {"reason": reason})
        pid, ticks = state.get("pid"), state.get("start_ticks")
        watcher = state.get("watcher_pid")
        watched = isinstance(watcher, int) and _alive(watcher, state.get("watcher_ticks"))
        if isinstance(watcher, int) and watched and state.get("agent") and watcher != os.getpid():
            os.kill(watcher, signal.SIGTERM)  # the task's agent stops it and reports it
        elif watched:
            # Its watcher (here, or in another live process) reports the exit.
            self._terminate(pid, ticks, wait=False)
        else:
            # Nobody is left to report this task: stop it, then say so, as ECS would.
            if pid is None:
                _kill_unrecorded(state.get("task_arn", ""))
            self._terminate(pid, ticks, wait=True)
            _LocalTask.from_state(self, task_id, state).report_orphan_stopped(reason)

    def describe_tasks(self, task_arns: Iterable[str]) -> list[dict[str, Any]]:
        """What this host knows of the tasks, shaped as DescribeTasks answers (the sweep's view,
        as ECS's is on AWS): a stop not yet delivered; a task whose process and watcher are
        both gone, as stopped without an exit code; nothing for a task it has no state of."""
        found: list[dict[str, Any]] = []
        for arn in task_arns:
            task_id = ecs_events.task_id_of(arn)
            state = self._read_state(task_id)
            if state is None:
                continue
            stopped = state.get("stopped")
            if isinstance(stopped, dict):
                found.append(dict(stopped["detail"]))
                continue
            watcher = state.get("watcher_pid")
            if _alive(watcher, state.get("watcher_ticks")) or _alive(
                state.get("pid"), state.get("start_ticks")
            ):
                continue
            if state.get("pid") is None:  # its watcher died while starting it
                _kill_unrecorded(arn)
            task = _LocalTask.from_state(self, task_id, state)
            found.append(task.orphan_description())
        return found

    def repair(self, plane: ControlPlane, task_arns: Sequence[str]) -> list[str]:
        """Apply what ``describe_tasks`` says of ``task_arns`` through the status handler
        (``sweep.reconcile``); a task whose state was applied is forgotten. Returns the ARNs."""
        applied = reconcile(plane, self.describe_tasks, task_arns)
        for arn in applied:  # described only once stopped: its state has served
            task_id = ecs_events.task_id_of(arn)
            state = self._read_state(task_id)
            if state is not None:
                _LocalTask.from_state(self, task_id, state)._forget()
        return applied

    # internals

    def _watch(self, task: _LocalTask) -> None:
        with self._watched_lock:
            self._watched[task.task_id] = task

    def _unwatch(self, task_id: str) -> None:
        with self._watched_lock:
            self._watched.pop(task_id, None)

    def _terminate(self, pid: Any, ticks: Any, *, wait: bool) -> None:
        """SIGTERM the task's process group, SIGKILL it after the grace period. ``wait`` blocks
        until it is gone; otherwise a thread of this process sees to the SIGKILL."""
        if not _alive(pid, ticks):
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
        if wait:
            self._kill_after_grace(pid, ticks)
        else:
            threading.Thread(target=self._kill_after_grace, args=(pid, ticks), daemon=True).start()

    def _kill_after_grace(self, pid: int, ticks: float | None) -> None:
        deadline = time.monotonic() + self.stop_grace_seconds
        while _alive(pid, ticks) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid, ticks):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        while _alive(pid, ticks) and time.monotonic() < deadline + 5:
            time.sleep(0.02)

    def _run_detached(self, task_id: str, spec: TaskSpec) -> str:
        spec_path = self._path(task_id, "spec")
        _write_json(spec_path, asdict(spec))
        agent = [sys.executable, "-m", "chalicelib.local_agent", self.state_dir, task_id]
        log_path = self._path(task_id, "agent.log")
        try:
            if warm_start.can_fork():
                warm_start.spawn_detached(agent, env=_agent_environment(), output=log_path)
                return task_arn_for(task_id)
            subprocess.Popen(
                agent,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=open(log_path, "ab"),  # noqa: SIM115
                start_new_session=True,
                close_fds=True,
                env=_agent_environment(),
            )
        except OSError as exn:
            raise LaunchError(f"could not start the local agent: {exn}") from exn
        return task_arn_for(task_id)

    def _path(self, task_id: str, kind: str) -> str:
        return os.path.join(self.state_dir, f"{task_id}.{kind}")

    def _read_state(self, task_id: str) -> dict[str, Any] | None:
        return _read_json(self._path(task_id, "json"))


class _LocalTask:
    """One task process and the ECS-style events about it."""

    def __init__(
        self, launcher: LocalLauncher, task_id: str, spec: TaskSpec, *, agent: bool = False
    ) -> None:
        self.launcher = launcher
        self.agent = agent
        self.task_id = task_id
        self.arn = task_arn_for(task_id)
        self.spec = spec
        self.version = 0
        self.created_at = utc_now()
        self.started_at: str | None = None
        self.proc: subprocess.Popen[bytes] | warm_start.ForkedProcess | None = None
        self.start_ticks: float | None = None
        self.stop_reason: str | None = None
        self.cgroup: memory_cgroup.MemoryCgroup | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_state(cls, launcher: LocalLauncher, task_id: str, state: dict[str, Any]) -> _LocalTask:
        task = cls(launcher, task_id, TaskSpec(**state["spec"]), agent=bool(state.get("agent")))
        task.version = int(state.get("version", 0))
        task.created_at = state.get("created_at") or task.created_at
        task.started_at = state.get("started_at")
        return task

    def start(self, *, background: bool = True) -> bool:
        """Start the process (and, in the background, a thread that reports its end).

        Returns False if the process could not start (reported as STOPPED, TaskFailedToStart).
        """
        self._emit("PROVISIONING", "RUNNING")
        try:
            self.proc = self._popen()
        except OSError as exn:
            if self.cgroup is not None:
                self.cgroup.remove()
            self._emit(
                "STOPPED",
                "STOPPED",
                stop_code="TaskFailedToStart",
                stopped_reason=f"CannotStartContainerError: {exn}",
            )
            return False
        self.started_at = utc_now()
        if isinstance(self.proc, warm_start.ForkedProcess):
            with self._lock:
                self._save_state()  # its pid is on record: now it may run
            self.proc.release()
        self._emit("RUNNING", "RUNNING")
        if self._stop_requested() is not None:
            # A stop asked for while the process was starting (it had no pid to signal yet).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
        if background:
            name = f"task-{self.task_id[:8]}"
            threading.Thread(target=self.watch, name=name, daemon=True).start()
        return True

    def watch(self) -> int:
        """Wait for the process to exit and report it STOPPED; returns the exit code."""
        assert self.proc is not None
        exit_code = self.proc.wait()
        # A container's end ends every process in it: whatever the task left running (its
        # leader killed, a daemon it forked) goes with it, as on ECS.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        if exit_code < 0:  # killed by a signal: report it as a shell would
            exit_code = 128 - exit_code
        container_reason = None
        if self.cgroup is not None:
            if self.cgroup.oom_killed():
                container_reason = ECS_OOM_REASON
            self.cgroup.remove()
        stop_reason = self._stop_requested()
        if stop_reason is not None:
            self._emit(
                "STOPPED",
                "STOPPED",
                exit_code=exit_code,
                container_reason=container_reason,
                stop_code=ecs_events.USER_STOP_CODE,
                stopped_reason=stop_reason,
            )
        else:
            self._emit(
                "STOPPED",
                "STOPPED",
                exit_code=exit_code,
                container_reason=container_reason,
                stop_code="EssentialContainerExited",
                stopped_reason="Essential container in task exited",
            )
        return exit_code

    def _stop_requested(self) -> str | None:
        """Why a stop was asked for (here, or by another process through the stop file)."""
        if self.stop_reason is not None:
            return self.stop_reason
        path = self.launcher._path(self.task_id, "stop")
        if not os.path.exists(path):
            return None
        return str((_read_json(path) or {}).get("reason", "Task stopped by user"))

    def orphan_description(self) -> dict[str, Any]:
        """A task whose process and watcher died unseen: stopped, its exit code unknown."""
        self.version += 1
        reason = "the task's process and its watcher ended without a report"
        event = self._event(
            "STOPPED", "STOPPED", stop_code="EssentialContainerExited", stopped_reason=reason
        )
        detail: dict[str, Any] = event["detail"]
        return detail

    def report_orphan_stopped(self, reason: str) -> None:
        """Report STOPPED for a task whose watcher is gone (e.g. its orchestrator was killed)."""
        self._emit("STOPPED", "STOPPED", stop_code=ecs_events.USER_STOP_CODE, stopped_reason=reason)

    def _popen(self) -> subprocess.Popen[bytes] | warm_start.ForkedProcess:
        spec = self.spec
        env = container_environment(spec, self.arn)
        if spec.log_path:
            os.makedirs(os.path.dirname(spec.log_path), exist_ok=True)
        if warm_start.program_module(spec.command) and warm_start.can_fork():
            return warm_start.spawn(spec.command, env=env, cwd=spec.cwd, output=spec.log_path)
        argv = task_argv(spec)
        if spec.memory_limit_mb:
            self.cgroup = self._memory_cgroup(spec.memory_limit_mb)
            if self.cgroup is not None:
                argv = self.cgroup.argv(argv)
        out: Any = subprocess.DEVNULL
        if spec.log_path:
            out = open(spec.log_path, "ab")  # noqa: SIM115
        try:
            return subprocess.Popen(
                argv,
                cwd=spec.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT if spec.log_path else subprocess.DEVNULL,
                start_new_session=True,
                close_fds=True,
            )
        finally:
            if spec.log_path:
                out.close()

    def _memory_cgroup(self, limit_mb: int) -> memory_cgroup.MemoryCgroup | None:
        """The attempt's own memory cgroup, limited to ``limit_mb``, where this host has them
        (else the limit is not enforced: ``memory_cgroup.host_root`` logs that once)."""
        root = memory_cgroup.host_root()
        if root is None:
            return None
        try:
            return root.create(f"task-{self.task_id}", limit_mb * 1024 * 1024)
        except OSError as exn:
            log.warning("task %s runs without its memory limit: %s", self.task_id, exn)
            return None

    def _emit(
        self,
        last_status: str,
        desired_status: str,
        *,
        exit_code: int | None = None,
        container_reason: str | None = None,
        stop_code: str | None = None,
        stopped_reason: str | None = None,
    ) -> None:
        with self._lock:
            self.version += 1
            event = self._event(
                last_status,
                desired_status,
                exit_code=exit_code,
                container_reason=container_reason,
                stop_code=stop_code,
                stopped_reason=stopped_reason,
            )
            if last_status in ("PROVISIONING", "RUNNING"):
                # Saved before the process starts (a watcher killed while starting it leaves a
                # task that can still be found: ``_kill_unrecorded``), and with its pid once
                # there is one, so that other processes can stop it.
                self._save_state()
            elif last_status == "STOPPED":
                # Kept until delivered: if the handler cannot take it, a sweep
                # (``describe_tasks``) hands it over again, even after this process is gone.
                self._save_state(stopped=event)
        delivered = _deliver(self.launcher.on_event, event, self.launcher.delivery_seconds)
        if last_status == "STOPPED" and delivered:
            self._forget()

    def _event(
        self,
        last_status: str,
        desired_status: str,
        *,
        exit_code: int | None = None,
        container_reason: str | None = None,
        stop_code: str | None = None,
        stopped_reason: str | None = None,
    ) -> dict[str, Any]:
        """The ECS event for this task's current ``version`` and the given status."""
        now = utc_now()
        timestamps = {"createdAt": self.created_at, "updatedAt": now}
        if self.started_at:
            timestamps["startedAt"] = self.started_at
        if last_status == "STOPPED":
            timestamps["stoppingAt"] = now
            timestamps["stoppedAt"] = now
        return ecs_events.task_state_change(
            task_arn=self.arn,
            cluster_arn=CLUSTER_ARN,
            task_definition_arn=f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/"
            f"{self.spec.family}:1",
            started_by_value=ecs_events.started_by(self.spec.role, self.spec.run_id),
            group=f"family:{self.spec.family}",
            version=self.version,
            last_status=last_status,
            desired_status=desired_status,
            container_name=self.spec.container_name,
            environment=self.spec.environment,
            cpu=str(self.spec.cpu),
            memory=str(self.spec.memory_mb),
            exit_code=exit_code,
            container_reason=container_reason,
            stop_code=stop_code,
            stopped_reason=stopped_reason,
            timestamps=timestamps,
            region=REGION,
            account=ACCOUNT,
            event_id=str(uuid.uuid4()),
            time=now,
        )

    def _forget(self) -> None:
        """A stopped task needs no state: stopping it again is a no-op, as on ECS."""
        self.launcher._unwatch(self.task_id)
        kinds = ("json", "spec", "stop") if self.agent else ("json", "stop")
        for kind in kinds:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.launcher._path(self.task_id, kind))
        if self.agent:
            agent_log = self.launcher._path(self.task_id, "agent.log")
            with contextlib.suppress(OSError):
                if os.path.getsize(agent_log) == 0:
                    os.unlink(agent_log)

    def _save_state(self, stopped: dict[str, Any] | None = None) -> None:
        pid = self.proc.pid if self.proc is not None else None
        if pid is not None and self.start_ticks is None:
            self.start_ticks = _start_ticks(pid)
        _write_json(
            self.launcher._path(self.task_id, "json"),
            {
                "task_arn": self.arn,
                "pid": pid,
                "start_ticks": self.start_ticks,
                "watcher_pid": os.getpid(),
                "watcher_ticks": _own_start_ticks(),
                "agent": self.agent,
                "version": self.version,
                "created_at": self.created_at,
                "started_at": self.started_at,
                "spec": asdict(self.spec),
                **({"stopped": stopped} if stopped is not None else {}),
            },
        )


# What a task container gets from this host, besides what the launch sets: a Fargate container
# gets its image's environment, never the orchestrator's (documented in docs/configuration.md).
HOST_ENVIRONMENT = ("PATH", "HOME", "LANG", "TMPDIR")
# Capabilities that let root write files whose write bits are clear (and chmod others' files).
# Task inputs are read-only; on EFS the access point's POSIX user makes that hold even for root
# in a container, and here root's tasks run without these.
READ_ONLY_OVERRIDES = ("dac_override", "dac_read_search", "fowner", "linux_immutable")


def container_environment(
    spec: TaskSpec, task_arn: str, environ: Mapping[str, str] = os.environ
) -> dict[str, str]:
    """A container's environment: the orchestrator (this project's program) inherits this
    process's; a WDL task gets only ``HOST_ENVIRONMENT`` from the host, then the launch's own
    variables and its task ARN (which ECS's metadata endpoint tells a Fargate container)."""
    if spec.role == ecs_events.ROLE_ORCHESTRATOR:
        base = dict(environ)
    else:
        base = {k: environ[k] for k in HOST_ENVIRONMENT if k in environ}
    return {**base, **spec.environment, ENV_TASK_ARN: task_arn}


def task_argv(spec: TaskSpec) -> list[str]:
    """The argv that starts a container's command: a WDL task run by root loses the
    capabilities that would let it write its read-only inputs (``setpriv``, util-linux)."""
    if spec.role == ecs_events.ROLE_ORCHESTRATOR or os.geteuid() != 0:
        return list(spec.command)
    if not spec.command or shutil.which(spec.command[0]) is None:
        return list(spec.command)  # it cannot start: let the start itself say so
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        _warn_no_setpriv()
        return list(spec.command)
    drop = ",".join(f"-{cap}" for cap in READ_ONLY_OVERRIDES)
    return [setpriv, f"--bounding-set={drop}", "--", *spec.command]


@functools.cache
def _warn_no_setpriv() -> None:
    log.warning(
        "running as root without setpriv (util-linux): task commands can write their read-only"
        " inputs"
    )


def _deliver(sink: EventSink, event: dict[str, Any], seconds: float) -> bool:
    """Hand an event to the handler, retrying with backoff for up to ``seconds`` (EventBridge
    retries a target for 24 hours); True once it was taken."""
    deadline = time.monotonic() + seconds
    attempt = 0
    while True:
        try:
            sink(event)
            return True
        except Exception as exn:  # noqa: BLE001  the handler's failure must not kill the watcher
            pause = min(0.1 * 2**attempt, 5.0)
            if time.monotonic() + pause > deadline:
                log.error(
                    "event handler failed for %.0fs; %s event of %s left for a sweep: %s",
                    seconds,
                    event["detail"]["lastStatus"],
                    event["detail"]["taskArn"],
                    exn,
                )
                return False
            if attempt == 0:
                log.warning("event handler failed (%s); retrying", exn)
            attempt += 1
            time.sleep(pause)


def _start_ticks(pid: int) -> float | None:
    """The process's start time, to tell it from a later process with its pid (psutil: the
    same on Linux and macOS)."""
    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


@functools.cache
def _own_start_ticks() -> float | None:
    return _start_ticks(os.getpid())


# A forked child (``warm_start``) is another process, with a start time of its own.
os.register_at_fork(after_in_child=_own_start_ticks.cache_clear)


def _kill_unrecorded(task_arn: str) -> None:
    """End the processes of a task whose watcher died while starting it (before its pid was
    recorded): found by the task ARN in their environment, every one of their process groups."""
    if not task_arn:
        return
    marker = {ENV_TASK_ARN: task_arn}
    for proc in psutil.process_iter(["pid"]):
        with contextlib.suppress(psutil.Error, OSError):
            if marker.items() <= proc.environ().items():
                os.killpg(os.getpgid(proc.pid), signal.SIGKILL)


def _alive(pid: Any, ticks: Any) -> bool:
    """Whether ``pid`` is still the process (group leader) we started and not a zombie."""
    if not isinstance(pid, int):
        return False
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return ticks is None or abs(float(process.create_time()) - float(ticks)) < 0.01
    except psutil.Error:
        return False


def _agent_environment() -> dict[str, str]:
    """The agent must import this package even when it was not installed (e.g. from a clone)."""
    env = dict(os.environ)
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    return env


def _write_json(path: str, data: dict[str, Any]) -> None:
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def _read_json(path: str) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None
