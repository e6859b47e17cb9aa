"""Run deadlines (a group's ``max_duration``): one timer per run, armed at admission, disarmed
at the run's end, never a poll.

On AWS the timer is an EventBridge Scheduler one-time schedule (``SchedulerDeadlines``) in the
stack's schedule group, named after the run (so a retried admission finds it made already),
that invokes the deadline Lambda (``app.py``) once and then deletes itself. Locally it is a
timer thread of the run's agent (``local_agent``). Both end in ``cancel_past_deadline``, which
cancels the run only if, read afresh, it is still in flight and really past its deadline: a
stale firing (the run ended, or was canceled already) or an early one does nothing.

The sweep keeps its check as the safety net for a timer that was lost (a schedule that could
not be created, an agent killed): it cancels through the same function, and only runs whose
deadline passed a sweep's quiet period ago, so the schedule goes first and a run is never
canceled twice (the cancel is a compare-and-set write: the second finds the run CANCELING).

AWS calls per run with a deadline: one CreateSchedule at admission, and one DeleteSchedule at
its end if the deadline is still ahead (a schedule that fired has deleted itself).

The decisions (names, expressions, whether to cancel) are pure; ``SchedulerDeadlines`` and the
functions at the bottom are the adapter.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from .records import RunRecord
from .states import State, is_terminal

if TYPE_CHECKING:
    from .status import ControlPlane

log = logging.getLogger(__name__)

SCHEDULE_PREFIX = "run-deadline-"
# A run id that cannot be a schedule name as it is (other characters, too long) is hashed; the
# other prefix keeps the two forms from ever naming the same schedule.
HASHED_SCHEDULE_PREFIX = "run-deadline."
MAX_SCHEDULE_NAME = 64
_SCHEDULE_NAME = re.compile(r"^[0-9A-Za-z_.-]+$")
# Scheduler invokes with 60 s precision ("at 1:00" fires between 1:00:00 and 1:00:59), so the
# expression is rounded up to the minute: a firing is never early, and at most 2 minutes late.
SCHEDULER_PRECISION = timedelta(minutes=1)
# How long Scheduler keeps retrying a failed invocation (then the sweep's check remains).
RETRY_ATTEMPTS = 10
RETRY_SECONDS = 3600


class DeadlineTimers(Protocol):
    """The timers port: arm a run's deadline, disarm it (both idempotent)."""

    def arm(self, run_id: str, deadline: str) -> None: ...

    def disarm(self, run_id: str) -> None: ...


# decisions (pure)


def parse_stamp(stamp: str) -> datetime:
    """A record's ISO-8601 UTC time (``...Z``) as an aware datetime."""
    parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def schedule_name(run_id: str) -> str:
    """The Scheduler schedule of a run's deadline: the same for every retry of its admission,
    a valid name (``[0-9A-Za-z_.-]``, at most 64 characters), and different for two runs."""
    name = SCHEDULE_PREFIX + run_id
    if _SCHEDULE_NAME.match(run_id) and len(name) <= MAX_SCHEDULE_NAME:
        return name
    digest = hashlib.sha256(run_id.encode()).hexdigest()
    return (HASHED_SCHEDULE_PREFIX + digest)[:MAX_SCHEDULE_NAME]


def fire_at(deadline: str) -> datetime:
    """When the schedule should fire: the deadline rounded up to the minute (UTC)."""
    moment = parse_stamp(deadline).astimezone(UTC)
    minute = SCHEDULER_PRECISION.total_seconds()
    return datetime.fromtimestamp(math.ceil(moment.timestamp() / minute) * minute, UTC)


def at_expression(deadline: str) -> str:
    """Scheduler's one-time expression for a deadline, in UTC: ``at(YYYY-MM-DDThh:mm:ss)``."""
    return f"at({fire_at(deadline).strftime('%Y-%m-%dT%H:%M:%S')})"


def schedule_input(run_id: str) -> str:
    """What the schedule hands the deadline Lambda (it reads the deadline from the record)."""
    return json.dumps({"run_id": run_id})


def seconds_left(deadline: str, now: datetime) -> float:
    """Seconds from ``now`` to the deadline (0 if it has passed)."""
    return max(0.0, (parse_stamp(deadline) - now).total_seconds())


def in_flight(run: RunRecord) -> bool:
    """A run that a limit may still cancel: not ended, and not being canceled already."""
    return not is_terminal(run.state) and run.state != State.CANCELING


def is_past_deadline(run: RunRecord, now: datetime) -> bool:
    """Whether to cancel the run for its deadline at ``now``: it is still in flight and its
    deadline has passed (a firing that is early, or stale, finds False)."""
    return in_flight(run) and bool(run.deadline) and parse_stamp(str(run.deadline)) <= now


def deadline_reason(run: RunRecord) -> str:
    """The run's error when its deadline canceled it (the one wording, timer's and sweep's)."""
    return f"canceled: the run passed its group's max_duration (it had to end by {run.deadline})"


def should_disarm(run: RunRecord, now: datetime) -> bool:
    """Whether a run that ended still has a timer to disarm: it had a deadline, still ahead
    (a schedule that fired has deleted itself)."""
    return is_terminal(run.state) and bool(run.deadline) and parse_stamp(str(run.deadline)) > now


# the AWS adapter


def new_scheduler_client(region: str = "") -> Any:
    """An EventBridge Scheduler client: botocore's standard retry mode (3 attempts, backoff on
    throttling and 5xx) and short timeouts, so a slow Scheduler cannot hold a submission."""
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=5
    )
    return boto3.client("scheduler", region_name=region or None, config=config)


class SchedulerDeadlines:
    """``DeadlineTimers`` over EventBridge Scheduler one-time schedules in ``group``, invoking
    ``target_arn`` (the deadline Lambda) as ``role_arn``."""

    def __init__(self, client: Any, group: str, target_arn: str, role_arn: str) -> None:
        self.client = client
        self.group = group
        self.target_arn = target_arn
        self.role_arn = role_arn

    def arm(self, run_id: str, deadline: str) -> None:
        """Create the run's schedule; one made already (a retried admission) is kept."""
        # one made already, by an earlier attempt at this admission: same name, same time
        with contextlib.suppress(self.client.exceptions.ConflictException):
            self.client.create_schedule(
                Name=schedule_name(run_id),
                GroupName=self.group,
                ScheduleExpression=at_expression(deadline),
                ScheduleExpressionTimezone="UTC",
                FlexibleTimeWindow={"Mode": "OFF"},
                ActionAfterCompletion="DELETE",
                Description=f"cancel run {run_id} if still going at its deadline {deadline}"[:512],
                Target={
                    "Arn": self.target_arn,
                    "RoleArn": self.role_arn,
                    "Input": schedule_input(run_id),
                    "RetryPolicy": {
                        "MaximumRetryAttempts": RETRY_ATTEMPTS,
                        "MaximumEventAgeInSeconds": RETRY_SECONDS,
                    },
                },
            )

    def disarm(self, run_id: str) -> None:
        """Delete the run's schedule; one gone already (fired, or never made) is fine."""
        with contextlib.suppress(self.client.exceptions.ResourceNotFoundException):
            self.client.delete_schedule(Name=schedule_name(run_id), GroupName=self.group)


# the port's users


def _timers(plane: ControlPlane) -> DeadlineTimers | None:
    admission = plane.admission
    return admission.deadlines if admission is not None else None


def arm(plane: ControlPlane, run: RunRecord, now: datetime | None = None) -> None:
    """Arm the timer of a run just admitted and launched (nothing without a deadline or a timer
    port). A deadline passed already (a relaunch that came late) is enforced at once. A timer
    that cannot be armed is logged, never a failure of the admission: the sweep's check is the
    fallback, within a sweep interval of the deadline."""
    timers = _timers(plane)
    if timers is None or not run.deadline:
        return
    moment = now or datetime.now(UTC)
    if is_past_deadline(run, moment):
        cancel_past_deadline(plane, run.run_id, moment)
        return
    try:
        timers.arm(run.run_id, run.deadline)
    except Exception:  # the run goes on; the sweep cancels it past its deadline instead
        log.exception(
            "run %s: its deadline %s could not be scheduled; the sweep enforces it instead",
            run.run_id,
            run.deadline,
        )


def disarm(plane: ControlPlane, run: RunRecord, now: datetime | None = None) -> None:
    """Disarm the timer of a run that ended (if it has one still to fire). A failure is logged:
    the schedule fires later, finds the run ended, does nothing and deletes itself."""
    timers = _timers(plane)
    if timers is None or not should_disarm(run, now or datetime.now(UTC)):
        return
    try:
        timers.disarm(run.run_id)
    except Exception:  # it fires later, finds the run ended, and deletes itself
        log.exception("run %s: its deadline schedule could not be deleted", run.run_id)


def cancel_past_deadline(
    plane: ControlPlane, run_id: str, now: datetime | None = None
) -> RunRecord | None:
    """Cancel the run for its deadline if, as stored, it is still in flight and past it: the
    reason as its error, its orchestrator stopped. None if there was nothing to do (an early or
    stale firing, a run canceled already by the other of timer and sweep)."""
    from .admission import cancel_over_limit

    moment = now or datetime.now(UTC)
    run = plane.store.get_run(run_id)
    if run is None or not is_past_deadline(run, moment):
        return None
    return cancel_over_limit(
        plane, run_id, deadline_reason(run), only_if=lambda r: is_past_deadline(r, moment)
    )


def handle_deadline_event(event: Mapping[str, Any], plane: ControlPlane) -> RunRecord | None:
    """The deadline Lambda: the schedule's input names the run (``schedule_input``)."""
    run_id = event.get("run_id") if isinstance(event, Mapping) else None
    if not isinstance(run_id, str) or not run_id:
        log.error("deadline event without a run id ignored: %r", event)
        return None
    canceled = cancel_past_deadline(plane, run_id)
    if canceled is None:
        log.info("run %s: its deadline fired with nothing to do (ended, or not yet due)", run_id)
    else:
        log.info("run %s canceled: past its deadline %s", run_id, canceled.deadline)
    return canceled
