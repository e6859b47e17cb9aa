"""Run deadlines (``chalicelib.deadlines``): the pure decisions (schedule names, Scheduler's
expression, whether to cancel), the EventBridge Scheduler adapter on moto, and the wiring:
armed when admission launches a run, disarmed when its orchestrator's STOPPED event ends it,
enforced by the firing through the same function as the sweep's safety net, never twice."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from hypothesis import given
from hypothesis import strategies as st
from moto import mock_aws
from test_admission import Launcher, make_group, plane_for, submit

from chalicelib import deadlines
from chalicelib.admission import Admission, reconcile_groups, run_ended
from chalicelib.deadlines import (
    SchedulerDeadlines,
    at_expression,
    cancel_past_deadline,
    deadline_reason,
    fire_at,
    handle_deadline_event,
    is_past_deadline,
    schedule_name,
    should_disarm,
)
from chalicelib.deployment import AwsDeployment
from chalicelib.memory_store import MemoryStore
from chalicelib.records import RunRecord, utc_now
from chalicelib.states import State
from chalicelib.status import ControlPlane, change_run
from chalicelib.transitions import report_outcome

REGION = "us-east-1"
FUNCTION = f"arn:aws:lambda:{REGION}:123456789012:function:deadlines"
ROLE = "arn:aws:iam::123456789012:role/scheduler"
NAME = re.compile(r"^[0-9A-Za-z_.-]{1,64}$")


def run_with(deadline: str | None, state: State = State.RUNNING) -> RunRecord:
    now = utc_now()
    return RunRecord("r0", state, now, now, "w", "k", "k", group="lab-a", deadline=deadline)


# decisions (pure)


@given(st.text(min_size=1, max_size=200))
def test_schedule_names_are_valid_and_stable(run_id: str) -> None:
    name = schedule_name(run_id)
    assert NAME.match(name), name
    assert schedule_name(run_id) == name  # a retried admission names the same schedule
    assert name.startswith("run-deadline")  # what the stack's IAM policy allows


@given(st.text(min_size=1, max_size=100), st.text(min_size=1, max_size=100))
def test_two_runs_never_share_a_schedule(a: str, b: str) -> None:
    if a != b:
        assert schedule_name(a) != schedule_name(b)


def test_a_usual_run_id_is_readable_in_its_schedules_name() -> None:
    assert schedule_name("20261129-235031-691b1219") == "run-deadline-20261129-235031-691b1219"
    assert schedule_name("req-" + "a" * 28) == "run-deadline-req-" + "a" * 28
    assert schedule_name("a/b").startswith("run-deadline.")  # hashed: '/' is not allowed


def test_at_expression_is_utc_rounded_up_to_the_minute() -> None:
    assert at_expression("2026-11-30T01:00:30.250Z") == "at(2026-11-30T01:01:00)"
    assert at_expression("2026-11-30T01:00:00.000Z") == "at(2026-11-30T01:00:00)"
    assert at_expression("2026-12-31T23:59:00.001Z") == "at(2027-01-01T00:00:00)"
    assert at_expression("2026-11-30T02:00:30+01:00") == "at(2026-11-30T01:01:00)"


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)))
def test_a_schedule_never_fires_before_the_deadline_nor_a_minute_after(moment: datetime) -> None:
    """Scheduler fires within the minute its expression names (60 s precision)."""
    stamp = moment.replace(tzinfo=UTC).isoformat(timespec="milliseconds")
    deadline = deadlines.parse_stamp(stamp)
    fires = fire_at(stamp)
    assert fires.second == 0 and fires.microsecond == 0
    assert deadline <= fires < deadline + timedelta(minutes=1)


def test_whether_to_cancel() -> None:
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert is_past_deadline(run_with("2026-01-01T11:59:59.000Z"), now)
    assert is_past_deadline(run_with("2026-01-01T12:00:00.000Z"), now)
    assert not is_past_deadline(run_with("2026-01-01T12:00:00.001Z"), now)  # early firing
    assert not is_past_deadline(run_with(None), now)
    for state in (State.CANCELING, State.CANCELED, State.COMPLETE, State.SYSTEM_ERROR):
        assert not is_past_deadline(run_with("2026-01-01T11:00:00.000Z", state), now)  # stale
    assert is_past_deadline(run_with("2026-01-01T11:00:00.000Z", State.QUEUED), now)


def test_whether_to_disarm() -> None:
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    ahead, passed = "2026-01-01T13:00:00.000Z", "2026-01-01T11:00:00.000Z"
    assert should_disarm(run_with(ahead, State.COMPLETE), now)
    assert not should_disarm(run_with(passed, State.CANCELED), now)  # it fired: deleted itself
    assert not should_disarm(run_with(ahead, State.RUNNING), now)
    assert not should_disarm(run_with(None, State.COMPLETE), now)


# the adapter, on moto


@pytest.fixture
def scheduler() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("scheduler", region_name=REGION)
        client.create_schedule_group(Name="stack-deadlines")
        yield client


def test_arm_creates_one_time_schedule_and_a_retry_keeps_it(scheduler: Any) -> None:
    timers = SchedulerDeadlines(scheduler, "stack-deadlines", FUNCTION, ROLE)
    timers.arm("r0", "2026-11-30T01:00:30.250Z")
    timers.arm("r0", "2026-11-30T01:00:30.250Z")  # a retried admission: no error, one schedule
    (listed,) = scheduler.list_schedules(GroupName="stack-deadlines")["Schedules"]
    assert listed["Name"] == "run-deadline-r0"
    got = scheduler.get_schedule(Name="run-deadline-r0", GroupName="stack-deadlines")
    assert got["ScheduleExpression"] == "at(2026-11-30T01:01:00)"
    assert got["ScheduleExpressionTimezone"] == "UTC"
    assert got["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert got["ActionAfterCompletion"] == "DELETE"
    assert got["Target"]["Arn"] == FUNCTION and got["Target"]["RoleArn"] == ROLE
    assert json.loads(got["Target"]["Input"]) == {"run_id": "r0"}


def test_disarm_deletes_and_a_missing_schedule_is_fine(scheduler: Any) -> None:
    timers = SchedulerDeadlines(scheduler, "stack-deadlines", FUNCTION, ROLE)
    timers.arm("r0", "2026-11-30T01:00:30.250Z")
    timers.disarm("r0")
    assert scheduler.list_schedules(GroupName="stack-deadlines")["Schedules"] == []
    timers.disarm("r0")  # gone already (it fired and deleted itself): ResourceNotFound ignored


def test_the_deployment_builds_the_scheduler_adapter_from_its_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    base = {"table": "t", "bus": "b", "cluster": "c"}
    names = {
        "deadline_schedule_group": "g",
        "deadline_function_arn": FUNCTION,
        "deadline_role_arn": ROLE,
    }
    with mock_aws():
        deployment = AwsDeployment.from_lookup(lambda k: {**base, **names}.get(k, ""))
        assert deployment is not None
        timers = deployment.deadline_timers()
        assert isinstance(timers, SchedulerDeadlines)
        assert (timers.group, timers.target_arn, timers.role_arn) == ("g", FUNCTION, ROLE)
        config = timers.client.meta.config
        assert config.retries["mode"] == "standard"  # botocore retries, not a loop of ours
    without = AwsDeployment.from_lookup(lambda k: base.get(k, ""))
    assert without is not None and without.deadline_timers() is None


# wiring: admission arms, the run's end disarms, the firing cancels, the sweep is the net


class Timers:
    """Records what admission asks of the timers port; ``fail`` makes ``arm`` raise."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.armed: list[tuple[str, str]] = []
        self.disarmed: list[str] = []

    def arm(self, run_id: str, deadline: str) -> None:
        if self.fail:
            raise RuntimeError("AccessDeniedException: not authorized to CreateSchedule")
        self.armed.append((run_id, deadline))

    def disarm(self, run_id: str) -> None:
        self.disarmed.append(run_id)


class StoppingLauncher(Launcher):
    def __init__(self) -> None:
        super().__init__()
        self.stopped: list[tuple[str, str]] = []

    def stop_task(self, task_arn: str, reason: str) -> None:
        self.stopped.append((task_arn, reason))


def deadline_plane(timers: Any, max_duration: float | None = 3600.0) -> ControlPlane:
    plane = plane_for(MemoryStore(), StoppingLauncher())
    assert plane.admission is not None
    plane.admission = dataclasses.replace(plane.admission, deadlines=timers)
    make_group(plane, 1, max_duration_seconds=max_duration)
    return plane


def running(plane: ControlPlane, run_id: str) -> RunRecord:
    changed = change_run(
        plane,
        run_id,
        lambda r: dataclasses.replace(r, orchestrator_arn=f"arn:o/{run_id}", state=State.RUNNING),
    )
    assert changed is not None
    return changed


def test_admission_arms_the_deadline_and_the_runs_end_disarms_it_once() -> None:
    timers = Timers()
    plane = deadline_plane(timers)
    first = submit(plane, "r0")
    waiting = submit(plane, "r1")  # max_runs 1: it waits, not admitted, nothing armed
    assert first.deadline is not None and waiting.deadline is None
    assert timers.armed == [("r0", first.deadline)]
    running(plane, "r0")
    change_run(plane, "r0", lambda r: report_outcome(r, State.COMPLETE, utc_now()))
    run_ended(plane, "r0")  # its STOPPED event: r1 admitted (armed), r0's schedule deleted
    run_ended(plane, "r0")  # a duplicate event deletes nothing more
    assert timers.disarmed == ["r0"]
    second = plane.store.get_run("r1")
    assert second is not None and second.deadline is not None
    assert timers.armed == [("r0", first.deadline), ("r1", second.deadline)]


def test_no_deadline_no_timer() -> None:
    timers = Timers()
    plane = deadline_plane(timers, max_duration=None)
    submit(plane, "r0")
    change_run(plane, "r0", lambda r: report_outcome(r, State.COMPLETE, utc_now()))
    run_ended(plane, "r0")
    assert timers.armed == [] and timers.disarmed == []


def test_a_schedule_that_cannot_be_created_leaves_the_run_started_and_the_sweep_in_charge(
    caplog: pytest.LogCaptureFixture,
) -> None:
    plane = deadline_plane(Timers(fail=True))
    with caplog.at_level(logging.ERROR, logger="chalicelib.deadlines"):
        run = submit(plane, "r0")
    assert run.state == State.QUEUED and run.admitted_at  # admitted and launched all the same
    assert plane.launcher.launched == ["r0"]  # type: ignore[attr-defined]
    assert "could not be scheduled; the sweep enforces it instead" in caplog.text
    running(plane, "r0")
    later = datetime.now(UTC) + timedelta(hours=2)
    done = reconcile_groups(plane, [plane.store.get_run("r0")], later, timedelta(minutes=5))
    assert done == [f"canceled r0 (past its deadline {run.deadline})"]


def test_a_failed_create_schedule_on_aws_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The real adapter, its CreateSchedule refused (botocore's Stubber)."""
    client = boto3.client("scheduler", region_name=REGION)
    timers = SchedulerDeadlines(client, "g", FUNCTION, ROLE)
    plane = deadline_plane(timers)
    with Stubber(client) as stub, caplog.at_level(logging.ERROR):
        stub.add_client_error("create_schedule", "AccessDeniedException", http_status_code=403)
        run = submit(plane, "r0")
        stub.assert_no_pending_responses()
    assert run.admitted_at and plane.launcher.launched == ["r0"]  # type: ignore[attr-defined]
    assert "AccessDeniedException" in caplog.text


def test_the_firing_cancels_with_the_sweeps_reason_and_only_when_due() -> None:
    plane = deadline_plane(Timers())
    run = submit(plane, "r0")
    running(plane, "r0")
    assert run.deadline is not None
    due = deadlines.parse_stamp(run.deadline)
    assert cancel_past_deadline(plane, "r0", due - timedelta(seconds=1)) is None  # early
    assert plane.launcher.stopped == []  # type: ignore[attr-defined]
    canceled = cancel_past_deadline(plane, "r0", due)
    assert canceled is not None and canceled.state == State.CANCELING
    reason = deadline_reason(canceled)
    assert canceled.error == {"message": reason}
    assert reason == (
        f"canceled: the run passed its group's max_duration (it had to end by {run.deadline})"
    )
    assert plane.launcher.stopped == [("arn:o/r0", reason)]  # type: ignore[attr-defined]
    # A second firing (a retry), or the sweep after it: nothing more is done.
    assert cancel_past_deadline(plane, "r0", due + timedelta(hours=1)) is None
    later = due + timedelta(hours=1)
    assert reconcile_groups(plane, [plane.store.get_run("r0")], later, timedelta(minutes=5)) == []
    assert len(plane.launcher.stopped) == 1  # type: ignore[attr-defined]


def test_the_sweep_leaves_a_fresh_deadline_to_its_schedule() -> None:
    """Within a quiet period of the deadline the schedule goes first; after it, the sweep."""
    plane = deadline_plane(Timers())
    run = submit(plane, "r0")
    running(plane, "r0")
    due = deadlines.parse_stamp(str(run.deadline))
    quiet = timedelta(minutes=5)
    in_flight = [plane.store.get_run("r0")]
    assert reconcile_groups(plane, in_flight, due + timedelta(minutes=1), quiet) == []
    assert reconcile_groups(plane, in_flight, due + timedelta(minutes=6), quiet) == [
        f"canceled r0 (past its deadline {run.deadline})"
    ]


def test_the_deadline_lambdas_event() -> None:
    plane = deadline_plane(Timers(), max_duration=0.001)
    submit(plane, "r0")
    running(plane, "r0")
    time.sleep(0.01)  # past its deadline
    canceled = handle_deadline_event({"run_id": "r0"}, plane)
    assert canceled is not None and canceled.state == State.CANCELING
    assert handle_deadline_event({"run_id": "r0"}, plane) is None  # stale: canceled already
    assert handle_deadline_event({"run_id": "nope"}, plane) is None
    assert handle_deadline_event({}, plane) is None


def test_a_late_relaunch_past_its_deadline_is_canceled_not_scheduled() -> None:
    timers = Timers()
    plane = deadline_plane(timers)
    run = submit(plane, "r0")
    running(plane, "r0")
    assert timers.armed == [("r0", run.deadline)]
    late = deadlines.parse_stamp(str(run.deadline)) + timedelta(seconds=1)
    deadlines.arm(plane, plane.store.get_run("r0"), late)  # a relaunch after the deadline
    assert timers.armed == [("r0", run.deadline)]  # not scheduled again: enforced at once
    current = plane.store.get_run("r0")
    assert current is not None and current.state == State.CANCELING
    assert current.error == {"message": deadline_reason(run)}


def test_admission_without_timers_still_records_the_deadline() -> None:
    plane = plane_for(MemoryStore(), Launcher())
    assert isinstance(plane.admission, Admission) and plane.admission.deadlines is None
    make_group(plane, None, max_duration_seconds=60.0)
    assert submit(plane, "r0").deadline is not None
