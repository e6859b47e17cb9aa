"""Admission of runs to their run group: which waiting runs may launch, decided on events.

Admission is decided when something changes, never by polling: a run submitted (``submit``),
a run's orchestrator stopped (the status handler), a group's limits updated (the API), a queued
run canceled. Each decision is one compare-and-set write of the group's record (``groups``),
which holds both the admitted runs and the queue, so two admitters at once (two Lambdas) can
never admit more than ``max_runs`` between them: the loser of the race reads again and decides
again. Within a group, a higher priority goes first, then first come, first served.

``decide`` and friends are pure; the functions below them are the adapter: they write the
decision, then launch each run it admitted (its run id as the RunTask client token, so a launch
retried by a repair starts no second orchestrator). A crash between the two leaves a run
admitted but not launched, or recorded but in no queue; ``reconcile_groups`` (the sweep)
finds both, and releases admitted runs that ended while their orchestrator's STOPPED event was
lost.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from . import deadlines
from .deadlines import DeadlineTimers, is_past_deadline
from .fargate import with_run_tags
from .groups import (
    DEFAULT_GROUP,
    MAX_GROUP_RUNS,
    MAX_QUEUED_RUNS,
    GroupError,
    GroupRecord,
    Limits,
    QueueEntry,
)
from .launcher import Launcher, LaunchError, TaskSpec
from .records import RunRecord, utc_now
from .states import State, is_terminal
from .transitions import (
    cancel_unlaunched,
    mark_admitted,
    mark_waiting,
    record_launch_failure,
    request_cancel_for,
)

if TYPE_CHECKING:
    from .status import ControlPlane

log = logging.getLogger(__name__)


class UnknownGroup(GroupError):
    """A run or request names a group that does not exist."""


class QueueFull(GroupError):
    """The group already has ``MAX_QUEUED_RUNS`` runs waiting."""


class GroupExists(GroupError):
    """A group of that name exists already."""


class GroupBusy(GroupError):
    """The group has runs admitted or waiting, so it cannot be deleted."""


@dataclass(frozen=True)
class Admission:
    """What admitting a run needs besides the store: how to launch a run's orchestrator, and
    the ``default`` group's limits (from configuration)."""

    orchestrator_spec: Callable[[str], TaskSpec]
    default_limits: Limits = dataclasses.field(default_factory=Limits)
    # What launches orchestrators, when not the plane's own launcher (the local mode's must be
    # a detached one: the process handling an event may be gone before the run is).
    launcher: Launcher | None = None
    # The timers that cancel a run at its deadline (``deadlines``): EventBridge Scheduler on
    # AWS; None where a run's own agent keeps the timer (the local mode) or nothing does.
    deadlines: DeadlineTimers | None = None


# decisions (pure)


def ordered(queue: Iterable[QueueEntry]) -> list[QueueEntry]:
    """The queue in admission order: higher priority first, then first come first."""
    return sorted(queue, key=lambda e: (-e.priority, e.seq))


def enqueue(group: GroupRecord, run_id: str, priority: int = 0) -> GroupRecord:
    """The group with ``run_id`` waiting at the back of its priority (unchanged if the run is
    queued or admitted already). Raises ``QueueFull``."""
    if run_id in group.admitted or any(e.run_id == run_id for e in group.queue):
        return group
    check_room_to_wait(group)
    entry = QueueEntry(run_id, priority, group.next_seq)
    return dataclasses.replace(group, queue=(*group.queue, entry), next_seq=group.next_seq + 1)


def check_room_to_wait(group: GroupRecord) -> None:
    """Raise ``QueueFull`` if the group's record can take no more runs: ``MAX_QUEUED_RUNS``
    waiting, or ``MAX_GROUP_RUNS`` admitted and waiting (one record holds them all)."""
    if len(group.queue) >= MAX_QUEUED_RUNS:
        raise QueueFull(f"group {group.name} has {MAX_QUEUED_RUNS} runs waiting already")
    if len(group.queue) + len(group.admitted) >= MAX_GROUP_RUNS:
        raise QueueFull(f"group {group.name} has {MAX_GROUP_RUNS} runs admitted and waiting")


def release(group: GroupRecord, run_ids: Iterable[str]) -> GroupRecord:
    """The group without ``run_ids``, admitted or waiting (a run that ended or was canceled)."""
    gone = set(run_ids)
    return dataclasses.replace(
        group,
        admitted=tuple(r for r in group.admitted if r not in gone),
        queue=tuple(e for e in group.queue if e.run_id not in gone),
    )


def room(group: GroupRecord) -> int | None:
    """How many more runs the group may admit now (None: no limit)."""
    if group.limits.max_runs is None:
        return None
    return max(0, group.limits.max_runs - len(group.admitted))


def admit(group: GroupRecord) -> tuple[GroupRecord, tuple[str, ...]]:
    """Admit waiting runs in order while there is room; returns the group and those admitted."""
    free = room(group)
    queue = ordered(group.queue)
    chosen = queue if free is None else queue[:free]
    if not chosen:
        return group, ()
    ids = tuple(e.run_id for e in chosen)
    rest = tuple(e for e in group.queue if e.run_id not in set(ids))
    return dataclasses.replace(group, admitted=(*group.admitted, *ids), queue=rest), ids


def decide(
    group: GroupRecord, change: Callable[[GroupRecord], GroupRecord]
) -> tuple[GroupRecord | None, tuple[str, ...]]:
    """Apply ``change`` to the group, then admit what fits: (the record to write, or None if
    nothing changed; the runs admitted)."""
    changed, admitted = admit(change(group))
    if dataclasses.replace(changed, updated_at=group.updated_at) == group:
        return None, ()
    return changed, admitted


def waiting_reason(group: GroupRecord, run_id: str) -> str | None:
    """Why ``run_id`` waits in ``group`` (None if it does not)."""
    queue = ordered(group.queue)
    position = next((i for i, e in enumerate(queue) if e.run_id == run_id), None)
    if position is None:
        return None
    limit = group.limits.max_runs
    reason = f"waiting: group {group.name} has {len(group.admitted)} of {limit} runs"
    if position:
        reason += f", {position} waiting ahead"
    return reason


def deadline(limits: Limits, admitted_at: datetime) -> str | None:
    """When a run admitted at ``admitted_at`` must have ended (its ``max_duration``)."""
    if limits.max_duration_seconds is None:
        return None
    end = admitted_at + timedelta(seconds=limits.max_duration_seconds)
    return end.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def past_deadline(runs: Iterable[RunRecord], now: datetime) -> list[RunRecord]:
    """The runs still in flight whose deadline has passed."""
    return [run for run in runs if is_past_deadline(run, now)]


# the adapter


def _admission(plane: ControlPlane) -> Admission:
    if plane.admission is None:
        raise RuntimeError("this control plane admits no runs (no Admission configured)")
    admission: Admission = plane.admission
    return admission


def read_group(plane: ControlPlane, name: str) -> tuple[GroupRecord, int | None]:
    """The group's record and its stored revision (None: ``default``, not stored yet). The
    ``default`` group's limits are always configuration's. Raises ``UnknownGroup``."""
    stored = plane.store.get_group(name)
    if name == DEFAULT_GROUP:
        limits = _admission(plane).default_limits
        if stored is None:
            return GroupRecord(DEFAULT_GROUP, limits=limits, created_at=utc_now()), None
        return dataclasses.replace(stored, limits=limits), stored.revision
    if stored is None:
        raise UnknownGroup(f"no run group {name!r}")
    return stored, stored.revision


def change_group(
    plane: ControlPlane, name: str, change: Callable[[GroupRecord], GroupRecord]
) -> tuple[GroupRecord, tuple[str, ...]]:
    """Write ``change`` and the admissions it allows with compare-and-set (retrying a lost
    race), launch the runs admitted, and settle the ones that could not launch (canceled while
    they waited, or RunTask refused): released, which may admit the next. Returns the group as
    written by the first decision, and the runs that decision admitted."""
    group, admitted = _write(plane, name, change)
    first = (group, admitted)
    while admitted:
        done = [run_id for run_id in admitted if not start(plane, run_id, group)]
        if not done:
            break
        group, admitted = _write(plane, name, functools.partial(_release, run_ids=done))
    return first


def _write(
    plane: ControlPlane, name: str, change: Callable[[GroupRecord], GroupRecord]
) -> tuple[GroupRecord, tuple[str, ...]]:
    while True:
        current, revision = read_group(plane, name)
        new, admitted = decide(current, change)
        if new is None:
            return current, ()
        new = dataclasses.replace(new, updated_at=utc_now(), revision=(revision or 0) + 1)
        if plane.store.put_group(new, revision):
            return new, admitted


def start(plane: ControlPlane, run_id: str, group: GroupRecord) -> bool:
    """Launch an admitted run's orchestrator; False if the run can no longer run (it is gone,
    was canceled while it waited, or its launch failed) and must leave the group."""
    from .status import change_run

    now = datetime.now(UTC)
    due = deadline(group.limits, now)
    stamp = utc_now()
    changed = change_run(plane, run_id, lambda r: mark_admitted(r, stamp, due))
    run = changed or plane.store.get_run(run_id)
    if run is None or run.state != State.QUEUED:
        if run is not None and run.state == State.CANCELING:
            change_run(
                plane, run_id, lambda r: cancel_unlaunched(r, utc_now(), "canceled before it ran")
            )
        return False
    admission = _admission(plane)
    try:
        spec = with_run_tags(admission.orchestrator_spec(run_id), run_id, run.tags)
        (admission.launcher or plane.launcher).run_task(spec)
    except LaunchError as exn:
        reason = str(exn)
        log.error("run %s could not start: %s", run_id, reason)
        change_run(plane, run_id, lambda r: record_launch_failure(r, utc_now(), reason))
        return False
    deadlines.arm(plane, run)  # its deadline's timer (a failure is logged: the sweep's check)
    return True


def admit_submitted(plane: ControlPlane, run: RunRecord) -> RunRecord:
    """A run just recorded QUEUED joins its group's queue and is admitted if there is room
    (launched), else its record says why it waits. Returns the run as stored now."""
    from .status import change_run

    try:
        group, _admitted = change_group(
            plane, run.group, lambda g: enqueue(g, run.run_id, run.priority)
        )
    except GroupError as exn:  # deleted since the submission was checked, or its queue full
        refused = f"the run could not join its group: {exn}"
        change_run(plane, run.run_id, lambda r: cancel_unlaunched(r, utc_now(), refused))
        raise
    reason = waiting_reason(group, run.run_id)
    if reason is not None:
        change_run(plane, run.run_id, lambda r: mark_waiting(r, utc_now(), reason))
    return plane.store.get_run(run.run_id) or run


def run_ended(plane: ControlPlane, run_id: str) -> tuple[str, ...]:
    """A run's orchestrator stopped: the run leaves its group, and the next runs that fit are
    admitted and launched. A duplicate event writes nothing. Returns the runs admitted."""
    run = plane.store.get_run(run_id)
    if run is None or not run.group or plane.admission is None:
        return ()
    released = False

    def leave(group: GroupRecord) -> GroupRecord:
        nonlocal released
        released = run_id in group.admitted or any(e.run_id == run_id for e in group.queue)
        return release(group, [run_id])

    admitted = change_group(plane, run.group, leave)[1]
    if released:  # the first handling of its end (a duplicate event finds nothing to do)
        deadlines.disarm(plane, run)
    return admitted


def cancel_queued(plane: ControlPlane, run_id: str) -> RunRecord | None:
    """Cancel a run still waiting for admission: it leaves the queue and is CANCELED, and
    nothing is launched or stopped. None if it is not waiting (admitted meanwhile, or not in a
    group): cancel it the usual way."""
    from .status import change_run

    run = plane.store.get_run(run_id)
    if run is None or run.state != State.QUEUED or run.admitted_at or not run.group:
        return None
    if plane.admission is None:
        return None
    removed = False

    def leave(group: GroupRecord) -> GroupRecord:
        nonlocal removed
        removed = any(e.run_id == run_id for e in group.queue)
        return release(group, [run_id]) if removed else group

    change_group(plane, run.group, leave)
    if not removed:
        return None
    reason = "canceled while it waited for admission"
    return change_run(plane, run_id, lambda r: cancel_unlaunched(r, utc_now(), reason)) or run


def create_or_update_group(
    plane: ControlPlane, name: str, limits: Limits, description: str, *, create: bool
) -> GroupRecord:
    """Create the group (``create``; raises ``GroupError`` if it exists) or change its limits
    (raises ``UnknownGroup``), then admit what the new limits allow."""
    if name == DEFAULT_GROUP:
        raise GroupError("the default group's limits are set by configuration")
    if create:
        now = utc_now()
        record = GroupRecord(name, limits, description, created_at=now, updated_at=now, revision=1)
        if not plane.store.put_group(record, None):
            raise GroupExists(f"run group {name!r} exists already")
        return record
    return change_group(
        plane, name, lambda g: dataclasses.replace(g, limits=limits, description=description)
    )[0]


def delete_group(plane: ControlPlane, name: str) -> None:
    """Delete an idle group; raises ``UnknownGroup``, or ``GroupBusy`` while it has runs."""
    if name == DEFAULT_GROUP:
        raise GroupError("the default group cannot be deleted")
    while True:
        group = plane.store.get_group(name)
        if group is None:
            raise UnknownGroup(f"no run group {name!r}")
        if group.admitted or group.queue:
            raise GroupBusy(
                f"group {name} has {len(group.admitted)} run(s) admitted and"
                f" {len(group.queue)} waiting"
            )
        if plane.store.delete_group(name, group.revision):
            return


def over_cost(
    runs: Iterable[RunRecord], costs: Mapping[str, float], limits: Limits
) -> list[tuple[RunRecord, float]]:
    """The runs still going whose estimated cost (``costs``: run id -> USD) passed the
    group's ``max_cost_usd``, with that cost."""
    if limits.max_cost_usd is None:
        return []
    going = [r for r in runs if not is_terminal(r.state) and r.state != State.CANCELING]
    return [(r, costs[r.run_id]) for r in going if costs.get(r.run_id, 0.0) > limits.max_cost_usd]


def reconcile_groups(
    plane: ControlPlane,
    in_flight: Sequence[RunRecord],
    now: datetime,
    quiet: timedelta,
    costs: Mapping[str, float] | None = None,
) -> list[str]:
    """The sweep's repair of admission (no ECS call): runs recorded but in no queue are queued,
    admitted runs not launched are launched again (same client token), admitted runs that ended
    leave their group, and runs past their deadline, or whose estimated cost (``costs``) passed
    their group's ``max_cost_usd``, are canceled. Returns what it did, one line each."""
    done: list[str] = []
    if plane.admission is None:
        return done
    by_group: dict[str, list[RunRecord]] = {}
    for run in in_flight:
        if run.group:
            by_group.setdefault(run.group, []).append(run)
    names = {g.name for g in plane.store.list_groups()} | set(by_group)
    for name in sorted(names):
        try:
            group, _revision = read_group(plane, name)
        except UnknownGroup:
            continue
        tracked = set(group.admitted) | {e.run_id for e in group.queue}
        stranded = [
            r
            for r in by_group.get(name, [])
            if r.state == State.QUEUED and r.run_id not in tracked and _quiet(r, now, quiet)
        ]
        ended = []
        for run_id in group.admitted:
            admitted_run = plane.store.get_run(run_id)
            if admitted_run is None or (
                is_terminal(admitted_run.state) and _quiet(admitted_run, now, quiet)
            ):
                ended.append(run_id)
        if stranded or ended:
            fix = functools.partial(_requeue_and_release, stranded=stranded, ended=ended)
            group, _admitted = change_group(plane, name, fix)
            done += [f"queued {r.run_id}" for r in stranded] + [f"released {r}" for r in ended]
        for run in by_group.get(name, []):
            unlaunched = run.state == State.QUEUED and run.admitted_at and not run.orchestrator_arn
            relaunch = unlaunched and run.run_id in group.admitted and _quiet(run, now, quiet)
            if relaunch and start(plane, run.run_id, group):
                done.append(f"relaunched {run.run_id}")
        for run, usd in over_cost(by_group.get(name, []), costs or {}, group.limits):
            limit = group.limits.max_cost_usd
            reason = (
                f"canceled: the run's estimated cost ${usd:.2f} passed its group's"
                f" max_cost_usd ${limit:g}"
            )
            cancel_over_limit(plane, run.run_id, reason)
            done.append(f"canceled {run.run_id} (estimated ${usd:.2f}, over ${limit:g})")
    # The safety net of the deadlines' timers (one lost, or never armed): runs whose deadline
    # passed a quiet period ago, so the timer goes first and nothing is canceled twice.
    for run in past_deadline(in_flight, now - quiet):
        if deadlines.cancel_past_deadline(plane, run.run_id, now) is not None:
            done.append(f"canceled {run.run_id} (past its deadline {run.deadline})")
    return done


def cancel_over_limit(
    plane: ControlPlane,
    run_id: str,
    reason: str,
    only_if: Callable[[RunRecord], bool] | None = None,
) -> RunRecord | None:
    """Cancel a run that broke a limit, with ``reason`` as its error: CANCELING, and its
    orchestrator stopped (its STOPPED event makes the run CANCELED and frees its group's room).
    ``only_if`` is checked on the record as written over (compare-and-set). None if the run is
    over already, or ``only_if`` said no."""
    from .status import change_run

    def decide(run: RunRecord) -> RunRecord | None:
        if only_if is not None and not only_if(run):
            return None
        return request_cancel_for(run, utc_now(), reason)

    changed = change_run(plane, run_id, decide)
    if changed is not None and changed.orchestrator_arn:
        plane.launcher.stop_task(changed.orchestrator_arn, reason)
    return changed


def _release(group: GroupRecord, run_ids: Sequence[str]) -> GroupRecord:
    return release(group, run_ids)


def _requeue_and_release(
    group: GroupRecord, stranded: Sequence[RunRecord], ended: Sequence[str]
) -> GroupRecord:
    for run in stranded:
        group = enqueue(group, run.run_id, run.priority)
    return release(group, ended)


def _quiet(run: RunRecord, now: datetime, quiet: timedelta) -> bool:
    try:
        stamp = datetime.fromisoformat(run.updated_at.replace("Z", "+00:00"))
    except ValueError:
        return True
    return now - stamp >= quiet
