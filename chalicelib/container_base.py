"""A miniwdl container base for backends whose containers see the orchestrator's paths as they are.

Both of this project's backends work that way: ``local`` runs task commands as host processes,
and ``aws_fargate`` mounts the same EFS at the same path in every container. So the "container"
directory is the host directory, inputs are placed under the task's ``work/`` as read-only files
and real directory trees (``placement``), and each attempt reuses ``work/`` (a failed attempt's
is kept as ``work.attemptN``). Subclasses only launch ``attempt_command()`` and report its exit
code.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shlex
import stat
import time
from collections.abc import Callable
from typing import ClassVar

from WDL import Value
from WDL._util import NOTICE_LEVEL
from WDL._util import StructuredLogMessage as _
from WDL.runtime import config
from WDL.runtime import task as wdl_task
from WDL.runtime.error import Interrupted, Terminated
from WDL.runtime.task_container import TaskContainer

from . import ecs_events, shim, task_timeout
from .launcher import Launcher, TaskSpec
from .out_of_memory import MIB, OomPolicy, is_oom_killed
from .placement import WRITE_BITS, Placer, finalize_script, make_outputs_read_only
from .records import TaskRecord
from .states import State
from .status import ControlPlane
from .task_watcher import TaskWatcher, WatchError


class SharedFilesystemContainer(TaskContainer):
    """``TaskContainer`` whose container paths equal host paths."""

    # Whether the task's own container makes its files read-only when it ends (worth it where
    # the orchestrator would reach them over the network); else the orchestrator does.
    FINALIZE_IN_CONTAINER: ClassVar[bool] = True

    def __init__(self, cfg: config.Loader, run_id: str, host_dir: str) -> None:
        super().__init__(cfg, run_id, host_dir)
        self.container_dir = host_dir
        # What the next attempt asks for after one was killed for its memory (``reset``).
        self._memory_after_oom: int | None = None
        _keep_read_only_files()

    def host_work_dir(self) -> str:
        return os.path.join(self.host_dir, "work")

    def process_runtime(self, logger: logging.Logger, runtime_eval: dict[str, Value.Base]) -> None:
        """miniwdl's runtime values, and this project's ``timeout`` (``task_timeout``)."""
        super().process_runtime(logger, runtime_eval)
        if task_timeout.KEY in runtime_eval:
            limit = task_timeout.timeout_seconds(runtime_eval[task_timeout.KEY])
            self.runtime_values[task_timeout.KEY] = limit

    def reset(self, logger: logging.Logger) -> None:
        work = self.host_work_dir()
        if os.path.isdir(work):
            os.rename(work, f"{work}.attempt{self.try_counter}")
        super().reset(logger)
        self.failure_info = None
        if self._memory_after_oom is not None:
            before = self.memory_bytes()
            self.set_memory_bytes(self._memory_after_oom)
            self._memory_after_oom = None
            logger.log(
                NOTICE_LEVEL,
                _(
                    "retrying with more memory",
                    memory_mib=self.memory_bytes() // MIB,
                    previous_memory_mib=before // MIB,
                ),
            )

    def memory_bytes(self) -> int:
        """The memory this attempt asks for (0: none declared)."""
        return int(self.runtime_values.get("memory_reservation", 0))

    def set_memory_bytes(self, value: int) -> None:
        """Ask for ``value`` bytes from the next attempt on (a limit set beside it keeps its
        ratio to the request)."""
        before = self.memory_bytes()
        self.runtime_values["memory_reservation"] = value
        limit = int(self.runtime_values.get("memory_limit", 0))
        if limit and before:
            self.runtime_values["memory_limit"] = limit * value // before

    def largest_memory_bytes(self, logger: logging.Logger) -> int:
        """The most memory any attempt of this task can be given."""
        return self.detect_resource_limits(self.cfg, logger)["mem_bytes"]

    def plan_memory_retry(self, logger: logging.Logger, record: TaskRecord) -> None:
        """The attempt was killed for its memory: the next one, if miniwdl retries the task
        (``maxRetries``), asks for more (``out_of_memory.OomPolicy``)."""
        largest = self.largest_memory_bytes(logger)
        grown = oom_policy(self.cfg).next_memory(self.memory_bytes(), largest)
        self._memory_after_oom = grown
        # miniwdl adds this to the task's error, which the run's error then names
        mib = self.memory_bytes() // MIB
        self.failure_info = {
            "message": f"{self.run_id} ran out of memory: killed for exceeding its {mib} MiB"
            f" ({record.container_reason or 'exit status 137'}); give it more memory, or"
            " maxRetries to retry it with more",
            "out_of_memory": True,
            "memory_mib": mib,
        }
        logger.warning(
            _(
                "task ran out of memory",
                memory_mib=self.memory_bytes() // MIB,
                reason=record.container_reason or record.stopped_reason,
                exit_code=record.exit_code,
                retry_memory_mib=grown // MIB if grown else "unchanged (at the ceiling)",
            )
        )

    def copy_input_files(self, logger: logging.Logger) -> None:
        """Place every input under ``work/_miniwdl_inputs``, read-only, symlinks resolved
        (``placement``): files hard-linked when already read-only, else cloned or copied once;
        directories as real trees. ``[file_io] copy_input_files`` asks for copies."""
        copy = self.cfg.get_bool("file_io", "copy_input_files")
        for host_path, container_path in self.input_path_map.items():
            dest = self.host_work_path(container_path.rstrip("/"))
            if os.path.lexists(dest):
                continue
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            if host_path.endswith("/"):
                placed = _PLACER.place_tree(host_path.rstrip("/"), dest, copy=copy)
                hows = sorted({p.how for p in placed})
                logger.info(
                    _("placed input", input=host_path, at=dest, files=len(placed), how=hows)
                )
            else:
                how = _PLACER.place_file(host_path, dest, copy=copy).how
                logger.info(_("placed input", input=host_path, at=dest, how=how))

    def attempt_command(self, logger: logging.Logger, command: str) -> list[str]:
        """Prepare an attempt: inputs in place, the command script written (exporting the task's
        environment), and the argv that runs it with stdout/stderr captured to files. In a
        container (``FINALIZE_IN_CONTAINER``), the argv also makes what the task created
        read-only once it ends (its exit status unchanged); otherwise ``launch_and_wait``
        does that here."""
        self.copy_input_files(logger)
        script = os.path.join(self.host_dir, "command")
        with open(script, "w", encoding="utf-8") as out:
            for name, value in self.runtime_values.get("env", {}).items():
                out.write(f"export {name}={shlex.quote(str(value))}\n")
            out.write(command)
        shell = self.cfg.get("task_runtime", "command_shell")
        work, stdout, stderr = self.host_work_dir(), self.host_stdout_txt(), self.host_stderr_txt()
        streams = f">> {shlex.quote(stdout)} 2>> {shlex.quote(stderr)}"
        # Through the platform shim (``shim``): it records what the attempt used, and changes
        # neither its exit status nor its output.
        usage = self.host_usage_json()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(usage)  # a former attempt's
        mode = "container" if self.FINALIZE_IN_CONTAINER else "process"
        shell = shlex.join(shim.shim_argv(self._shim_path(), usage, mode, shlex.split(shell)))
        if not self.FINALIZE_IN_CONTAINER:
            run = f"cd {shlex.quote(work)} && exec {shell} {shlex.quote(script)} {streams}"
            return ["/bin/sh", "-c", run]
        # The wrapper waits for the command, passing SIGTERM on (on Fargate only the
        # container's first process gets it) and never dying of it itself, so a command that
        # traps SIGTERM gets its grace period; then it makes the task's files read-only.
        wrapper = (
            f"cd {shlex.quote(work)} || exit 125; trap 'kill -TERM $pid 2>/dev/null' TERM;"
            f" {shell} {shlex.quote(script)} {streams} & pid=$!;"
            " while :; do wait $pid; rc=$?; kill -0 $pid 2>/dev/null || break; done;"
            f" {finalize_script(work, [stdout, stderr])}; exit $rc"
        )
        return ["/bin/sh", "-c", wrapper]

    def host_usage_json(self) -> str:
        """Where the shim records the attempt's usage: beside its stdout and stderr."""
        return os.path.join(self.host_dir, shim.USAGE_FILE)

    def _shim_path(self) -> str:
        """The shim the orchestrator placed for the run (``[miniwdl_fargate] shim``), else one
        placed beside the task's directory (plain ``miniwdl run``)."""
        return control_plane_option(self.cfg, "shim") or _place_shim(os.path.dirname(self.host_dir))

    def control_plane(self) -> ControlPlane | None:
        """The control plane the backend records to (its runtime's ``plane``), if any."""
        plane = getattr(getattr(type(self), "_runtime", None), "plane", None)
        return plane if isinstance(plane, ControlPlane) else None

    def attach_usage(self, record: TaskRecord) -> TaskRecord:
        """The attempt's final record with the shim's ``usage``, recorded and announced as "WDL
        Task Usage" where there is a control plane (``status.record_usage``)."""
        usage = shim.read_usage(self.host_usage_json())
        if usage is None or record.usage is not None:
            return record
        plane = self.control_plane()
        if plane is None:
            return record.replace(usage=usage)
        from .status import record_usage

        return record_usage(plane, record, usage)

    def launch_and_wait(
        self,
        logger: logging.Logger,
        terminating: Callable[[], bool],
        launcher: Launcher,
        watcher: TaskWatcher,
        spec: TaskSpec,
        *,
        stop_wait_seconds: float,
        give_up: Callable[[str], str | None] | None = None,
    ) -> TaskRecord:
        """Launch the attempt and wait for its final record (from the store, not the launcher).

        If miniwdl is terminating, the task is stopped, its end awaited up to
        ``stop_wait_seconds``, and ``Terminated`` raised. ``give_up(task_id)`` is asked while
        waiting: a reason it returns stops the task with that reason and raises ``GaveUp``.
        An attempt past its ``runtime.timeout`` is stopped so, raising ``TaskTimedOut``.
        """
        task_arn = launcher.run_task(spec)
        launched = time.time()
        task_id = ecs_events.task_id_of(task_arn)
        logger.log(NOTICE_LEVEL, _("task container started", task_arn=task_arn))
        limit = self.runtime_values.get(task_timeout.KEY)
        timed_out: list[str] = []
        gave_up: list[str] = []

        def stop() -> bool:
            if terminating():
                return True
            if limit:
                latest = watcher.latest(task_id)
                started = latest.started_at if latest is not None else None
                why = task_timeout.timeout_reason(
                    limit, started_at=started, launched_at=launched, now=time.time()
                )
                if why:
                    timed_out.append(why)
                    return True
            reason = give_up(task_id) if give_up is not None else None
            if reason:
                gave_up.append(reason)
            return bool(reason)

        with self.task_running_context(), self.poll_stderr_context(logger) as poll_stderr:
            try:
                record = watcher.wait(task_id, task_arn=task_arn, stop=stop, tick=poll_stderr)
            except WatchError as exn:
                # Its end can't be known: stop it rather than leave it running unwatched.
                launcher.stop_task(task_arn, "its record could not be read")
                raise Interrupted(f"task container {task_arn} could not be watched: {exn}") from exn
            if record is None:
                reason = (timed_out or gave_up or ["miniwdl is terminating"])[0]
                launcher.stop_task(task_arn, reason)
                watcher.wait(task_id, task_arn=task_arn, timeout=stop_wait_seconds)
                if timed_out:
                    logger.warning(_("task timed out", reason=reason))
                    raise task_timeout.TaskTimedOut(f"{self.run_id} {reason}")
                if gave_up:
                    raise GaveUp(reason)
                raise Terminated()
            poll_stderr()
        record = self.attach_usage(record)
        if is_oom_killed(record):
            self.plan_memory_retry(logger, record)
        if not self.FINALIZE_IN_CONTAINER:
            make_outputs_read_only(
                self.host_work_dir(), [self.host_stdout_txt(), self.host_stderr_txt()]
            )
        logger.info(
            _(
                "task container stopped",
                exit_code=record.exit_code,
                state=record.state.value,
                stop_code=record.stop_code,
                reason=record.stopped_reason,
            )
        )
        return record

    def identity_environment(self, run_id: str) -> dict[str, str]:
        """Container environment that ties the task's ECS events to its run, call and attempt."""
        return {
            ecs_events.ENV_RUN_ID: run_id,
            ecs_events.ENV_CALL_ID: self.run_id,
            ecs_events.ENV_ATTEMPT: str(self.try_counter),
            ecs_events.ENV_RETURN_CODES: ecs_events.encode_return_codes(
                self.runtime_values.get("returnCodes", 0)
            ),
            ecs_events.ENV_STDOUT: self.host_stdout_txt(),
            ecs_events.ENV_STDERR: self.host_stderr_txt(),
        }


class GaveUp(RuntimeError):
    """``launch_and_wait`` stopped the task because its ``give_up`` said so (the reason)."""


CONFIG_SECTION = "miniwdl_fargate"


def control_plane_option(cfg: config.Loader, key: str) -> str:
    """A ``[miniwdl_fargate]`` option, "" if unset (the orchestrator sets ``run_id``, ``home``)."""
    if cfg.has_option(CONFIG_SECTION, key):
        return str(cfg[CONFIG_SECTION][key]).strip()
    return ""


def oom_policy(cfg: config.Loader) -> OomPolicy:
    """How an attempt killed for its memory is retried: ``[miniwdl_fargate] oom_memory_factor``
    and ``oom_max_memory``. A bad value is a ``ValueError`` (the backends check at start)."""
    return OomPolicy.from_options(
        control_plane_option(cfg, "oom_memory_factor"), control_plane_option(cfg, "oom_max_memory")
    )


def attempt_exit_code(record: TaskRecord) -> int:
    """The attempt's exit code from its final record, or the miniwdl error that fits its end.

    Preemption, and any stop without an exit code (the container never ran, or the platform
    killed it), raise ``Interrupted``: miniwdl retries those within the ``preemptible`` budget
    (then ``maxRetries``). A stop someone asked for raises ``Terminated``.
    """
    if record.state in (State.COMPLETE, State.EXECUTOR_ERROR) and record.exit_code is not None:
        return record.exit_code
    reason = record.stopped_reason or "no reason given"
    if record.state == State.CANCELED:
        raise Terminated()
    if record.state == State.PREEMPTED:
        raise Interrupted(f"task container preempted ({record.stop_code}): {reason}")
    raise Interrupted(f"task container stopped without an exit code ({record.stop_code}): {reason}")


_PLACER = Placer()


@functools.cache
def _place_shim(directory: str) -> str:
    return shim.place(directory)


@functools.cache
def _keep_read_only_files() -> None:
    """Make miniwdl's end-of-task ``chmod_R_plus`` leave read-only files as they are.

    miniwdl adds group read/write bits to everything in a finished call's directory, for
    containers that run as another user. Here that would undo what keeps inputs intact: a
    task's outputs are made read-only when it ends, and its placed inputs are hard links that
    share their inode (and so their mode) with the upstream file. miniwdl offers no setting for
    this, so its function is replaced, once, when one of these backends is first used.
    """

    def chmod_writable_only(path: str, file_bits: int = 0, dir_bits: int = 0) -> None:
        # One walk, symlinks never followed nor changed (as miniwdl's), and no chmod where the
        # bits are already there.
        def add(entry: str, mode: int, bits: int) -> None:
            if bits and stat.S_IMODE(mode) | bits != stat.S_IMODE(mode):
                os.chmod(entry, stat.S_IMODE(mode) | bits)

        def visit(entry: str) -> None:
            mode = os.lstat(entry).st_mode
            if stat.S_ISDIR(mode):
                add(entry, mode, dir_bits)
            elif stat.S_ISREG(mode) and mode & WRITE_BITS:
                add(entry, mode, file_bits)

        visit(path)
        if not os.path.isdir(path) or os.path.islink(path):
            return
        for parent, dirs, files in os.walk(path, onerror=_raise, followlinks=False):
            for name in (*dirs, *files):
                visit(os.path.join(parent, name))

    wdl_task.chmod_R_plus = chmod_writable_only  # type: ignore[attr-defined]


def _raise(error: OSError) -> None:
    raise error
