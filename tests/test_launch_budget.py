"""The shared launch budget (``chalicelib.launch_budget``): vCPU/GPU leases of the group and the
account, the shared RunTask rate, give-back on STOPPED, the sweep's repair; property tests over
interleavings, and concurrent takers on every store adapter."""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from events import ecs_event
from hypothesis import given, settings
from hypothesis import strategies as st
from quiet_plane import quiet_plane

from chalicelib.groups import Limits
from chalicelib.launch_budget import (
    ENV_LEASE,
    AccountLimits,
    BudgetError,
    BudgetRecord,
    Grant,
    Held,
    Lease,
    SharedLaunchBudget,
    give_back,
    lease_of,
    reclaim,
    take,
)
from chalicelib.memory_store import MemoryStore
from chalicelib.records import RunRecord
from chalicelib.states import State
from chalicelib.status import handle_ecs_event
from chalicelib.sweep import sweep

NOW = 1_800_000_000.0
FAST = AccountLimits(rate_per_s=1000.0, burst=1000.0)


def grant(budget: BudgetRecord, vcpus: float = 1.0, group: str = "lab-a", **kw: Any) -> Grant:
    limits = kw.pop("limits", Limits(max_vcpus=2))
    account = kw.pop("account", FAST)
    return take(budget, group, vcpus, kw.pop("gpus", 0), limits, account, kw.pop("now", NOW))


def counters(result: Grant) -> BudgetRecord:
    assert result.granted and result.budget is not None
    return result.budget


def test_take_holds_a_lease_until_the_group_is_full() -> None:
    budget = BudgetRecord(stamp=NOW)
    first = grant(budget)
    assert first.lease == Lease("lab-a", 1.0, 0, NOW + 3600.0)
    assert counters(first).groups == {"lab-a": Held(1.0, 0, 1.0, 1)}
    second = grant(counters(first))
    third = grant(counters(second))
    assert not third.granted and third.budget is None and third.lease is None
    assert third.reason == "waiting: group lab-a has 2 of 2 vCPUs in flight"
    other = grant(counters(second), group="lab-b")  # another group's room is its own
    assert other.granted
    assert counters(other).leases == 3 and counters(other).in_flight() == (3.0, 0)


def test_the_account_limit_is_above_every_group() -> None:
    account = dataclasses.replace(FAST, max_vcpus=3.0, max_gpus=1)
    budget = BudgetRecord(stamp=NOW)
    for group in ("a", "b", "c"):
        budget = counters(grant(budget, group=group, account=account))
    refused = grant(budget, group="d", account=account)
    assert refused.reason == "waiting: the account has 3 of 3 vCPUs in flight"
    gpu = grant(BudgetRecord(stamp=NOW), 0.25, gpus=1, account=account)
    refused = grant(counters(gpu), 0.25, gpus=1, account=account)
    assert refused.reason == "waiting: the account has 1 of 1 GPUs in flight"


def test_tasks_on_ec2_capacity_count_in_their_group_not_in_the_accounts_fargate_vcpus() -> None:
    """The account's vCPU limit is its Fargate quota: a 64-vCPU task on EC2 capacity neither
    exceeds it nor fills it; its group still counts it."""
    account = dataclasses.replace(FAST, max_vcpus=4.0)
    wide = Limits(max_vcpus=100)

    def on_ec2(budget: BudgetRecord, vcpus: float) -> Grant:
        return take(budget, "lab-a", vcpus, 0, wide, account, NOW, fargate=False)

    big = on_ec2(BudgetRecord(stamp=NOW), 64.0)
    assert big.lease is not None and big.lease.fargate is False
    small = grant(counters(big), 4.0, limits=wide, account=account)
    assert small.granted  # the account's 4 Fargate vCPUs are free
    refused = grant(counters(small), 1.0, limits=wide, account=account)
    assert refused.reason == "waiting: the account has 4 of 4 vCPUs in flight"
    full = on_ec2(counters(small), 40.0)
    assert full.reason == "waiting: group lab-a has 68 of 100 vCPUs in flight"
    assert counters(small).groups["lab-a"] == Held(68.0, 0, 4.0, 2)
    freed = give_back(counters(small), big.lease)
    assert freed.groups["lab-a"] == Held(4.0, 0, 4.0, 1)  # the Fargate vCPUs stay counted
    assert BudgetRecord.from_item(counters(small).to_item()) == counters(small)
    assert Lease.from_item(big.lease.to_item()) == big.lease


def test_a_record_of_the_one_record_shape_reads_as_empty_counters() -> None:
    old = {"name": "account", "leases": {"x": ["g", 1.0, 0, NOW + 1]}, "tokens": 1.0, "revision": 7}
    record = BudgetRecord.from_item(old)
    assert record.groups == {} and record.leases == 0
    assert record.tokens == 1.0 and record.revision == 7


def test_a_task_bigger_than_a_limit_fails_at_once() -> None:
    with pytest.raises(BudgetError, match="group lab-a's 2"):
        grant(BudgetRecord(), 4.0)
    with pytest.raises(BudgetError, match="the account's 0"):
        grant(BudgetRecord(), 1.0, gpus=1, account=dataclasses.replace(FAST, max_gpus=0))


def test_the_shared_rate_makes_takers_wait() -> None:
    account = AccountLimits(rate_per_s=20.0, burst=2.0)
    budget = BudgetRecord(tokens=2.0, stamp=NOW)
    limits = Limits()
    for _ in range(2):
        budget = counters(take(budget, "g", 0.25, 0, limits, account, NOW))
    waiting = take(budget, "g", 0.25, 0, limits, account, NOW)
    assert not waiting.granted and waiting.reason == "launch rate"
    assert waiting.wait == pytest.approx(1 / 20)
    later = take(budget, "g", 0.25, 0, limits, account, NOW + 0.051)
    assert later.granted
    # a clock behind the last writer's never mints tokens
    behind = take(budget, "g", 0.25, 0, limits, account, NOW - 10)
    assert not behind.granted


def test_give_back_empties_the_counters_exactly() -> None:
    """Counters stay exact over any number of takes and give-backs of ECS-sized tasks, and a
    group with no lease left is dropped from the record."""
    budget = BudgetRecord(stamp=NOW)
    leases = []
    for n, cpu in enumerate((256, 384, 512, 1024, 768) * 20):
        result = take(budget, "g", cpu / 1024, 1, Limits(), FAST, NOW + n)
        assert result.lease is not None
        budget = counters(result)
        leases.append(result.lease)
    assert budget.in_flight() == (sum((256, 384, 512, 1024, 768)) * 20 / 1024, 100)
    for lease in leases:
        budget = give_back(budget, lease)
    assert budget.groups == {} and budget.in_flight() == (0, 0)


def test_reclaim_gives_back_the_ended_and_the_expired_nobody_holds() -> None:
    leases = {
        "running": Lease("g", 1.0, 0, NOW - 10),  # old, but its task is in flight: kept
        "ended": Lease("g", 1.0, 0, NOW + 10),
        "unknown": Lease("g", 1.0, 0, NOW + 10),  # not expired yet (its RunTask may be going)
        "expired": Lease("g", 1.0, 0, NOW - 10),
    }
    assert reclaim(leases, {"running"}, {"ended"}, NOW) == ["ended", "expired"]
    assert reclaim(leases, {"running", "unknown", "ended"}, set(), NOW) == ["expired"]


def test_lease_of_an_event() -> None:
    event = ecs_event("arn:aws:ecs:us-east-1:1:task/c/t1", 3, "STOPPED")
    assert lease_of(event) is None
    env = event["detail"]["overrides"]["containerOverrides"][0]["environment"]
    env.append({"name": ENV_LEASE, "value": "k1"})
    assert lease_of(event) == "k1"
    assert (
        lease_of({"detail": {"overrides": {"containerOverrides": [{"environment": [1]}]}}}) is None
    )
    assert lease_of({}) is None


# property: any interleaving of takes, stops, duplicate and lost events, and sweeps


ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(["take", "stop", "dup_stop", "lose", "orphan", "sweep", "tick"]),
        st.integers(0, 7),
        st.sampled_from(["a", "b"]),
        st.sampled_from([0.25, 1.0, 2.0]),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(actions=ACTIONS)
def test_no_interleaving_exceeds_a_limit_or_strands_a_task(actions: list[Any]) -> None:
    """Whatever the order of takes, stops, duplicate and lost STOPPED events, orphaned leases
    (an orchestrator that died between its take and its RunTask) and sweeps: what really runs
    never exceeds a limit; a take is refused only for the rate or a limit truly reached; the
    counters always equal the sum of the stored leases; a running task never loses its lease
    however long it runs; and a sweep leaves no lease of a task that ended, nor an expired one
    of no task."""
    account = AccountLimits(max_vcpus=3.0, rate_per_s=2.0, burst=2.0, lease_seconds=100.0)
    limits = {"a": Limits(max_vcpus=2.0), "b": Limits(max_vcpus=2.0)}
    budget = BudgetRecord(stamp=NOW)
    leases: dict[str, Lease] = {}  # the store's lease items
    now = NOW
    running: dict[str, tuple[str, float]] = {}  # what really runs: key -> (group, vcpus)
    lost: set[str] = set()  # ended, but their STOPPED event was lost
    orphans: set[str] = set()  # leases taken for a task that never launched

    def release(key: str) -> None:
        nonlocal budget
        budget = give_back(budget, leases.pop(key))

    for action, n, group, vcpus in actions:
        key = f"t{n}"
        known = key in running or key in lost or key in orphans
        if action in ("take", "orphan") and not known:
            result = take(budget, group, vcpus, 0, limits[group], account, now)
            if result.granted:
                assert result.budget is not None and result.lease is not None
                budget, leases[key] = result.budget, result.lease
                if action == "take":
                    running[key] = (group, vcpus)
                else:
                    orphans.add(key)
            elif result.reason != "launch rate":
                held_v, _ = budget.in_flight()
                group_v, _ = budget.in_flight(group)
                assert held_v + vcpus > 3.0 or group_v + vcpus > 2.0
        elif action in ("stop", "dup_stop") and key in running:
            running.pop(key)
            release(key)
            if action == "dup_stop":
                assert key not in leases  # the handler finds nothing to give back
        elif action == "lose" and key in running:
            running.pop(key)
            lost.add(key)
        elif action == "sweep":
            for gone in reclaim(leases, set(running), lost, now):
                release(gone)
            lost.clear()
            orphans &= set(leases)
            assert not {k for k, v in leases.items() if v.expires <= now} - set(running)
        elif action == "tick":
            now += 50.0
        for g in ("a", "b"):
            assert sum(v for gg, v in running.values() if gg == g) <= 2.0
        assert sum(v for _g, v in running.values()) <= 3.0
        assert set(running) <= set(leases), "a running task lost its lease"
        assert budget.leases == len(leases)
        assert budget.in_flight() == (sum(v.vcpus for v in leases.values()), 0)


# the adapter


def test_concurrent_takers_never_exceed_the_limit(store) -> None:
    """Six threads (as several orchestrators would) take, hold briefly and give back through
    one store: the vCPUs held at once never exceed the group's or the account's limit."""
    budget = SharedLaunchBudget(store, dataclasses.replace(FAST, max_vcpus=3.0))
    limits = Limits(max_vcpus=2.0)
    holding: dict[str, float] = {}
    lock = threading.Lock()
    peaks = {"a": 0.0, "all": 0.0}
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(4):
                key, group = f"w{n}-{i}", "a" if n % 2 else "b"
                assert budget.acquire(key, group, 1.0, 0, limits)
                with lock:
                    holding[key] = 1.0 if group == "a" else 1.0001
                    a = sum(v for v in holding.values() if v == 1.0)
                    peaks["a"] = max(peaks["a"], a)
                    peaks["all"] = max(peaks["all"], sum(holding.values()))
                time.sleep(0.005)
                with lock:
                    del holding[key]
                assert budget.release(key)
        except BaseException as exn:  # noqa: BLE001 - reported by the main thread
            errors.append(exn)

    budget.sleep = lambda seconds: time.sleep(min(seconds, 0.005))
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert peaks["a"] <= 2.0 and peaks["all"] <= 3.0 + 1e-3
    assert store.list_leases("account") == {}
    assert store.get_budget("account").groups == {}


def test_acquire_waits_with_a_reason_and_can_be_stopped() -> None:
    budget = SharedLaunchBudget(MemoryStore(), FAST)
    assert budget.acquire("t1", "a", 2.0, 0, Limits(max_vcpus=2.0))
    said: list[str] = []
    slept: list[float] = []
    budget.sleep = slept.append
    stop = iter([False, False, True])
    assert not budget.acquire(
        "t2", "a", 1.0, 0, Limits(max_vcpus=2.0), stop=lambda: next(stop), on_wait=said.append
    )
    assert said == ["waiting: group a has 2 of 2 vCPUs in flight"] and len(slept) == 2


def test_stopped_event_gives_the_lease_back_once_and_the_sweep_repairs_a_lost_one() -> None:
    store = MemoryStore()
    budget = SharedLaunchBudget(store, FAST)
    plane = quiet_plane(store, budget=budget)
    stamp = "2026-01-01T00:00:00.000Z"
    store.create_run(RunRecord("run1", State.RUNNING, stamp, stamp, "w", "k", "k"))

    def event(task: str, version: int, status: str, lease: str) -> dict[str, Any]:
        raw = ecs_event(f"arn:aws:ecs:us-east-1:1:task/c/{task}", version, status, call_id=task)
        env = raw["detail"]["overrides"]["containerOverrides"][0]["environment"]
        env.append({"name": ENV_LEASE, "value": lease})
        return raw

    for key in ("k1", "k2"):
        assert budget.acquire(key, "default", 1.0)
    handle_ecs_event(event("t1", 1, "RUNNING", "k1"), plane)
    handle_ecs_event(event("t2", 1, "RUNNING", "k2"), plane)
    assert store.get_task("t1").lease == "k1"
    handle_ecs_event(event("t1", 2, "STOPPED", "k1"), plane)
    assert set(store.list_leases("account")) == {"k2"}
    assert store.get_budget("account").leases == 1
    writes = budget.writes
    handle_ecs_event(event("t1", 2, "STOPPED", "k1"), plane)  # a duplicate: no write
    assert budget.writes == writes
    # t2 ends, but its STOPPED event is lost: the record says it ended (the sweep's describe)
    store.put_task(
        dataclasses.replace(store.get_task("t2"), state=State.COMPLETE, revision=9),
        store.get_task("t2").revision,
    )
    sweep(plane, lambda arns: [], now=datetime.now(UTC))
    assert store.list_leases("account") == {}
    assert store.get_budget("account").leases == 0


def test_hold_lease_names_the_lease_in_the_spec_and_release_gives_it_back() -> None:
    from chalicelib.launch_budget import LEASE_KEY_CHARS, hold_lease, release_lease
    from chalicelib.launcher import TaskSpec

    store = MemoryStore()
    stamp = "2026-01-01T00:00:00.000Z"
    store.create_run(RunRecord("run9", State.RUNNING, stamp, stamp, "w", "k", "k"))
    budget = SharedLaunchBudget(store, FAST)
    spec = TaskSpec(run_id="run9", role="task", command=["x"], cpu=2048, client_token="c" * 64)
    held = hold_lease(budget, store, spec, lambda: False)
    assert held is not None
    key = held.environment[ENV_LEASE]
    assert key == "c" * LEASE_KEY_CHARS
    assert store.get_lease("account", key).vcpus == 2.0
    assert store.get_budget("account").in_flight() == (2.0, 0)
    release_lease(budget, held)
    assert store.list_leases("account") == {}
    assert store.get_budget("account").in_flight() == (0, 0)
    assert hold_lease(None, store, spec, lambda: False) is spec
