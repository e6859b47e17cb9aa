"""Start this package's own programs by forking the running interpreter, not by exec'ing one.

A local run starts two Python programs: the agent, which plays ECS for the run's orchestrator,
and the orchestrator itself. Exec'd, each pays Python's start-up, imports miniwdl again and
loads the WDL parser: about half a second of a one-task run on 2 cores, all of it before the
first task. The CLI that submits the run has already paid for that, so the agent is forked from
it, and the orchestrator from the agent, each starting warm.

A fork copies only the calling thread: locks other threads held stay held in the child. So a
program is forked only on Linux (macOS's system libraries are not safe across a fork without
exec) and only from a process running no other thread; otherwise, or with
``MINIWDL_FARGATE_WARM_START=0``, it is exec'd as before. The child is made to look like a
fresh program: its own session, stdin from /dev/null, stdout and stderr where the caller says,
its own environment, working directory and ``sys.argv``, default signal handlers and no logging
handlers. It runs ``main(args)`` of the program's module and ends with ``os._exit`` (never
returning into the caller's stack; exit handlers registered with ``atexit`` do not run, as in
``multiprocessing``'s forked children). Modules that keep per-process state register
``os.register_at_fork`` hooks of their own (the SQLite store, cached process start times).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Mapping, Sequence

ENV_WARM_START = "MINIWDL_FARGATE_WARM_START"
PACKAGE = __name__.rpartition(".")[0]


class ForkedProcess:
    """A forked program, waited for as ``subprocess.Popen`` is (``pid``, ``wait()``). It
    waits in its session until ``release()``: the caller records its pid first, so that no
    program runs that nobody could find (an exec'd one is found by its environment)."""

    def __init__(self, pid: int, go: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._go: int | None = go

    def release(self) -> None:
        """Let the program run."""
        if self._go is not None:
            with contextlib.suppress(OSError):  # it may have been killed meanwhile
                os.write(self._go, b"1")
            os.close(self._go)
            self._go = None

    def wait(self) -> int:
        """Its exit status: the exit code, or minus the signal that killed it (as Popen)."""
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


def program_module(argv: Sequence[str]) -> str | None:
    """The module of this package that ``argv`` runs with this interpreter
    (``python -m chalicelib.X ...``), or None if it runs anything else."""
    if len(argv) < 3 or argv[0] != sys.executable or argv[1] != "-m":
        return None
    parts = argv[2].split(".")
    if len(parts) == 2 and parts[0] == PACKAGE and parts[1].isidentifier():
        return argv[2]
    return None


def can_fork() -> bool:
    """Whether this process may fork a warm program now (see the module's docstring)."""
    return (
        sys.platform.startswith("linux")
        and os.environ.get(ENV_WARM_START, "1") != "0"
        and threading.active_count() == 1
    )


def spawn(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: str | None = None,
    output: str | None = None,
) -> ForkedProcess:
    """Fork ``argv`` (``python -m chalicelib.X ARGS``) warm, as this process's child in a
    session of its own; its stdout and stderr go to the file ``output`` (appended), else to
    /dev/null. Returns once the child waits in its session (``os.killpg(pid, ...)`` reaches it);
    it runs once ``release()``d, and ends if this process dies first. Raises ``ValueError`` for
    another ``argv``, ``OSError`` if the fork fails."""
    pid, go = _fork(argv, env, cwd, output, detach=False)
    assert go is not None
    return ForkedProcess(pid, go)


def spawn_detached(
    argv: Sequence[str], *, env: Mapping[str, str], output: str | None = None
) -> None:
    """As ``spawn``, forking twice: the program is nobody's child, so it outlives this process
    and never lingers as its zombie."""
    _fork(argv, env, None, output, detach=True)


def _fork(
    argv: Sequence[str],
    env: Mapping[str, str],
    cwd: str | None,
    output: str | None,
    *,
    detach: bool,
) -> tuple[int, int | None]:
    """Fork; (the child's pid, the write end of its go pipe unless ``detach``)."""
    module = program_module(argv)
    if module is None:
        raise ValueError(f"not a program of {PACKAGE}: {list(argv)}")
    for stream in (sys.stdout, sys.stderr):  # else the child would write the parent's buffers
        with contextlib.suppress(Exception):
            stream.flush()
    ready_r, ready_w = os.pipe()
    go_r, go_w = (None, None) if detach else os.pipe()
    try:
        pid = os.fork()
    except OSError:
        for fd in (ready_r, ready_w, go_r, go_w):
            if fd is not None:
                os.close(fd)
        raise
    if pid == 0:  # the child: never returns
        os.close(ready_r)
        if go_w is not None:
            os.close(go_w)
        _run_child(module, list(argv[3:]), env, cwd, output, detach, ready_w, go_r)
    os.close(ready_w)
    if go_r is not None:
        os.close(go_r)
    with os.fdopen(ready_r, "rb") as ready:
        started = ready.read(1) == b"1"
    if detach or not started:
        os.waitpid(pid, 0)  # the intermediate child (gone once its child started), or a failure
    if not started:
        if go_w is not None:
            os.close(go_w)
        raise OSError(f"the forked program {module} could not start")
    return pid, go_w


def _run_child(
    module: str,
    args: list[str],
    env: Mapping[str, str],
    cwd: str | None,
    output: str | None,
    detach: bool,
    ready: int,
    go: int | None,
) -> None:
    code = 1
    try:
        os.setsid()
        if detach and os.fork() != 0:
            os._exit(0)
        _become_fresh(module, args, env, cwd, output)
        os.write(ready, b"1")
        os.close(ready)
        if go is not None and os.read(go, 1) != b"1":
            os._exit(code)  # the parent died before recording this process: never run
        main = importlib.import_module(module).main
        code = int(main(args) or 0)
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except BaseException:  # noqa: BLE001  a program's crash is its exit status, as exec'd
        traceback.print_exc()
    finally:
        with contextlib.suppress(BaseException):
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _become_fresh(
    module: str, args: list[str], env: Mapping[str, str], cwd: str | None, output: str | None
) -> None:
    """What exec would have given the child: stdio, environment, directory, argv, signals."""
    null = os.open(os.devnull, os.O_RDWR)
    out = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644) if output else null
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    for fd in {null, out}:
        os.close(fd)
    # New stream objects: the caller's may not be over these descriptors at all (a test's
    # capture), and must not be written through by two processes.
    sys.stdin = open(0, closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, errors="backslashreplace", closefd=False)  # noqa: SIM115
    os.environ.clear()
    os.environ.update(env)
    if cwd is not None:
        os.chdir(cwd)
    sys.argv = [module, *args]
    # the name ps and top show (the command line stays the parent's)
    with contextlib.suppress(OSError), open("/proc/self/comm", "w") as comm:
        comm.write(module.rpartition(".")[2][:15])
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
        signal.signal(signum, signal.SIG_DFL)
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        if isinstance(logger, logging.Logger):
            for handler in list(logger.handlers):
                logger.removeHandler(handler)
