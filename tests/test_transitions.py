"""chalicelib.transitions: pure decisions about run and task records."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from functools import reduce
from typing import Any

import pytest
from events import ecs_event
from hypothesis import given
from hypothesis import strategies as st

from chalicelib import ecs_events
from chalicelib.cost import Cost
from chalicelib.ecs_events import TaskEvent, parse_task_event
from chalicelib.records import RunRecord, TaskRecord
from chalicelib.states import State, is_terminal
from chalicelib.transitions import (
    Progress,
    apply_orchestrator_event,
    apply_task_event,
    mark_started,
    progress,
    record_launch_failure,
    record_orchestrator,
    report_outcome,
    request_cancel,
    tasks_to_stop,
)

NOW = "2024-05-01T12:00:00.000Z"
LATER = "2024-05-01T12:05:00.000Z"
ORCH_ARN = "arn:aws:ecs:local:000000000000:task/miniwdl-fargate-local/orch0001"
TASK_ARN = "arn:aws:ecs:local:000000000000:task/miniwdl-fargate-local/task0001"
STOP_REASON = "Essential container in task exited"


def event(
    *,
    role: str = ecs_events.ROLE_TASK,
    run_id: str = "run1",
    task_arn: str = TASK_ARN,
    version: int,
    last_status: str,
    exit_code: int | None = None,
    stop_code: str | None = None,
    stopped_reason: str | None = None,
    call_id: str = "call-hello",
    attempt: int = 1,
    timestamps: dict[str, str] | None = None,
) -> TaskEvent:
    raw = ecs_event(
        task_arn,
        version,
        last_status,
        role=role,
        run_id=run_id,
        call_id=call_id,
        attempt=attempt,
        exit_code=exit_code,
        stop_code=stop_code,
        stopped_reason=stopped_reason,
        timestamps=timestamps,
    )
    parsed = parse_task_event(raw)
    assert parsed is not None
    return parsed


def make_run(state: State = State.QUEUED, **changes: Any) -> RunRecord:
    run = RunRecord(
        run_id="run1",
        state=state,
        created_at=NOW,
        updated_at=NOW,
        workflow_name="hello",
        workflow_key="runs/run1/workflow.wdl",
        inputs_key="runs/run1/inputs.json",
    )
    return dataclasses.replace(run, **changes)


def make_task(
    task_id: str, state: State, *, call_id: str = "", attempt: int = 1, task_arn: str = "arn"
) -> TaskRecord:
    return TaskRecord(
        task_id=task_id,
        run_id="run1",
        state=state,
        updated_at=NOW,
        task_arn=task_arn,
        call_id=call_id,
        attempt=attempt,
    )


def fold(
    apply: Callable[[Any, TaskEvent, str], Any], start: Any, events: Sequence[TaskEvent]
) -> Any:
    """Deliver events one by one; a None decision keeps the current record."""

    def step(current: Any, ev: TaskEvent) -> Any:
        decided = apply(current, ev, NOW)
        return current if decided is None else decided

    return reduce(step, events, start)


# ---------------------------------------------------------------------------------------------
# apply_task_event: examples

PROVISIONING = event(version=1, last_status="PROVISIONING")
RUNNING = event(version=2, last_status="RUNNING")


def test_first_event_creates_the_record() -> None:
    record = apply_task_event(None, PROVISIONING, NOW)
    assert record is not None
    assert record.task_id == "task0001"
    assert record.run_id == "run1"
    assert record.task_arn == TASK_ARN
    assert record.state == State.INITIALIZING
    assert record.version == 1
    assert record.last_status == "PROVISIONING"
    assert record.call_id == "call-hello"
    assert record.created_at == NOW
    assert record.stopped_at is None


def test_task_event_sequence_in_order() -> None:
    stopped = event(version=3, last_status="STOPPED", exit_code=0, timestamps={"stoppedAt": LATER})
    states = []
    record = None
    for ev in (PROVISIONING, RUNNING, stopped):
        record = apply_task_event(record, ev, NOW)
        assert record is not None
        states.append(record.state)
    assert states == [State.INITIALIZING, State.RUNNING, State.COMPLETE]
    assert record is not None
    assert record.exit_code == 0
    assert record.stopped_at == LATER


def test_duplicate_task_event_is_a_noop() -> None:
    record = apply_task_event(None, RUNNING, NOW)
    assert record is not None
    assert apply_task_event(record, RUNNING, LATER) is None


def test_older_task_event_is_a_noop() -> None:
    record = apply_task_event(None, RUNNING, NOW)
    assert apply_task_event(record, PROVISIONING, LATER) is None


def test_nothing_after_terminal_task_state() -> None:
    record = apply_task_event(None, event(version=3, last_status="STOPPED", exit_code=1), NOW)
    assert record is not None
    assert record.state == State.EXECUTOR_ERROR
    later = event(version=9, last_status="RUNNING")
    assert apply_task_event(record, later, LATER) is None


def test_newer_status_that_means_nothing_keeps_state_but_records_version() -> None:
    record = apply_task_event(None, RUNNING, NOW)
    deactivating = event(version=3, last_status="DEACTIVATING")
    updated = apply_task_event(record, deactivating, LATER)
    assert updated is not None
    assert updated.state == State.RUNNING
    assert updated.version == 3
    assert updated.last_status == "DEACTIVATING"


def test_task_record_registered_by_launcher_keeps_its_call_id() -> None:
    registered = make_task("task0001", State.QUEUED, call_id="call-x", attempt=2)
    no_env = event(version=1, last_status="PENDING", call_id="")
    updated = apply_task_event(registered, no_env, NOW)
    assert updated is not None
    assert updated.call_id == "call-x"
    assert updated.attempt == 2
    assert updated.state == State.INITIALIZING


def test_stopped_without_timestamp_uses_now() -> None:
    record = apply_task_event(None, event(version=1, last_status="STOPPED"), LATER)
    assert record is not None
    assert record.state == State.SYSTEM_ERROR
    assert record.stopped_at == LATER


# ---------------------------------------------------------------------------------------------
# apply_task_event: any order, any number of times

STOPPED_OUTCOMES = st.one_of(
    st.integers(min_value=0, max_value=255).map(lambda code: (code, None)),
    st.sampled_from(sorted(ecs_events.PREEMPTION_STOP_CODES)).map(lambda sc: (None, sc)),
)


@st.composite
def deliveries(draw: st.DrawFn, events: list[Any]) -> list[Any]:
    """Any permutation of any multiset holding every event at least once."""
    extra = draw(st.lists(st.sampled_from(events), max_size=6))
    return draw(st.permutations(events + extra))


@st.composite
def task_scenario(draw: st.DrawFn) -> tuple[list[TaskEvent], list[TaskEvent]]:
    exit_code, stop_code = draw(STOPPED_OUTCOMES)
    stopped = event(
        version=3,
        last_status="STOPPED",
        exit_code=exit_code,
        stop_code=stop_code,
        stopped_reason=STOP_REASON,
    )
    in_order = [PROVISIONING, RUNNING, stopped]
    return in_order, draw(deliveries(in_order))


def _task_fields(record: TaskRecord) -> tuple[Any, ...]:
    return (record.state, record.version, record.exit_code, record.stop_code)


@given(task_scenario())
def test_task_events_in_any_order_and_multiplicity(
    scenario: tuple[list[TaskEvent], list[TaskEvent]],
) -> None:
    in_order, delivered = scenario
    expected = fold(apply_task_event, None, in_order)
    actual = fold(apply_task_event, None, delivered)
    assert _task_fields(actual) == _task_fields(expected)
    assert is_terminal(actual.state)
    assert actual.version == 3


# ---------------------------------------------------------------------------------------------
# apply_orchestrator_event

O_PROVISIONING = event(
    role=ecs_events.ROLE_ORCHESTRATOR, task_arn=ORCH_ARN, version=1, last_status="PROVISIONING"
)
O_RUNNING = event(
    role=ecs_events.ROLE_ORCHESTRATOR,
    task_arn=ORCH_ARN,
    version=2,
    last_status="RUNNING",
    timestamps={"startedAt": NOW},
)


def o_stopped(
    exit_code: int | None = 1, stop_code: str | None = "EssentialContainerExited"
) -> TaskEvent:
    return event(
        role=ecs_events.ROLE_ORCHESTRATOR,
        task_arn=ORCH_ARN,
        version=3,
        last_status="STOPPED",
        exit_code=exit_code,
        stop_code=stop_code,
        stopped_reason=STOP_REASON,
        timestamps={"startedAt": NOW, "stoppedAt": LATER},
    )


def test_orchestrator_events_move_the_run() -> None:
    run = make_run()
    initializing = apply_orchestrator_event(run, O_PROVISIONING, NOW)
    assert initializing is not None
    assert initializing.state == State.INITIALIZING
    assert initializing.orchestrator_arn == ORCH_ARN
    assert initializing.orchestrator_version == 1
    running = apply_orchestrator_event(initializing, O_RUNNING, NOW)
    assert running is not None
    assert running.state == State.RUNNING
    assert running.start_time == NOW
    assert running.orchestrator_version == 2


def test_orchestrator_duplicate_and_stale_events_are_noops() -> None:
    run = apply_orchestrator_event(make_run(), O_RUNNING, NOW)
    assert run is not None
    assert apply_orchestrator_event(run, O_RUNNING, LATER) is None
    assert apply_orchestrator_event(run, O_PROVISIONING, LATER) is None


def test_orchestrator_event_keeps_a_known_arn() -> None:
    run = make_run(orchestrator_arn="arn:known")
    updated = apply_orchestrator_event(run, O_PROVISIONING, NOW)
    assert updated is not None
    assert updated.orchestrator_arn == "arn:known"


def test_orchestrator_stopped_without_outcome_is_system_error() -> None:
    run = apply_orchestrator_event(make_run(), O_RUNNING, NOW)
    assert run is not None
    stopped = apply_orchestrator_event(run, o_stopped(exit_code=1), NOW)
    assert stopped is not None
    assert stopped.state == State.SYSTEM_ERROR
    assert stopped.error is not None
    assert STOP_REASON in stopped.error["message"]
    assert "exit code 1" in stopped.error["message"]
    assert stopped.error["exit_code"] == 1
    assert stopped.exit_code == 1
    assert stopped.end_time == LATER


def test_orchestrator_stopped_while_canceling_is_canceled() -> None:
    run = make_run(State.CANCELING)
    stopped = apply_orchestrator_event(run, o_stopped(stop_code="UserInitiated"), NOW)
    assert stopped is not None
    assert stopped.state == State.CANCELED
    assert stopped.error is None


def test_orchestrator_stopping_after_outcome_only_adds_its_cost() -> None:
    tasks = Cost(vcpu_seconds=100.0, gb_seconds=200.0, usd=0.5)
    run = report_outcome(make_run(State.RUNNING), State.COMPLETE, NOW, outputs={"x": 1}, cost=tasks)
    assert run is not None and run.cost == tasks.as_dict()
    stopped = apply_orchestrator_event(run, o_stopped(exit_code=0), LATER)
    assert stopped is not None
    assert (stopped.state, stopped.outputs, stopped.end_time) == (
        run.state,
        run.outputs,
        run.end_time,
    )
    assert stopped.cost is not None
    assert stopped.cost["vcpu_seconds"] > tasks.vcpu_seconds
    assert stopped.cost["usd"] > tasks.usd
    # a running (not stopped) event after the outcome changes nothing
    late_running = event(
        role=ecs_events.ROLE_ORCHESTRATOR, task_arn=ORCH_ARN, version=9, last_status="RUNNING"
    )
    assert apply_orchestrator_event(run, late_running, LATER) is None


# any order, any number of times

OUTCOME = "outcome"
CANCEL = "cancel"
OUTPUTS = {"location": "s3://bucket/runs/run1/outputs.json", "outputs": {"hello.out": "hi"}}


def deliver_to_run(run: RunRecord, items: Sequence[Any]) -> RunRecord:
    for item in items:
        if item == OUTCOME:
            decided = report_outcome(run, State.COMPLETE, NOW, outputs=OUTPUTS, exit_code=0)
        elif item == CANCEL:
            decided = request_cancel(run, NOW)
        else:
            decided = apply_orchestrator_event(run, item, NOW)
        run = run if decided is None else decided
    return run


@st.composite
def orchestrator_scenario(draw: st.DrawFn, action: str | None) -> tuple[list[Any], list[Any]]:
    """In-order and shuffled deliveries; ``action`` (a store write by the orchestrator or the
    user) lands anywhere before the first delivery of STOPPED, as it happens before the stop."""
    exit_code, stop_code = draw(STOPPED_OUTCOMES)
    stopped = o_stopped(exit_code=exit_code, stop_code=stop_code)
    in_order: list[Any] = [O_PROVISIONING, O_RUNNING, stopped]
    delivered: list[Any] = draw(deliveries(in_order))
    if action is not None:
        in_order.insert(2, action)
        first_stop = delivered.index(stopped)
        delivered.insert(draw(st.integers(min_value=0, max_value=first_stop)), action)
    return in_order, delivered


@given(orchestrator_scenario(None))
def test_orchestrator_without_outcome_any_order(scenario: tuple[list[Any], list[Any]]) -> None:
    in_order, delivered = scenario
    expected = deliver_to_run(make_run(), in_order)
    actual = deliver_to_run(make_run(), delivered)
    assert actual.state == expected.state == State.SYSTEM_ERROR
    assert actual.error == expected.error
    assert actual.error is not None
    assert STOP_REASON in actual.error["message"]
    assert actual.exit_code == expected.exit_code
    assert actual.orchestrator_version == expected.orchestrator_version == 3
    assert actual.orchestrator_arn == ORCH_ARN
    assert actual.end_time == expected.end_time == LATER


@given(orchestrator_scenario(OUTCOME))
def test_orchestrator_outcome_survives_any_order(scenario: tuple[list[Any], list[Any]]) -> None:
    in_order, delivered = scenario
    expected = deliver_to_run(make_run(), in_order)
    actual = deliver_to_run(make_run(), delivered)
    assert expected.state == State.COMPLETE
    assert actual.state == State.COMPLETE
    assert actual.outputs == expected.outputs == OUTPUTS
    assert actual.error is None
    assert actual.exit_code == expected.exit_code == 0


@given(orchestrator_scenario(CANCEL))
def test_orchestrator_cancel_any_order(scenario: tuple[list[Any], list[Any]]) -> None:
    in_order, delivered = scenario
    expected = deliver_to_run(make_run(), in_order)
    actual = deliver_to_run(make_run(), delivered)
    assert expected.state == State.CANCELED
    assert actual.state == State.CANCELED
    assert actual.error is None
    assert actual.exit_code == expected.exit_code
    assert actual.orchestrator_version == 3


@given(deliveries([O_PROVISIONING, O_RUNNING, o_stopped()]))
def test_orchestrator_of_a_canceling_run_any_order(delivered: list[TaskEvent]) -> None:
    final = deliver_to_run(make_run(State.CANCELING), delivered)
    assert final.state == State.CANCELED
    assert final.orchestrator_version == 3


# ---------------------------------------------------------------------------------------------
# report_outcome, mark_started, request_cancel, record_*


@pytest.mark.parametrize(
    "state", [State.QUEUED, State.INITIALIZING, State.RUNNING, State.CANCELING], ids=str
)
def test_report_outcome_rejects_non_terminal(state: State) -> None:
    with pytest.raises(ValueError, match="terminal"):
        report_outcome(make_run(State.RUNNING), state, NOW)


def test_report_outcome_writes_the_outcome() -> None:
    error = {"message": "boom"}
    run = report_outcome(make_run(State.RUNNING), State.EXECUTOR_ERROR, LATER, error=error)
    assert run is not None
    assert run.state == State.EXECUTOR_ERROR
    assert run.error == error
    assert run.end_time == LATER
    assert run.updated_at == LATER


def test_report_outcome_on_terminal_run_is_a_noop() -> None:
    run = make_run(State.SYSTEM_ERROR)
    assert report_outcome(run, State.COMPLETE, NOW) is None


def test_report_outcome_from_canceling_wins_the_race() -> None:
    run = report_outcome(make_run(State.CANCELING), State.COMPLETE, NOW, outputs=OUTPUTS)
    assert run is not None
    assert run.state == State.COMPLETE


def test_mark_started() -> None:
    run = mark_started(make_run(State.INITIALIZING), NOW, run_dir="/work/run1")
    assert run is not None
    assert run.state == State.RUNNING
    assert run.run_dir == "/work/run1"
    assert run.start_time == NOW
    again = mark_started(run, LATER, run_dir="/work/run1")
    assert again is not None
    assert again.start_time == NOW
    assert mark_started(make_run(State.CANCELING), NOW, run_dir="/w") is None
    assert mark_started(make_run(State.COMPLETE), NOW, run_dir="/w") is None


@pytest.mark.parametrize("state", [State.QUEUED, State.INITIALIZING, State.RUNNING], ids=str)
def test_request_cancel_on_active_run(state: State) -> None:
    run = request_cancel(make_run(state), LATER)
    assert run is not None
    assert run.state == State.CANCELING
    assert run.updated_at == LATER


@pytest.mark.parametrize(
    "state",
    [
        State.CANCELING,
        State.COMPLETE,
        State.EXECUTOR_ERROR,
        State.SYSTEM_ERROR,
        State.CANCELED,
        State.PREEMPTED,
    ],
    ids=str,
)
def test_request_cancel_on_terminal_or_canceling_run_is_a_noop(state: State) -> None:
    assert request_cancel(make_run(state), NOW) is None


def test_record_launch_failure() -> None:
    run = record_launch_failure(make_run(), LATER, "no capacity")
    assert run is not None
    assert run.state == State.SYSTEM_ERROR
    assert run.error is not None
    assert "no capacity" in run.error["message"]
    assert run.end_time == LATER


def test_record_launch_failure_on_terminal_run_is_a_noop() -> None:
    assert record_launch_failure(make_run(State.CANCELED), NOW, "x") is None


def test_record_orchestrator() -> None:
    run = record_orchestrator(make_run(), ORCH_ARN, NOW)
    assert run is not None
    assert run.orchestrator_arn == ORCH_ARN
    assert run.state == State.QUEUED
    assert record_orchestrator(run, "arn:other", LATER) is None


# ---------------------------------------------------------------------------------------------
# tasks_to_stop, progress


def test_tasks_to_stop() -> None:
    tasks = [
        make_task("q", State.QUEUED),
        make_task("i", State.INITIALIZING),
        make_task("r", State.RUNNING),
        make_task("c", State.CANCELING),
        make_task("unlaunched", State.QUEUED, task_arn=""),
        *(make_task(f"t-{s}", s) for s in sorted(State) if is_terminal(s)),
    ]
    assert [t.task_id for t in tasks_to_stop(tasks)] == ["q", "i", "r", "c"]


def test_tasks_to_stop_empty() -> None:
    assert tasks_to_stop([]) == []


def test_progress_counts_each_call_once_by_latest_attempt() -> None:
    tasks = [
        make_task("a1", State.EXECUTOR_ERROR, call_id="call-a", attempt=1),
        make_task("a2", State.COMPLETE, call_id="call-a", attempt=2),
    ]
    assert progress(tasks) == Progress(done=1)
    assert progress(reversed(tasks)) == Progress(done=1)


def test_progress_latest_attempt_failing_counts_as_failed() -> None:
    tasks = [
        make_task("a2", State.PREEMPTED, call_id="call-a", attempt=2),
        make_task("a1", State.PREEMPTED, call_id="call-a", attempt=1),
        make_task("a3", State.RUNNING, call_id="call-a", attempt=3),
    ]
    assert progress(tasks) == Progress(running=1)


def test_progress_buckets() -> None:
    tasks = [
        make_task("1", State.QUEUED, call_id="c1"),
        make_task("2", State.INITIALIZING, call_id="c2"),
        make_task("3", State.RUNNING, call_id="c3"),
        make_task("4", State.CANCELING, call_id="c4"),
        make_task("5", State.COMPLETE, call_id="c5"),
        make_task("6", State.EXECUTOR_ERROR, call_id="c6"),
        make_task("7", State.SYSTEM_ERROR, call_id="c7"),
        make_task("8", State.CANCELED, call_id="c8"),
        make_task("9", State.PREEMPTED, call_id="c9"),
        # no call id: counted by task id
        make_task("10", State.COMPLETE),
        make_task("11", State.COMPLETE),
    ]
    result = progress(tasks)
    assert result == Progress(queued=2, running=2, done=3, failed=4)
    assert result.describe() == "tasks: 2 queued, 2 running, 3 done, 4 failed"


def test_progress_empty() -> None:
    assert progress([]) == Progress()
