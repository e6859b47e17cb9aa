"""Property: any interleaving and duplication of a whole run's ECS events, delivered through the
status handler (``handle_ecs_event``, as the Lambda does), yields the same final records and
announces each state change once."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from events import ecs_event
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib import ecs_events
from chalicelib.launcher import TaskSpec
from chalicelib.memory_store import MemoryStore
from chalicelib.notifications import Notification
from chalicelib.records import RunRecord
from chalicelib.states import State
from chalicelib.status import ControlPlane, handle_ecs_event

RUN = "run1"
T0 = "2024-05-01T12:00:00.000Z"


def _stamp(seconds: int) -> str:
    return f"2024-05-01T12:{seconds // 60:02d}:{seconds % 60:02d}.000Z"


class Notes:
    def __init__(self) -> None:
        self.sent: list[Notification] = []

    def publish(self, notifications: Sequence[Notification]) -> None:
        self.sent.extend(notifications)


class NoLauncher:
    def __init__(self) -> None:
        self.stopped: list[str] = []

    def run_task(self, spec: TaskSpec) -> str:
        raise AssertionError("the handler never launches")

    def stop_task(self, task_arn: str, reason: str) -> None:
        self.stopped.append(task_arn)


def task_events(task: int, exit_code: int) -> list[dict[str, Any]]:
    arn = f"arn:aws:ecs:us-east-1:123456789012:task/wdl/t{task}"
    created = {"createdAt": _stamp(task)}  # ECS sends it in every event
    started = {**created, "startedAt": _stamp(10 + task)}
    ended = {**started, "stoppedAt": _stamp(100 + task)}
    return [
        ecs_event(arn, 1, "PROVISIONING", call_id=f"call-{task}", timestamps=created),
        ecs_event(arn, 2, "PENDING", call_id=f"call-{task}", timestamps=created),
        ecs_event(arn, 3, "RUNNING", call_id=f"call-{task}", timestamps=started),
        ecs_event(
            arn,
            4,
            "STOPPED",
            call_id=f"call-{task}",
            exit_code=exit_code,
            stop_code="EssentialContainerExited",
            timestamps=ended,
        ),
    ]


def orchestrator_events() -> list[dict[str, Any]]:
    arn = "arn:aws:ecs:us-east-1:123456789012:task/wdl/orch"
    kw: dict[str, Any] = {"role": ecs_events.ROLE_ORCHESTRATOR, "run_id": RUN}
    return [
        ecs_event(arn, 1, "PROVISIONING", **kw),
        ecs_event(arn, 2, "RUNNING", timestamps={"startedAt": _stamp(5)}, **kw),
        ecs_event(
            arn,
            3,
            "STOPPED",
            exit_code=1,
            stop_code="EssentialContainerExited",
            timestamps={"startedAt": _stamp(5), "stoppedAt": _stamp(200)},
            **kw,
        ),
    ]


@st.composite
def run_deliveries(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the events in order, the same events shuffled with some delivered again)."""
    tasks = draw(st.integers(min_value=1, max_value=4))
    codes = draw(st.lists(st.sampled_from([0, 1]), min_size=tasks, max_size=tasks))
    in_order = [e for i in range(tasks) for e in task_events(i, codes[i])]
    in_order += orchestrator_events()
    repeats = draw(st.lists(st.sampled_from(in_order), max_size=len(in_order)))
    delivered = draw(st.permutations(in_order + repeats))
    return in_order, list(delivered)


def deliver(events: list[dict[str, Any]]) -> tuple[MemoryStore, Notes, NoLauncher]:
    store = MemoryStore()
    store.create_run(
        RunRecord(
            run_id=RUN,
            state=State.QUEUED,
            created_at=T0,
            updated_at=T0,
            workflow_name="w",
            workflow_key="k",
            inputs_key="k",
        )
    )
    notes, launcher = Notes(), NoLauncher()
    plane = ControlPlane(store=store, notifier=notes, launcher=launcher)
    for event in events:
        handle_ecs_event(event, plane)
    return store, notes, launcher


def final(record: Any) -> dict[str, Any]:
    fields = dataclasses.asdict(record)
    for volatile in ("updated_at", "revision"):
        fields.pop(volatile)
    return fields


@settings(max_examples=150, deadline=None)
@given(run_deliveries())
def test_any_interleaving_and_duplication_of_a_runs_events_gives_the_same_records(
    scenario: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    in_order, delivered = scenario
    expected_store, expected_notes, _ = deliver(in_order)
    store, notes, _ = deliver(delivered)

    expected_run, run = expected_store.get_run(RUN), store.get_run(RUN)
    assert expected_run is not None and run is not None
    # An orchestrator stopping without an outcome: SYSTEM_ERROR, whatever the order.
    assert run.state == State.SYSTEM_ERROR
    if run.cost != expected_run.cost:
        # the run's cost sums the tasks stopped when the orchestrator's STOPPED arrived
        assert run.cost is not None and expected_run.cost is not None
        run = dataclasses.replace(run, cost=expected_run.cost)
    assert final(run) == final(expected_run)
    expected_tasks = {t.task_id: final(t) for t in expected_store.list_tasks(RUN)}
    tasks = {t.task_id: final(t) for t in store.list_tasks(RUN)}
    assert tasks.keys() == expected_tasks.keys()
    for task_id, fields in tasks.items():
        expected = expected_tasks[task_id]
        differing = {k: (v, expected[k]) for k, v in fields.items() if v != expected[k]}
        assert not differing, (task_id, differing)

    def states(sent: list[Notification]) -> list[tuple[str, str]]:
        return sorted((str(n.detail.get("task_id", "run")), str(n.detail["state"])) for n in sent)

    # Each record announces each state it reached at most once, and only states the in-order
    # delivery reaches too (out of order, some intermediate ones are skipped).
    assert len(states(notes.sent)) == len(set(states(notes.sent)))
    assert set(states(notes.sent)) <= set(states(expected_notes.sent))
    # Every task and the run end announced in their final state.
    finals = {(t, s) for t, s in states(notes.sent)}
    assert ("run", "SYSTEM_ERROR") in finals
    for task in store.list_tasks(RUN):
        assert (task.task_id, task.state.value) in finals
