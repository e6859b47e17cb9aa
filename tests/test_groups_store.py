"""The Store contract for run groups and the launch budget: every adapter (the ``store`` fixture:
SQLite, memory, DynamoDB on moto) must pass this one suite."""

from __future__ import annotations

import dataclasses
import threading

from chalicelib.groups import GroupRecord, Limits, QueueEntry
from chalicelib.launch_budget import BudgetRecord, Held, Lease


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


def test_budget_counters_and_a_lease_change_together_or_not_at_all(store) -> None:
    """``change_budget``: the counters' compare-and-set and the lease's creation or deletion
    are one transaction; when either condition fails, nothing is written."""
    assert store.get_budget("account") is None
    assert store.get_lease("account", "t1") is None and store.list_leases("account") == {}
    t1, t2 = Lease("lab-a", 0.25, 0, 1e9), Lease("default", 4.0, 1, 2e9, fargate=False)
    first = BudgetRecord(
        groups={"lab-a": Held(0.25, 0, 0.25, 1)}, tokens=3.5, stamp=17e8, revision=1
    )
    assert store.change_budget(first, None, "t1", t1) is True
    assert store.get_budget("account") == first
    assert store.get_lease("account", "t1") == t1
    second = dataclasses.replace(
        first, groups={**first.groups, "default": Held(4.0, 1, 0.0, 1)}, revision=2
    )
    # a stale revision, or none where one is stored: nothing written, not even the lease
    assert store.change_budget(second, None, "t2", t2) is False
    assert store.change_budget(second, 0, "t2", t2) is False
    assert store.get_lease("account", "t2") is None and store.get_budget("account") == first
    # a lease that exists already: the counters are not written either
    assert store.change_budget(second, 1, "t1", t1) is False
    assert store.get_budget("account") == first
    assert store.change_budget(second, 1, "t2", t2) is True
    assert store.list_leases("account") == {"t1": t1, "t2": t2}
    assert store.list_leases("other") == {}
    # a give-back deletes the lease; one of a lease not held writes nothing
    third = dataclasses.replace(second, groups={"default": Held(4.0, 1, 0.0, 1)}, revision=3)
    assert store.change_budget(third, 2, "gone", None) is False
    assert store.get_budget("account") == second
    assert store.change_budget(third, 2, "t1", None) is True
    assert store.list_leases("account") == {"t2": t2} and store.get_budget("account") == third
    assert store.change_budget(dataclasses.replace(third, revision=4), 3, "t1", None) is False


def test_many_leases_are_listed_whole(store) -> None:
    """The sweep reads every lease: past a page of the store's listing too."""
    budget: BudgetRecord | None = None
    for n in range(120):
        lease = Lease("g", 0.25, 0, 1e9)
        new = BudgetRecord(
            groups={"g": Held(0.25 * (n + 1), 0, 0.25 * (n + 1), n + 1)}, revision=n + 1
        )
        assert store.change_budget(new, budget.revision if budget else None, f"k{n:03}", lease)
        budget = new
    assert sorted(store.list_leases("account")) == [f"k{n:03}" for n in range(120)]


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
