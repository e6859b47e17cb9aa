"""The CLI's one interface to a run service, and the shapes it speaks.

The CLI's commands (``cli_commands``) are written once over ``RunService``; two adapters make it
real: ``run_service_local`` over the local mode's home (store, launcher, objects on this
machine) and ``run_service_wes`` over the WES API (``MINIWDL_FARGATE_API``: a deployment, or
``serve``). States are WES state names in both.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from .records import TaskRecord
from .states import State
from .transitions import Progress


class CliError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


@dataclass(frozen=True)
class Submission:
    """What the user asks to run: the ``miniwdl run``-style WDL and inputs, the engine
    parameters the orchestrator honours (``options``: ``delete_after``, ...) and tags; and
    ``miniwdl run``'s ``--empty``, ``--none``, ``-p`` and ``--no-outside-imports``, which apply
    where the request is put together."""

    wdl: str
    inputs: tuple[str, ...] = ()
    input_file: str | None = None
    task: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, str] = field(default_factory=dict)
    empty: tuple[str, ...] = ()
    none: tuple[str, ...] = ()
    import_dirs: tuple[str, ...] = ()
    no_outside_imports: bool = False


@dataclass(frozen=True)
class RunInfo:
    """A run as the CLI shows it, whichever service it comes from."""

    run_id: str
    state: str
    workflow: str | None = None
    submitted: str | None = None
    started: str | None = None
    ended: str | None = None
    run_dir: str | None = None
    log: str | None = None  # the run log's location: a path or a URL
    outputs_location: str | None = None
    error: Mapping[str, Any] | None = None
    exit_code: int | None = None
    cost: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class RunRow:
    """One line of ``list``: the run and its task counts, or ``info`` None for a run that went
    away between the listing and the read."""

    run_id: str
    info: RunInfo | None
    counts: Progress | None


class RunService(Protocol):
    """Submit runs and read them: the operations every CLI command is written over."""

    # Seconds between two reads of a run's state while waiting for it, and between two reads
    # of its tasks for the progress line (a larger read).
    poll_interval: float
    tasks_every: float
    # The work filesystem's root when this machine sees it (the local mode), else None.
    work_root: str | None

    def submit(self, submission: Submission) -> str:
        """Start a run; returns its id. Refusals raise ``CliError`` or the service's error."""
        ...

    def find_run(self, run_id: str) -> str:
        """The full id of the run named by ``run_id`` or by a unique prefix of it; raises
        ``store.NotFound`` or ``run_control.AmbiguousRun``."""
        ...

    def refresh(self) -> None:
        """Repair the records of runs whose events were lost, before a read a user looks at."""
        ...

    def state(self, run_id: str) -> str:
        """The run's state (a cheap read, made in loops)."""
        ...

    def info(self, run_id: str) -> RunInfo:
        """The run."""
        ...

    def tasks(self, run_id: str) -> list[TaskRecord]:
        """The run's task attempts; ``stdout``/``stderr`` are locations ``read`` takes."""
        ...

    def outputs(self, run_id: str) -> dict[str, Any]:
        """A completed run's outputs JSON."""
        ...

    def list_rows(self, state: State | None, limit: int) -> list[RunRow]:
        """At most ``limit`` runs, newest first, only those in ``state`` if given."""
        ...

    def cancel(self, run_id: str) -> None:
        """Ask the run to stop."""
        ...

    def run_log(self, run_id: str, stdout: bool) -> str | None:
        """Where the run's log is (its ``stdout`` stream if asked), None if it has none."""
        ...

    def read(
        self, location: str, *, tail_bytes: int | None = None, offset: int = 0
    ) -> Iterator[bytes]:
        """The content at a location this service gave, in chunks: from byte ``offset``, or
        the last ``tail_bytes`` only; ``wes_http.LocationError`` if it cannot be read."""
        ...

    def report(self, run_id: str) -> bytes:
        """The run's HTML report (``report.current_page``); ``CliError`` if it cannot be
        built."""
        ...

    def save_report(self, run_id: str, page: bytes) -> str | None:
        """Put the page where the run's results are, when they are on this machine, and
        return that path; None when they are not (remote results)."""
        ...


def parse_tags(pairs: list[str]) -> dict[str, str]:
    """``--tag KEY=VALUE`` arguments as a map (pure)."""
    tags = {}
    for tag in pairs:
        key, sep, value = tag.partition("=")
        if not sep or not key:
            raise CliError(f"--tag takes KEY=VALUE, not {tag!r}")
        tags[key] = value
    return tags


def find_task(tasks: list[TaskRecord], call: str, run_id: str) -> TaskRecord:
    """The latest attempt of the call named ``call`` (or by a unique prefix of its call or
    task id) among ``tasks`` (pure)."""
    matching = [t for t in tasks if t.call_id == call] or [
        t for t in tasks if t.call_id.startswith(call) or t.task_id.startswith(call)
    ]
    if not matching:
        calls = sorted({t.call_id for t in tasks})
        shown = ", ".join(calls[:10]) + (" ..." if len(calls) > 10 else "")
        raise CliError(f"run {run_id} has no task {call!r}; its calls: {shown or 'none yet'}")
    if len({t.call_id for t in matching}) > 1:
        raise CliError(f"{call!r} matches several calls; give the full call id")
    return max(matching, key=lambda t: t.attempt)
