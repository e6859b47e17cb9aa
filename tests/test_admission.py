"""Admission of runs to their run groups (``chalicelib.admission``): the pure decisions, the
adapter over every store (concurrent admitters on SQLite and DynamoDB on moto never over-admit),
and property tests over interleavings of submissions, ends, cancels and duplicate events."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib import admission
from chalicelib.admission import (
    Admission,
    GroupBusy,
    QueueFull,
    UnknownGroup,
    admit,
    admit_submitted,
    cancel_queued,
    create_or_update_group,
    decide,
    delete_group,
    enqueue,
    ordered,
    past_deadline,
    reconcile_groups,
    release,
    run_ended,
    waiting_reason,
)
from chalicelib.groups import (
    MAX_QUEUED_RUNS,
    GroupError,
    GroupRecord,
    Limits,
    QueueEntry,
    check_name,
    default_limits,
    parse_duration,
    parse_limits,
    run_group,
)
from chalicelib.launcher import LaunchError, TaskSpec
from chalicelib.memory_store import MemoryStore
from chalicelib.notifications import Notification
from chalicelib.records import RunRecord, utc_now
from chalicelib.states import State
from chalicelib.status import ControlPlane, change_run
from chalicelib.transitions import report_outcome

# pure decisions


def group(max_runs: int | None = 2, **kw: Any) -> GroupRecord:
    return GroupRecord("lab-a", Limits(max_runs=max_runs), **kw)


def test_admits_in_order_while_there_is_room() -> None:
    g = group(2)
    for run_id in ("a", "b", "c"):
        g = enqueue(g, run_id)
    g, admitted = admit(g)
    assert admitted == ("a", "b")
    assert g.admitted == ("a", "b") and [e.run_id for e in g.queue] == ["c"]
    assert admit(g) == (g, ())


def test_priority_first_then_first_come() -> None:
    g = group(0)
    for run_id, priority in (("a", 0), ("b", 5), ("c", 0), ("d", 5), ("e", -1)):
        g = enqueue(g, run_id, priority)
    assert [e.run_id for e in ordered(g.queue)] == ["b", "d", "a", "c", "e"]
    g = dataclasses.replace(g, limits=Limits(max_runs=3))
    assert admit(g)[1] == ("b", "d", "a")


def test_no_limit_admits_everything() -> None:
    g = enqueue(enqueue(group(None), "a"), "b")
    assert admit(g)[1] == ("a", "b")


def test_enqueue_twice_or_when_admitted_changes_nothing() -> None:
    g = enqueue(group(1), "a")
    assert enqueue(g, "a") == g
    g, _ = admit(g)
    assert enqueue(g, "a") == g


def test_queue_is_capped() -> None:
    g = dataclasses.replace(
        group(0), queue=tuple(QueueEntry(f"r{i}", 0, i) for i in range(MAX_QUEUED_RUNS))
    )
    with pytest.raises(QueueFull):
        enqueue(g, "one-more")
    busy = dataclasses.replace(group(None), admitted=tuple(f"a{i}" for i in range(5000)))
    with pytest.raises(QueueFull, match="5000 runs admitted and waiting"):
        enqueue(busy, "one-more")


def test_release_frees_room_for_the_next() -> None:
    g, _ = admit(enqueue(enqueue(group(1), "a"), "b"))
    new, admitted = decide(g, lambda x: release(x, ["a"]))
    assert new is not None and admitted == ("b",) and new.admitted == ("b",)


def test_a_duplicate_release_decides_nothing() -> None:
    g, _ = admit(enqueue(group(1), "a"))
    g, _ = admit(release(g, ["a"]))
    assert decide(g, lambda x: release(x, ["a"])) == (None, ())


def test_raising_the_limit_admits_more() -> None:
    g, _ = admit(enqueue(enqueue(enqueue(group(1), "a"), "b"), "c"))
    new, admitted = decide(g, lambda x: dataclasses.replace(x, limits=Limits(max_runs=3)))
    assert admitted == ("b", "c") and new is not None and new.queue == ()


def test_waiting_reason_names_the_group_and_its_count() -> None:
    g = group(10)
    for i in range(12):
        g = enqueue(g, f"r{i}")
    g, _ = admit(g)
    assert waiting_reason(g, "r10") == "waiting: group lab-a has 10 of 10 runs"
    assert waiting_reason(g, "r11") == "waiting: group lab-a has 10 of 10 runs, 1 waiting ahead"
    assert waiting_reason(g, "r0") is None


def test_past_deadline() -> None:
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    base = RunRecord("r", State.RUNNING, "t", "t", "w", "k", "k")
    late = dataclasses.replace(base, run_id="late", deadline="2026-01-01T11:59:59.000Z")
    early = dataclasses.replace(base, run_id="early", deadline="2026-01-01T12:00:01.000Z")
    done = dataclasses.replace(late, run_id="done", state=State.COMPLETE)
    assert [r.run_id for r in past_deadline([late, early, done, base], now)] == ["late"]


# group definitions


def test_parse_limits_and_durations() -> None:
    limits = parse_limits({"max_runs": 10, "max_vcpus": "500", "max_duration": "12h"})
    assert limits == Limits(max_runs=10, max_vcpus=500.0, max_duration_seconds=43200.0)
    assert parse_limits({"max_runs": None}, limits).max_runs is None
    assert parse_limits({}, limits) == limits
    assert parse_duration(90) == 90.0 and parse_duration("90m") == 5400.0
    assert parse_duration("2d") == 172800.0 and parse_duration(None) is None


@pytest.mark.parametrize(
    "body",
    [
        {"max_runs": -1},
        {"max_runs": 1.5},
        {"max_runs": True},
        {"max_runs": "ten"},
        {"max_vcpus": "nan"},
        {"max_vcpus": "inf"},
        {"max_vcpus": [1]},
        {"max_duration": "12 hours"},
        {"max_duration": 0},
        {"max_duration": "-5m"},
        {"max_duration": True},
        {"max_cpus": 4},
    ],
)
def test_hostile_limits_are_refused(body: dict[str, Any]) -> None:
    with pytest.raises(GroupError):
        parse_limits(body)


@pytest.mark.parametrize("name", ["-lead", "a" * 64, "lab a", "lab/a", "ünï", "a\nb"])
def test_hostile_group_names_are_refused(name: str) -> None:
    with pytest.raises(GroupError, match="group name"):
        run_group({}, {"group": name})
    with pytest.raises(GroupError):
        check_name(3)


@pytest.mark.parametrize("priority", ["high", "1001", "-1001", "1.5", "1e3"])
def test_hostile_priorities_are_refused(priority: str) -> None:
    with pytest.raises(GroupError, match="priority"):
        run_group({}, {"priority": priority})


def test_group_and_priority_from_parameters_then_tags() -> None:
    assert run_group({}, {}) == ("default", 0)
    assert run_group({"group": "lab-b", "priority": "3"}, {}) == ("lab-b", 3)
    assert run_group({"group": "lab-b"}, {"group": "lab-a", "priority": "-2"}) == ("lab-a", -2)


def test_default_limits_from_configuration() -> None:
    env = {
        "MINIWDL_FARGATE_DEFAULT_GROUP_MAX_RUNS": "4",
        "MINIWDL_FARGATE_DEFAULT_GROUP_MAX_DURATION": "1d",
    }
    assert default_limits(env) == Limits(max_runs=4, max_duration_seconds=86400.0)
    assert default_limits({}) == Limits()
    with pytest.raises(GroupError, match="MINIWDL_FARGATE_DEFAULT_GROUP_"):
        default_limits({"MINIWDL_FARGATE_DEFAULT_GROUP_MAX_RUNS": "many"})


# the adapter


class Notes:
    def publish(self, notifications: Sequence[Notification]) -> None:
        pass


class Launcher:
    """Records orchestrator launches; checks at every launch that the runs in flight (launched
    and not ended) never exceed ``limit``."""

    def __init__(self, limit: int | None = None, fail: Sequence[str] = ()) -> None:
        self.limit = limit
        self.fail = set(fail)
        self.launched: list[str] = []
        self.ended: set[str] = set()
        self.peak = 0
        self.calls = 0
        self.lock = threading.Lock()

    def run_task(self, spec: TaskSpec) -> str:
        if spec.run_id in self.fail:
            raise LaunchError("no capacity for this one")
        with self.lock:
            self.calls += 1
            if spec.run_id in self.launched:  # the same client token: ECS starts nothing new
                assert spec.client_token == spec.run_id
                return f"arn:aws:ecs:us-east-1:1:task/c/{spec.run_id}"
            self.launched.append(spec.run_id)
            in_flight = len(set(self.launched) - self.ended)
            self.peak = max(self.peak, in_flight)
            if self.limit is not None:
                assert in_flight <= self.limit, f"{in_flight} runs in flight over {self.limit}"
        return f"arn:aws:ecs:us-east-1:1:task/c/{spec.run_id}"

    def stop_task(self, task_arn: str, reason: str) -> None:
        pass


def orchestrator(run_id: str) -> TaskSpec:
    return TaskSpec(run_id=run_id, role="orchestrator", command=["run"], client_token=run_id)


def plane_for(store: Any, launcher: Launcher, defaults: Limits | None = None) -> ControlPlane:
    return ControlPlane(
        store=store,
        notifier=Notes(),
        launcher=launcher,
        admission=Admission(orchestrator, defaults or Limits()),
    )


def submit(plane: ControlPlane, run_id: str, group: str = "lab-a", priority: int = 0) -> RunRecord:
    now = utc_now()
    run = RunRecord(run_id, State.QUEUED, now, now, "w", "k", "k", group=group, priority=priority)
    plane.store.create_run(run)
    return admit_submitted(plane, run)


def end(plane: ControlPlane, run_id: str) -> None:
    """The run's orchestrator reports and stops; its STOPPED event reaches the handler."""
    launcher = plane.launcher
    assert isinstance(launcher, Launcher)
    change_run(plane, run_id, lambda r: report_outcome(r, State.COMPLETE, utc_now()))
    with launcher.lock:
        launcher.ended.add(run_id)
    run_ended(plane, run_id)


def make_group(plane: ControlPlane, max_runs: int | None, **limits: Any) -> None:
    create_or_update_group(plane, "lab-a", Limits(max_runs=max_runs, **limits), "", create=True)


def test_runs_over_the_limit_wait_with_a_reason_and_start_as_others_end() -> None:
    plane = plane_for(MemoryStore(), Launcher(limit=2))
    make_group(plane, 2)
    runs = [submit(plane, f"r{i}") for i in range(4)]
    assert [r.admitted_at is not None for r in runs] == [True, True, False, False]
    assert runs[2].state == State.QUEUED
    assert runs[2].waiting == "waiting: group lab-a has 2 of 2 runs"
    assert runs[3].waiting == "waiting: group lab-a has 2 of 2 runs, 1 waiting ahead"
    end(plane, "r0")
    assert plane.launcher.launched == ["r0", "r1", "r2"]  # type: ignore[attr-defined]
    started = plane.store.get_run("r2")
    assert started.waiting is None and started.admitted_at
    end(plane, "r0")  # a duplicate STOPPED event admits nothing more
    assert plane.launcher.launched == ["r0", "r1", "r2"]  # type: ignore[attr-defined]


def test_cancelling_a_queued_run_launches_nothing_and_frees_its_place() -> None:
    plane = plane_for(MemoryStore(), Launcher(limit=1))
    make_group(plane, 1)
    submit(plane, "r0")
    submit(plane, "r1")
    submit(plane, "r2")
    canceled = cancel_queued(plane, "r1")
    assert canceled is not None and canceled.state == State.CANCELED
    assert canceled.error == {"message": "canceled while it waited for admission"}
    assert cancel_queued(plane, "r1") is None
    assert cancel_queued(plane, "r0") is None  # admitted: canceled the usual way
    end(plane, "r0")
    assert plane.launcher.launched == ["r0", "r2"]  # type: ignore[attr-defined]


def test_a_run_canceled_between_admission_and_launch_is_not_launched() -> None:
    plane = plane_for(MemoryStore(), Launcher(limit=1))
    make_group(plane, 1)
    submit(plane, "r0")
    submit(plane, "r1")
    # r1 is canceled the usual way (CANCELING) just as r0's end admits it
    from chalicelib.transitions import request_cancel

    change_run(plane, "r1", lambda r: request_cancel(r, utc_now()))
    submit(plane, "r2")
    end(plane, "r0")
    assert plane.launcher.launched == ["r0", "r2"]  # type: ignore[attr-defined]
    assert plane.store.get_run("r1").state == State.CANCELED


def test_a_launch_failure_fails_the_run_and_admits_the_next() -> None:
    plane = plane_for(MemoryStore(), Launcher(limit=1, fail=["r1"]))
    make_group(plane, 1)
    submit(plane, "r0")
    submit(plane, "r1")
    submit(plane, "r2")
    end(plane, "r0")
    assert plane.store.get_run("r1").state == State.SYSTEM_ERROR
    assert plane.launcher.launched == ["r0", "r2"]  # type: ignore[attr-defined]
    assert plane.store.get_group("lab-a").admitted == ("r2",)


def test_updating_a_group_admits_what_now_fits() -> None:
    plane = plane_for(MemoryStore(), Launcher())
    make_group(plane, 0)
    for i in range(3):
        submit(plane, f"r{i}")
    assert plane.launcher.launched == []  # type: ignore[attr-defined]
    create_or_update_group(plane, "lab-a", Limits(max_runs=2), "more", create=False)
    assert plane.launcher.launched == ["r0", "r1"]  # type: ignore[attr-defined]


def test_default_group_limits_come_from_configuration() -> None:
    plane = plane_for(MemoryStore(), Launcher(limit=1), defaults=Limits(max_runs=1))
    submit(plane, "r0", group="default")
    waiting = submit(plane, "r1", group="default")
    assert waiting.waiting == "waiting: group default has 1 of 1 runs"
    with pytest.raises(GroupError):
        create_or_update_group(plane, "default", Limits(max_runs=9), "", create=False)
    with pytest.raises(GroupError):
        delete_group(plane, "default")


def test_unknown_group_and_busy_group() -> None:
    plane = plane_for(MemoryStore(), Launcher())
    with pytest.raises(UnknownGroup):
        submit(plane, "lost", group="nope")
    assert plane.store.get_run("lost").state == State.CANCELED
    make_group(plane, 1)
    with pytest.raises(GroupError, match="exists"):
        make_group(plane, 1)
    submit(plane, "r0")
    with pytest.raises(GroupBusy):
        delete_group(plane, "lab-a")
    end(plane, "r0")
    delete_group(plane, "lab-a")
    with pytest.raises(UnknownGroup):
        delete_group(plane, "lab-a")


def test_reconcile_repairs_a_lost_stop_a_stranded_run_and_an_unlaunched_admission() -> None:
    store = MemoryStore()
    plane = plane_for(store, Launcher(limit=2))
    make_group(plane, 2)
    submit(plane, "r0")
    submit(plane, "r1")
    for run_id in ("r0", "r1"):  # their orchestrators' first events named them
        change_run(plane, run_id, lambda r: dataclasses.replace(r, orchestrator_arn="arn:o"))
    # r0 ended but its orchestrator's STOPPED event was lost
    change_run(plane, "r0", lambda r: report_outcome(r, State.COMPLETE, utc_now()))
    plane.launcher.ended.add("r0")  # type: ignore[attr-defined]
    # r2 was recorded, then its submitter died before queueing it
    now = utc_now()
    store.create_run(RunRecord("r2", State.QUEUED, now, now, "w", "k", "k", group="lab-a"))
    later = datetime.now(UTC) + timedelta(minutes=10)
    in_flight = [r for r in (store.get_run(i) for i in ("r1", "r2")) if r is not None]
    done = reconcile_groups(plane, in_flight, later, timedelta(minutes=5))
    assert "released r0" in done and "queued r2" in done
    assert plane.launcher.launched == ["r0", "r1", "r2"]  # type: ignore[attr-defined]
    assert plane.launcher.calls == 3  # type: ignore[attr-defined]
    assert reconcile_groups(plane, [], later, timedelta(minutes=5)) == []
    # r2 was admitted, but no event ever named its orchestrator: launched again, same token
    in_flight = [store.get_run("r2")]
    assert reconcile_groups(plane, in_flight, later, timedelta(minutes=5)) == ["relaunched r2"]
    assert plane.launcher.calls == 4  # type: ignore[attr-defined]
    assert plane.launcher.launched == ["r0", "r1", "r2"]  # type: ignore[attr-defined]


def test_reconcile_cancels_a_run_past_its_max_duration() -> None:
    store = MemoryStore()
    launcher = Launcher()
    stopped: list[str] = []
    launcher.stop_task = lambda arn, reason: stopped.append(reason)  # type: ignore[method-assign]
    plane = plane_for(store, launcher)
    make_group(plane, None, max_duration_seconds=3600.0)
    run = submit(plane, "r0")
    change_run(
        plane, "r0", lambda r: dataclasses.replace(r, orchestrator_arn="arn:o", state=State.RUNNING)
    )
    assert run.deadline is not None
    later = datetime.now(UTC) + timedelta(hours=2)
    done = reconcile_groups(plane, [store.get_run("r0")], later, timedelta(minutes=5))
    assert done == [f"canceled r0 (past its deadline {run.deadline})"]
    canceled = store.get_run("r0")
    assert canceled.state == State.CANCELING
    assert "max_duration" in canceled.error["message"] and stopped


# concurrent admitters: every store adapter (SQLite, memory, DynamoDB on moto)


def test_concurrent_admitters_never_over_admit(store) -> None:
    """Submitters and enders on six threads at once (as two Lambdas would): the runs in flight
    never exceed the group's limit, every run is launched once, and none is left waiting."""
    limit = 3
    launcher = Launcher(limit=limit)
    plane = plane_for(store, launcher)
    make_group(plane, limit)
    errors: list[BaseException] = []

    def submitter(prefix: str) -> None:
        try:
            for i in range(6):
                submit(plane, f"{prefix}{i}")
        except BaseException as exn:  # noqa: BLE001 - reported by the main thread
            errors.append(exn)

    claimed: set[str] = set()
    total = 24

    def ender() -> None:
        try:
            while len(claimed) < total and not errors:
                with launcher.lock:
                    running = [r for r in launcher.launched if r not in claimed]
                    if running:
                        claimed.add(running[0])
                if running:
                    end(plane, running[0])
                else:
                    threading.Event().wait(0.002)
        except BaseException as exn:  # noqa: BLE001
            errors.append(exn)

    threads = [threading.Thread(target=submitter, args=(f"s{n}-",)) for n in range(4)]
    threads += [threading.Thread(target=ender) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "an admitter hung"
    assert not errors, errors
    assert sorted(launcher.launched) == sorted(f"s{n}-{i}" for n in range(4) for i in range(6))
    assert launcher.peak == limit
    final = store.get_group("lab-a")
    assert final.queue == () and final.admitted == ()


# property: any interleaving


OPS = st.lists(
    st.tuples(
        st.sampled_from(["submit", "end", "dup_end", "cancel", "update"]),
        st.integers(0, 11),
        st.integers(-1, 2),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS, first_limit=st.integers(0, 3))
def test_any_interleaving_keeps_the_limit_and_strands_nothing(
    ops: list[tuple[str, int, int]], first_limit: int
) -> None:
    store = MemoryStore()
    launcher = Launcher()
    plane = plane_for(store, launcher)
    make_group(plane, first_limit)
    limit = first_limit
    submitted: list[str] = []
    for op, n, priority in ops:
        run_id = f"r{n}"
        if op == "submit" and run_id not in submitted:
            submit(plane, run_id, priority=priority)
            submitted.append(run_id)
        elif op in ("end", "dup_end") and run_id in launcher.launched:
            end(plane, run_id)
            if op == "dup_end":
                run_ended(plane, run_id)
        elif op == "cancel" and run_id in submitted:
            cancel_queued(plane, run_id)
        elif op == "update":
            limit = max(0, priority + 1)
            create_or_update_group(plane, "lab-a", Limits(max_runs=limit), "", create=False)
        g = store.get_group("lab-a")
        in_flight = set(launcher.launched) - launcher.ended
        # never over the limit (a lowered limit admits nothing until runs end below it)
        assert len(g.admitted) <= max(limit, len(in_flight))
        assert set(g.admitted) == in_flight
        # never stranded: a run waits only while the group is full
        if g.queue:
            assert len(g.admitted) >= limit
        for entry in g.queue:
            waiting = store.get_run(entry.run_id)
            assert waiting.state == State.QUEUED and waiting.waiting.startswith("waiting: group")
        # each run is in one place at most
        ids = [*g.admitted, *(e.run_id for e in g.queue)]
        assert len(ids) == len(set(ids))
    for run_id in submitted:
        run = store.get_run(run_id)
        assert run.state in (State.QUEUED, State.COMPLETE, State.CANCELED)
        assert (run_id in launcher.launched) == (run.admitted_at is not None)


def test_the_module_decides_without_io() -> None:
    """The decisions take and return records only (no store, no launcher)."""
    for fn in (enqueue, release, admit, decide, waiting_reason, ordered):
        assert "plane" not in fn.__code__.co_varnames
    assert admission.MAX_QUEUED_RUNS == MAX_QUEUED_RUNS


def test_reconcile_cancels_a_run_over_its_estimated_cost() -> None:
    store = MemoryStore()
    launcher = Launcher()
    reasons: list[str] = []
    launcher.stop_task = lambda arn, reason: reasons.append(reason)  # type: ignore[method-assign]
    plane = plane_for(store, launcher)
    make_group(plane, None, max_cost_usd=5.0)
    for run_id in ("cheap", "dear"):
        submit(plane, run_id)
        change_run(
            plane,
            run_id,
            lambda r: dataclasses.replace(r, orchestrator_arn="arn:o", state=State.RUNNING),
        )
    runs = [store.get_run("cheap"), store.get_run("dear")]
    now = datetime.now(UTC)
    done = reconcile_groups(plane, runs, now, timedelta(minutes=5), {"cheap": 4.0, "dear": 6.5})
    assert done == ["canceled dear (estimated $6.50, over $5)"]
    assert store.get_run("cheap").state == State.RUNNING
    assert store.get_run("dear").error == {
        "message": "canceled: the run's estimated cost $6.50 passed its group's max_cost_usd $5"
    }
    assert reasons == [store.get_run("dear").error["message"]]


def test_the_orchestrators_stopped_event_admits_the_next_run() -> None:
    """Through the status handler: the first run's orchestrator STOPPED event (and a
    duplicate of it) frees the group's room for exactly one waiting run."""
    from events import ecs_event

    from chalicelib import ecs_events
    from chalicelib.status import handle_ecs_event

    plane = plane_for(MemoryStore(), Launcher(limit=1))
    make_group(plane, 1)
    for run_id in ("r0", "r1", "r2"):
        submit(plane, run_id)
    arn = "arn:aws:ecs:us-east-1:1:task/c/r0"
    for version, status in ((1, "RUNNING"), (2, "STOPPED"), (2, "STOPPED")):
        event = ecs_event(arn, version, status, role=ecs_events.ROLE_ORCHESTRATOR, run_id="r0")
        if status == "STOPPED":
            plane.launcher.ended.add("r0")  # type: ignore[attr-defined]
        handle_ecs_event(event, plane)
    assert plane.store.get_run("r0").state == State.SYSTEM_ERROR  # stopped without an outcome
    assert plane.launcher.launched == ["r0", "r1"]  # type: ignore[attr-defined]
    assert plane.store.get_group("lab-a").admitted == ("r1",)


def test_admission_launches_with_its_own_launcher_when_it_has_one() -> None:
    own = Launcher()
    plane = ControlPlane(
        store=MemoryStore(),
        notifier=Notes(),
        launcher=Launcher(fail=["r0"]),
        admission=Admission(orchestrator, Limits(), launcher=own),
    )
    assert submit(plane, "r0", group="default").admitted_at
    assert own.launched == ["r0"]


class GroupCountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.group_calls = 0

    def get_group(self, name: str) -> GroupRecord | None:
        self.group_calls += 1
        return super().get_group(name)

    def put_group(self, group: GroupRecord, expected_revision: int | None) -> bool:
        self.group_calls += 1
        return super().put_group(group, expected_revision)


def test_a_run_in_an_unlimited_default_group_costs_no_group_call(tmp_path: Any) -> None:
    """The common submission (no group, no default limits) stays at its AWS calls: the run is
    launched at once, and no group record is read or written, at submission or at its end."""
    from local_mode import REPO

    from chalicelib.objects import DirectoryObjects
    from chalicelib.submit import submit as submit_request
    from chalicelib.validation import validate_request

    store = GroupCountingStore()
    plane = plane_for(store, Launcher())
    request = validate_request(str(REPO / "examples" / "hello.wdl"), [], None, task=None)
    run = submit_request(
        request,
        plane=plane,
        objects=DirectoryObjects(str(tmp_path)),
        orchestrator_spec=orchestrator,
    )
    assert store.group_calls == 0
    assert run.group == "" and plane.launcher.launched == [run.run_id]  # type: ignore[attr-defined]
    assert admission.run_ended(plane, run.run_id) == ()
    assert store.group_calls == 0

    limited = plane_for(GroupCountingStore(), Launcher(), Limits(max_runs=1))
    queued = submit_request(
        request,
        plane=limited,
        objects=DirectoryObjects(str(tmp_path)),
        orchestrator_spec=orchestrator,
    )
    assert queued.group == "default" and limited.store.group_calls > 0  # type: ignore[attr-defined]
