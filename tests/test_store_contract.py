"""The Store contract: every adapter (the ``store`` fixture) must pass this one suite."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest

from chalicelib.records import RunRecord, TaskRecord
from chalicelib.states import State
from chalicelib.store import (
    MAX_PAGE_SIZE,
    ChangeCounter,
    NotFound,
    RunExists,
    update_run,
    update_task,
)


def make_run(run_id: str = "run1", created_at: str = "2024-05-01T12:00:00.000Z") -> RunRecord:
    return RunRecord(
        run_id=run_id,
        state=State.QUEUED,
        created_at=created_at,
        updated_at=created_at,
        workflow_name="hello",
        workflow_key=f"runs/{run_id}/workflow.wdl",
        inputs_key=f"runs/{run_id}/inputs.json",
        request={"workflow_params": {"hello.who": "world"}, "nested": {"list": [1, 2.5, None]}},
        tags={"project": "demo"},
        orchestrator_log="/logs/x.log",
        error=None,
    )


def make_task(task_id: str, run_id: str = "run1", state: State = State.QUEUED) -> TaskRecord:
    return TaskRecord(
        task_id=task_id,
        run_id=run_id,
        state=state,
        updated_at="2024-05-01T12:00:00.000Z",
        task_arn=f"arn:aws:ecs:local:0:task/c/{task_id}",
        call_id=f"call-{task_id}",
        attempt=1,
        cpu="1024",
    )


# runs


def test_create_and_get_run_round_trip(store) -> None:
    run = make_run()
    store.create_run(run)
    assert store.get_run("run1") == run


def test_round_trip_of_a_full_record(store) -> None:
    run = dataclasses.replace(
        make_run(),
        state=State.EXECUTOR_ERROR,
        orchestrator_arn="arn:o",
        orchestrator_version=4,
        run_dir="/work/run1",
        start_time="2024-05-01T12:00:01.000Z",
        end_time="2024-05-01T12:00:02.000Z",
        exit_code=2,
        outputs={"location": "s3://b/o.json"},
        error={"message": "bad", "exit_code": 2},
    )
    store.create_run(run)
    assert store.get_run("run1") == run


def test_get_missing_run_is_none(store) -> None:
    assert store.get_run("nope") is None


def test_create_twice_raises_run_exists(store) -> None:
    store.create_run(make_run())
    changed = dataclasses.replace(make_run(), workflow_name="other")
    with pytest.raises(RunExists):
        store.create_run(changed)
    assert store.get_run("run1") == make_run()


def test_put_run_compare_and_set(store) -> None:
    run = make_run()
    store.create_run(run)
    first = dataclasses.replace(run, state=State.RUNNING, revision=1)
    assert store.put_run(first, 0) is True
    assert store.get_run("run1") == first

    stale = dataclasses.replace(run, state=State.CANCELED, revision=1)
    assert store.put_run(stale, 0) is False
    assert store.get_run("run1") == first

    second = dataclasses.replace(first, state=State.COMPLETE, revision=2)
    assert store.put_run(second, 1) is True
    assert store.get_run("run1") == second


def test_put_missing_run_returns_false(store) -> None:
    assert store.put_run(make_run("ghost"), 0) is False
    assert store.get_run("ghost") is None


def _created(i: int) -> str:
    return f"2024-05-01T12:00:{i:02d}.000Z"


def test_list_runs_newest_first(store) -> None:
    for i in (3, 1, 2):
        store.create_run(make_run(f"run{i}", _created(i)))
    runs, token = store.list_runs()
    assert [r.run_id for r in runs] == ["run3", "run2", "run1"]
    assert token == ""


def test_list_runs_empty(store) -> None:
    assert store.list_runs() == ([], "")


def test_list_runs_paging_covers_every_run_once(store) -> None:
    ids = [f"run{i}" for i in range(7)]
    for i, run_id in enumerate(ids):
        store.create_run(make_run(run_id, _created(i)))
    seen: list[str] = []
    pages = []
    token = ""
    while True:
        page, token = store.list_runs(page_size=3, page_token=token)
        pages.append(len(page))
        seen += [r.run_id for r in page]
        if not token:
            break
        assert len(pages) < 10, "paging does not end"
    assert pages == [3, 3, 1]
    assert seen == list(reversed(ids))


def test_list_runs_exact_page_ends_with_empty_token(store) -> None:
    for i in range(3):
        store.create_run(make_run(f"run{i}", _created(i)))
    page, token = store.list_runs(page_size=3)
    assert len(page) == 3
    assert token == ""


def test_list_runs_same_created_at_still_pages_every_run(store) -> None:
    ids = [f"run{i}" for i in range(5)]
    for run_id in ids:
        store.create_run(make_run(run_id, _created(0)))
    seen: list[str] = []
    token = ""
    while True:
        page, token = store.list_runs(page_size=2, page_token=token)
        seen += [r.run_id for r in page]
        if not token:
            break
    assert sorted(seen) == ids
    assert len(seen) == len(ids)


def test_list_runs_state_filter(store) -> None:
    for i in range(5):
        store.create_run(make_run(f"run{i}", _created(i)))
    for run_id in ("run1", "run3"):
        run = store.get_run(run_id)
        assert store.put_run(dataclasses.replace(run, state=State.RUNNING, revision=1), 0)
    running, token = store.list_runs(state=State.RUNNING)
    assert [r.run_id for r in running] == ["run3", "run1"]
    assert token == ""
    queued, _ = store.list_runs(state=State.QUEUED)
    assert [r.run_id for r in queued] == ["run4", "run2", "run0"]
    assert store.list_runs(state=State.COMPLETE) == ([], "")


def test_list_runs_state_filter_with_paging(store) -> None:
    for i in range(6):
        run = make_run(f"run{i}", _created(i))
        if i % 2:
            run = dataclasses.replace(run, state=State.COMPLETE)
        store.create_run(run)
    page, token = store.list_runs(state=State.COMPLETE, page_size=2)
    assert [r.run_id for r in page] == ["run5", "run3"]
    assert token
    page, token = store.list_runs(state=State.COMPLETE, page_size=2, page_token=token)
    assert [r.run_id for r in page] == ["run1"]
    assert token == ""


@pytest.mark.parametrize("page_size", [0, -1, MAX_PAGE_SIZE + 1])
def test_list_runs_bad_page_size(store, page_size: int) -> None:
    with pytest.raises(ValueError):
        store.list_runs(page_size=page_size)


@pytest.mark.parametrize("page_size", [1, MAX_PAGE_SIZE])
def test_list_runs_page_size_bounds_are_allowed(store, page_size: int) -> None:
    store.create_run(make_run())
    runs, _ = store.list_runs(page_size=page_size)
    assert [r.run_id for r in runs] == ["run1"]


@pytest.mark.parametrize(
    "token",
    [
        "garbage!",
        "not-a-token",
        "%%%",
        "AAAA",
        "e30",  # base64 of the JSON {}
        "ImFiIg",  # base64 of the JSON "ab": a two-character string is not a cursor
    ],
)
def test_list_runs_garbage_token(store, token: str) -> None:
    store.create_run(make_run())
    with pytest.raises(ValueError):
        store.list_runs(page_token=token)


# tasks


def test_get_missing_task_is_none(store) -> None:
    assert store.get_task("nope") is None


def test_put_task_insert_only_once(store) -> None:
    task = make_task("t1")
    assert store.put_task(task, None) is True
    assert store.get_task("t1") == task
    other = dataclasses.replace(task, state=State.RUNNING)
    assert store.put_task(other, None) is False
    assert store.get_task("t1") == task


def test_put_task_compare_and_set(store) -> None:
    task = dataclasses.replace(make_task("t1"), revision=1)
    assert store.put_task(task, None)
    running = dataclasses.replace(task, state=State.RUNNING, version=2, revision=2)
    assert store.put_task(running, 1) is True
    assert store.get_task("t1") == running
    stale = dataclasses.replace(task, state=State.CANCELED, revision=2)
    assert store.put_task(stale, 1) is False
    assert store.get_task("t1") == running


def test_put_task_with_revision_on_missing_task_returns_false(store) -> None:
    assert store.put_task(make_task("ghost"), 0) is False
    assert store.get_task("ghost") is None


def test_get_tasks_skips_missing(store) -> None:
    for task_id in ("t1", "t2", "t3"):
        assert store.put_task(make_task(task_id), None)
    found = store.get_tasks(["t3", "missing", "t1"])
    assert sorted(t.task_id for t in found) == ["t1", "t3"]
    assert {t.task_id: t for t in found}["t3"] == make_task("t3")
    assert store.get_tasks([]) == []
    assert store.get_tasks(["missing"]) == []


def test_list_tasks_only_that_run(store) -> None:
    assert store.put_task(make_task("a1", "runA"), None)
    assert store.put_task(make_task("b1", "runB"), None)
    assert store.put_task(make_task("a2", "runA"), None)
    assert [t.task_id for t in store.list_tasks("runA")] == ["a1", "a2"]
    assert [t.task_id for t in store.list_tasks("runB")] == ["b1"]
    assert store.list_tasks("runC") == []


def test_list_tasks_sees_updates(store) -> None:
    assert store.put_task(make_task("a1", "runA"), None)
    updated = dataclasses.replace(make_task("a1", "runA"), state=State.COMPLETE, revision=1)
    assert store.put_task(updated, 0)
    assert store.list_tasks("runA") == [updated]


def test_delete_task_compare_and_set(store) -> None:
    task = dataclasses.replace(make_task("w1"), revision=2)
    assert store.put_task(task, None)
    assert store.put_task(make_task("w2"), None)
    assert store.delete_task("w1", 1) is False  # another revision: kept
    assert store.get_task("w1") == task
    assert store.delete_task("w1", 2) is True
    assert store.get_task("w1") is None
    assert [t.task_id for t in store.list_tasks("run1")] == ["w2"]
    assert store.get_tasks(["w1", "w2"]) == [make_task("w2")]
    assert store.delete_task("w1", 2) is False  # gone already
    assert store.delete_task("never", 0) is False


# wait_for_change


def test_wait_for_change_returns_at_once_after_a_task_ends(store) -> None:
    seen = store.wait_for_change(-1, 0)
    store.put_task(make_task("t1", state=State.COMPLETE), None)
    start = time.monotonic()
    now = store.wait_for_change(seen, 5.0)
    assert time.monotonic() - start < 1.0
    assert now != seen


def test_wait_for_change_times_out_without_a_write(store) -> None:
    seen = store.wait_for_change(-1, 0)
    start = time.monotonic()
    result = store.wait_for_change(seen, 0.05)
    elapsed = time.monotonic() - start
    assert 0.04 <= elapsed < 1.0
    assert result == seen


def test_wait_for_change_ignores_writes_that_end_no_task(store) -> None:
    seen = store.wait_for_change(-1, 0)
    store.create_run(make_run())
    store.put_task(make_task("t1", state=State.RUNNING), None)
    assert store.wait_for_change(seen, 0.05) == seen


def test_ended_since_names_the_tasks_that_ended_after_a_count(store) -> None:
    seen = store.wait_for_change(-1, 0)
    store.put_task(make_task("t1", state=State.RUNNING), None)
    store.put_task(make_task("t2", state=State.COMPLETE), None)
    middle = store.wait_for_change(seen, 0)
    ended = dataclasses.replace(make_task("t1", state=State.EXECUTOR_ERROR), revision=1)
    store.put_task(ended, 0)
    now = store.wait_for_change(middle, 0)
    assert list(store.ended_since(seen)) == ["t2", "t1"]
    assert list(store.ended_since(middle)) == ["t1"]
    assert list(store.ended_since(now)) == []
    assert store.ended_since(-1) is None  # before the first count: unknown


def test_change_counter_forgets_the_oldest_ends_and_says_so() -> None:
    changes = ChangeCounter()
    for i in range(ChangeCounter.REMEMBERED + 1):
        changes.bump(f"t{i}")
    assert changes.ended_since(0) is None
    assert changes.ended_since(1) == [f"t{i}" for i in range(1, ChangeCounter.REMEMBERED + 1)]
    assert changes.ended_since(ChangeCounter.REMEMBERED) == [f"t{ChangeCounter.REMEMBERED}"]


def test_wait_for_change_wakes_on_a_task_end_from_another_thread(store) -> None:
    seen = store.wait_for_change(-1, 0)

    def write() -> None:
        time.sleep(0.05)
        store.put_task(make_task("t1", state=State.EXECUTOR_ERROR), None)

    writer = threading.Thread(target=write)
    start = time.monotonic()
    writer.start()
    result = store.wait_for_change(seen, 5.0)
    elapsed = time.monotonic() - start
    writer.join()
    assert result != seen
    assert elapsed < 2.0


def test_failed_write_is_not_a_change(store) -> None:
    store.create_run(make_run())
    seen = store.wait_for_change(-1, 0)
    assert store.put_run(make_run(), 7) is False
    assert store.wait_for_change(seen, 0.01) == seen


# update_run / update_task helpers


def test_update_run_writes_next_revision(store) -> None:
    store.create_run(make_run())
    changed = update_run(
        store, "run1", lambda r: dataclasses.replace(r, state=State.RUNNING, revision=99)
    )
    assert changed is not None
    old, new = changed
    assert old == make_run()
    assert new.state == State.RUNNING
    assert new.revision == 1
    assert store.get_run("run1") == new


def test_update_run_no_decision_writes_nothing(store) -> None:
    store.create_run(make_run())
    assert update_run(store, "run1", lambda r: None) is None
    assert store.get_run("run1") == make_run()


def test_update_run_missing_raises_not_found(store) -> None:
    with pytest.raises(NotFound):
        update_run(store, "ghost", lambda r: r)


def test_update_task_inserts_then_updates(store) -> None:
    created = update_task(store, "t1", lambda t: t or make_task("t1"))
    assert created is not None
    assert created[0] is None
    assert created[1].revision == 1
    changed = update_task(store, "t1", lambda t: dataclasses.replace(t, state=State.RUNNING))
    assert changed is not None
    old, new = changed
    assert old == created[1]
    assert new.state == State.RUNNING
    assert new.revision == 2
    assert store.get_task("t1") == new
    assert update_task(store, "t1", lambda t: None) is None
    assert store.get_task("t1") == new


def test_update_from_a_stale_latest_record_reads_again_and_loses_nothing(store) -> None:
    store.create_run(make_run())
    stale = store.get_run("run1")
    assert update_run(store, "run1", _bump) is not None  # someone else's write
    changed = update_run(store, "run1", _bump, latest=stale)
    assert changed is not None
    assert changed[1].exit_code == 2
    assert changed[1].revision == stale.revision + 2
    assert store.get_run("run1") == changed[1]

    created = update_task(store, "t1", lambda t: t or make_task("t1"))
    assert created is not None
    assert update_task(store, "t1", lambda t: dataclasses.replace(t, attempt=2)) is not None
    moved = update_task(
        store, "t1", lambda t: dataclasses.replace(t, attempt=t.attempt + 1), latest=created[1]
    )
    assert moved is not None
    assert moved[1].attempt == 3
    assert store.get_task("t1") == moved[1]


def test_update_from_the_latest_record_saves_the_read(store) -> None:
    store.create_run(make_run())
    written = update_run(store, "run1", _bump)
    assert written is not None
    reads = []
    original = store.get_run
    store.get_run = lambda run_id: reads.append(run_id) or original(run_id)
    assert update_run(store, "run1", _bump, latest=written[1]) is not None
    assert reads == []


def _bump(run: RunRecord) -> RunRecord:
    return dataclasses.replace(run, exit_code=(run.exit_code or 0) + 1)


def test_update_run_concurrent_writers_lose_nothing(store) -> None:
    store.create_run(make_run())
    threads, per_thread = 8, 25
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            for _ in range(per_thread):
                assert update_run(store, "run1", _bump) is not None
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=20)
    assert not any(w.is_alive() for w in workers)
    assert errors == []
    final = store.get_run("run1")
    assert final.exit_code == threads * per_thread
    assert final.revision == threads * per_thread


def test_update_task_concurrent_writers_lose_nothing(store) -> None:
    threads, per_thread = 8, 25
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def bump(task: TaskRecord | None) -> TaskRecord:
        base = task or make_task("t1")
        return dataclasses.replace(base, version=base.version + 1)

    def worker() -> None:
        try:
            barrier.wait()
            for _ in range(per_thread):
                assert update_task(store, "t1", bump) is not None
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=20)
    assert errors == []
    final = store.get_task("t1")
    assert final.version == threads * per_thread
    assert final.revision == threads * per_thread


# Items large enough that a DynamoDB Query stops at 1 MB before its Limit: about 68 KB each, so
# a shard's rows (SHARDS of them share the runs) span more than one Query.
BIG_RUNS = 120
BIG_BYTES = 68_000


@pytest.fixture
def big_runs(store) -> list[str]:
    ids = [f"big{i:03d}" for i in range(BIG_RUNS)]
    for i, run_id in enumerate(ids):
        run = make_run(run_id, f"2024-05-01T12:{i // 60:02d}:{i % 60:02d}.000Z")
        store.create_run(dataclasses.replace(run, request={"blob": "x" * BIG_BYTES}))
    return list(reversed(ids))


@pytest.mark.parametrize("page_size", [1, 3, 7, 16, 50, 119, 120, 121, 500, MAX_PAGE_SIZE])
def test_list_runs_pages_every_large_run_once(store, big_runs: list[str], page_size: int) -> None:
    seen: list[str] = []
    token = ""
    for _ in range(BIG_RUNS + 2):
        page, token = store.list_runs(page_size=page_size, page_token=token)
        assert len(page) == min(page_size, len(big_runs) - len(seen))
        seen += [r.run_id for r in page]
        if not token:
            break
    assert seen == big_runs
