"""The Store contract for run groups and the launch budget: every adapter (the ``store`` fixture:
SQLite, memory, DynamoDB on moto) must pass this one suite."""

from __future__ import annotations

import dataclasses
import threading

from chalicelib.groups import GroupRecord, Limits, QueueEntry
from chalicelib.launch_budget import BudgetRecord, Lease


def make_group(name: str = "lab-a", **limits: object) -> GroupRecord:
    return GroupRecord(
        name=name,
        limits=Limits(**limits),  # type: ignore[arg-type]
        description="the lab's overnight batches",
        created_at="2024-05-01T12:00:00.000Z",
        updated_at="2024-05-01T12:00:00.000Z",
        revision=1,
    )


def test_group_round_trip_with_its_admission_state(store) -> None:
    group = dataclasses.replace(
        make_group(max_runs=10, max_vcpus=500.5, max_gpus=2, max_duration_seconds=43200.0),
        admitted=("r1", "r2"),
        queue=(QueueEntry("r3", 5, 7), QueueEntry("r4", 0, 8)),
        next_seq=9,
    )
    assert store.put_group(group, None) is True
    assert store.get_group("lab-a") == group


def test_get_missing_group_is_none(store) -> None:
    assert store.get_group("nope") is None


def test_put_group_inserts_only_once(store) -> None:
    assert store.put_group(make_group(max_runs=1), None) is True
    assert store.put_group(make_group(max_runs=2), None) is False
    stored = store.get_group("lab-a")
    assert stored is not None and stored.limits.max_runs == 1


def test_put_group_compare_and_set(store) -> None:
    store.put_group(make_group(), None)
    second = dataclasses.replace(make_group(max_runs=3), revision=2)
    assert store.put_group(second, 1) is True
    stale = dataclasses.replace(make_group(max_runs=9), revision=2)
    assert store.put_group(stale, 1) is False
    assert store.get_group("lab-a") == second


def test_put_missing_group_with_a_revision_is_refused(store) -> None:
    assert store.put_group(make_group("ghost"), 1) is False
    assert store.get_group("ghost") is None


def test_list_groups_by_name_and_not_runs(store) -> None:
    from test_store_contract import make_run

    store.create_run(make_run())
    for name in ("zeta", "alpha", "lab-a"):
        store.put_group(make_group(name), None)
    assert [g.name for g in store.list_groups()] == ["alpha", "lab-a", "zeta"]
    runs, _token = store.list_runs()
    assert [r.run_id for r in runs] == ["run1"]


def test_list_groups_empty(store) -> None:
    assert store.list_groups() == []


def test_delete_group_compare_and_set(store) -> None:
    store.put_group(make_group(), None)
    assert store.delete_group("lab-a", 2) is False
    assert store.get_group("lab-a") is not None
    assert store.delete_group("lab-a", 1) is True
    assert store.get_group("lab-a") is None
    assert store.delete_group("lab-a", 1) is False
    assert store.list_groups() == []


def test_budget_round_trip_and_compare_and_set(store) -> None:
    assert store.get_budget("account") is None
    budget = BudgetRecord(
        leases={"t1": Lease("lab-a", 0.25, 0, 1e9), "t2": Lease("default", 4.0, 1, 2e9)},
        tokens=3.5,
        stamp=1700000000.25,
        revision=1,
    )
    assert store.put_budget(budget, None) is True
    assert store.put_budget(budget, None) is False
    assert store.get_budget("account") == budget
    newer = dataclasses.replace(budget, leases={}, revision=2)
    assert store.put_budget(newer, 0) is False
    assert store.put_budget(newer, 1) is True
    assert store.get_budget("account") == newer


def test_concurrent_group_writers_lose_nothing(store) -> None:
    """Eight threads each add their runs through compare-and-set: none is lost."""
    store.put_group(make_group(), None)

    def add(prefix: str) -> None:
        for i in range(5):
            while True:
                current = store.get_group("lab-a")
                new = dataclasses.replace(
                    current,
                    admitted=(*current.admitted, f"{prefix}{i}"),
                    revision=current.revision + 1,
                )
                if store.put_group(new, current.revision):
                    break

    threads = [threading.Thread(target=add, args=(f"w{n}-",)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = store.get_group("lab-a")
    assert sorted(final.admitted) == sorted(f"w{n}-{i}" for n in range(8) for i in range(5))
    assert final.revision == 41
