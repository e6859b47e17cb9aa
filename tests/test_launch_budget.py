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

from chalicelib.groups import Limits
from chalicelib.launch_budget import (
    ENV_LEASE,
    AccountLimits,
    BudgetError,
    BudgetRecord,
    Lease,
    SharedLaunchBudget,
    give_back,
    lease_of,
    renew,
    take,
)
from chalicelib.memory_store import MemoryStore
from chalicelib.records import RunRecord
from chalicelib.states import State
from chalicelib.status import ControlPlane, handle_ecs_event
from chalicelib.sweep import sweep

NOW = 1_800_000_000.0
FAST = AccountLimits(rate_per_s=1000.0, burst=1000.0)


def grant(budget: BudgetRecord, key: str, vcpus: float = 1.0, group: str = "lab-a", **kw: Any):
    limits = kw.pop("limits", Limits(max_vcpus=2))
    account = kw.pop("account", FAST)
    return take(budget, key, group, vcpus, kw.pop("gpus", 0), limits, account, kw.pop("now", NOW))


def test_take_holds_a_lease_until_the_group_is_full() -> None:
    budget = BudgetRecord(stamp=NOW)
    first = grant(budget, "t1")
    assert first.granted and first.budget is not None
    assert first.budget.leases["t1"] == Lease("lab-a", 1.0, 0, NOW + 3600.0)
    second = grant(first.budget, "t2")
    third = grant(second.budget, "t3")
    assert not third.granted and third.budget is None
    assert third.reason == "waiting: group lab-a has 2 of 2 vCPUs in flight"
    other = grant(second.budget, "t3", group="lab-b")  # another group's room is its own
    assert other.granted


def test_the_account_limit_is_above_every_group() -> None:
    account = dataclasses.replace(FAST, max_vcpus=3.0, max_gpus=1)
    budget = BudgetRecord(stamp=NOW)
    for key, group in (("t1", "a"), ("t2", "b"), ("t3", "c")):
        budget = grant(budget, key, group=group, account=account).budget
    refused = grant(budget, "t4", group="d", account=account)
    assert refused.reason == "waiting: the account has 3 of 3 vCPUs in flight"
    gpu = grant(BudgetRecord(stamp=NOW), "g1", 0.25, gpus=1, account=account)
    refused = grant(gpu.budget, "g2", 0.25, gpus=1, account=account)
    assert refused.reason == "waiting: the account has 1 of 1 GPUs in flight"


def test_tasks_on_ec2_capacity_count_in_their_group_not_in_the_accounts_fargate_vcpus() -> None:
    """The account's vCPU limit is its Fargate quota: a 64-vCPU task on EC2 capacity neither
    exceeds it nor fills it; its group still counts it."""
    account = dataclasses.replace(FAST, max_vcpus=4.0)
    wide = Limits(max_vcpus=100)

    def on_ec2(budget: BudgetRecord, key: str, vcpus: float) -> Any:
        return take(budget, key, "lab-a", vcpus, 0, wide, account, NOW, fargate=False)

    big = on_ec2(BudgetRecord(stamp=NOW), "big", 64.0)
    assert big.granted and big.budget is not None
    assert big.budget.leases["big"].fargate is False
    small = grant(big.budget, "f1", 4.0, limits=wide, account=account)
    assert small.granted and small.budget is not None  # the account's 4 Fargate vCPUs are free
    refused = grant(small.budget, "f2", 1.0, limits=wide, account=account)
    assert refused.reason == "waiting: the account has 4 of 4 vCPUs in flight"
    full = on_ec2(small.budget, "big2", 40.0)
    assert full.reason == "waiting: group lab-a has 68 of 100 vCPUs in flight"
    assert BudgetRecord.from_item(small.budget.to_item()) == small.budget
    old = {"name": "account", "leases": {"x": ["g", 1.0, 0, NOW + 1]}, "tokens": 1.0}
    assert BudgetRecord.from_item(old).leases["x"].fargate is True  # stored before this field


def test_a_task_bigger_than_a_limit_fails_at_once() -> None:
    with pytest.raises(BudgetError, match="group lab-a's 2"):
        grant(BudgetRecord(), "t1", 4.0)
    with pytest.raises(BudgetError, match="the account's 0"):
        grant(BudgetRecord(), "t1", 1.0, gpus=1, account=dataclasses.replace(FAST, max_gpus=0))


def test_a_retried_take_of_the_same_key_writes_nothing() -> None:
    held = grant(BudgetRecord(stamp=NOW), "t1").budget
    again = grant(held, "t1")
    assert again.granted and again.budget is None


def test_the_shared_rate_makes_takers_wait() -> None:
    account = AccountLimits(rate_per_s=20.0, burst=2.0)
    budget = BudgetRecord(tokens=2.0, stamp=NOW)
    limits = Limits()
    for key in ("t1", "t2"):
        budget = take(budget, key, "g", 0.25, 0, limits, account, NOW).budget
    waiting = take(budget, "t3", "g", 0.25, 0, limits, account, NOW)
    assert not waiting.granted and waiting.reason == "launch rate"
    assert waiting.wait == pytest.approx(1 / 20)
    later = take(budget, "t3", "g", 0.25, 0, limits, account, NOW + 0.051)
    assert later.granted
    # a clock behind the last writer's never mints tokens
    behind = take(budget, "t3", "g", 0.25, 0, limits, account, NOW - 10)
    assert not behind.granted


def test_give_back_and_duplicates() -> None:
    held = grant(BudgetRecord(stamp=NOW), "t1").budget
    freed = give_back(held, "t1")
    assert freed is not None and freed.leases == {}
    assert give_back(freed, "t1") is None


def test_an_expired_lease_no_longer_counts() -> None:
    budget = BudgetRecord(leases={"lost": Lease("lab-a", 2.0, 0, NOW - 1)}, stamp=NOW, tokens=10.0)
    taken = grant(budget, "t1")
    assert taken.granted and set(taken.budget.leases) == {"t1"}


def test_renew_extends_the_living_and_gives_back_the_ended() -> None:
    budget = BudgetRecord(
        leases={
            "running": Lease("g", 1.0, 0, NOW + 10),
            "ended": Lease("g", 1.0, 0, NOW + 10),
            "unknown": Lease("g", 1.0, 0, NOW + 10),
            "expired": Lease("g", 1.0, 0, NOW - 10),
        }
    )
    renewed = renew(budget, {"running"}, {"ended"}, NOW, 3600.0)
    assert renewed is not None
    assert renewed.leases == {
        "running": Lease("g", 1.0, 0, NOW + 3600.0),
        "unknown": Lease("g", 1.0, 0, NOW + 10),
    }
    assert renew(renewed, {"running"}, set(), NOW, 3600.0) is None


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
        st.sampled_from(["take", "stop", "dup_stop", "lose", "sweep", "tick"]),
        st.integers(0, 7),
        st.sampled_from(["a", "b"]),
        st.sampled_from([0.25, 1.0, 2.0]),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(actions=ACTIONS)
def test_no_interleaving_exceeds_a_limit_or_strands_a_task(actions: list[Any]) -> None:
    """Given sweeps more often than a lease lasts (every 5 minutes against an hour on AWS;
    here at least every 60 s against 100 s), whatever the order of takes, stops, duplicate and
    lost STOPPED events: what really runs never exceeds a limit, a take is refused only for the
    rate or a limit truly reached, and a sweep leaves no lease but those of running tasks."""
    account = AccountLimits(max_vcpus=3.0, rate_per_s=2.0, burst=2.0, lease_seconds=100.0)
    limits = {"a": Limits(max_vcpus=2.0), "b": Limits(max_vcpus=2.0)}
    budget = BudgetRecord(stamp=NOW)
    now = last_sweep = NOW
    running: dict[str, tuple[str, float]] = {}  # what really runs: key -> (group, vcpus)
    lost: set[str] = set()  # ended, but their STOPPED event was lost

    def do_sweep() -> None:
        nonlocal budget, last_sweep
        budget = renew(budget, set(running), lost, now, account.lease_seconds) or budget
        lost.clear()
        last_sweep = now
        assert set(budget.leases) <= set(running) | {
            k for k, lease in budget.leases.items() if lease.expires - 100.0 > now - 60.0
        }

    for action, n, group, vcpus in actions:
        key = f"t{n}"
        if action == "take" and key not in running and key not in lost:
            result = take(budget, key, group, vcpus, 0, limits[group], account, now)
            budget = result.budget or budget
            if result.granted:
                running[key] = (group, vcpus)
            elif result.reason != "launch rate":
                live_v, _ = budget.in_flight(now)
                group_v, _ = budget.in_flight(now, group)
                assert live_v + vcpus > 3.0 or group_v + vcpus > 2.0
        elif action in ("stop", "dup_stop") and key in running:
            running.pop(key)
            budget = give_back(budget, key) or budget
            if action == "dup_stop":
                assert give_back(budget, key) is None
        elif action == "lose" and key in running:
            running.pop(key)
            lost.add(key)
        elif action == "sweep":
            do_sweep()
        elif action == "tick":
            now += 30.0
            if now - last_sweep >= 60.0:
                do_sweep()
        for g in ("a", "b"):
            assert sum(v for gg, v in running.values() if gg == g) <= 2.0
        assert sum(v for _g, v in running.values()) <= 3.0
        live = {k for k, lease in budget.leases.items() if lease.expires > now}
        assert set(running) <= live, "a running task lost its lease"


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
    assert store.get_budget("account").leases == {}


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

    class Quiet:
        def publish(self, notifications: Any) -> None:
            pass

        def run_task(self, spec: Any) -> str:
            raise AssertionError

        def stop_task(self, arn: str, reason: str) -> None:
            pass

    plane = ControlPlane(store=store, notifier=Quiet(), launcher=Quiet(), budget=budget)
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
    assert set(store.get_budget("account").leases) == {"k2"}
    writes = budget.writes
    handle_ecs_event(event("t1", 2, "STOPPED", "k1"), plane)  # a duplicate: no write
    assert budget.writes == writes
    # t2 ends, but its STOPPED event is lost: the record says it ended (the sweep's describe)
    store.put_task(
        dataclasses.replace(store.get_task("t2"), state=State.COMPLETE, revision=9),
        store.get_task("t2").revision,
    )
    sweep(plane, lambda arns: [], now=datetime.now(UTC))
    assert store.get_budget("account").leases == {}


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
    assert store.get_budget("account").leases[key].vcpus == 2.0
    release_lease(budget, held)
    assert store.get_budget("account").leases == {}
    assert hold_lease(None, store, spec, lambda: False) is spec
