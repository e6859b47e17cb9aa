"""Task containers waiting for the launch budget show among their run's tasks
(``chalicelib.waiting_tasks``): QUEUED with the reason, gone once launched or stopped, and cleared
when the run's orchestrator stops."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from events import ecs_event
from quiet_plane import quiet_plane

from chalicelib import ecs_events
from chalicelib.groups import GroupRecord, Limits
from chalicelib.launch_budget import (
    ENV_LEASE,
    LEASE_KEY_CHARS,
    AccountLimits,
    SharedLaunchBudget,
    hold_lease,
)
from chalicelib.launcher import TaskSpec
from chalicelib.memory_store import MemoryStore
from chalicelib.records import RunRecord, TaskRecord
from chalicelib.states import State
from chalicelib.status import handle_ecs_event
from chalicelib.transitions import Progress, progress
from chalicelib.waiting_tasks import WaitingTask, is_waiting, waiting_record, waiting_task_id
from chalicelib.wes import task_log

STAMP = "2026-01-01T00:00:00.000Z"
FULL = "waiting: group lab has 2 of 2 vCPUs in flight"
FAST = AccountLimits(rate_per_s=1000.0, burst=1000.0)


def spec(run_id: str, letter: str, call: str, attempt: int = 1) -> TaskSpec:
    return TaskSpec(
        run_id=run_id,
        role=ecs_events.ROLE_TASK,
        command=["true"],
        environment={
            ecs_events.ENV_CALL_ID: call,
            ecs_events.ENV_ATTEMPT: str(attempt),
            ecs_events.ENV_REQUESTED_AT: STAMP,
        },
        cpu=2048,
        memory_mb=4096,
        client_token=letter * 64,
    )


def lab_run(store: MemoryStore, run_id: str) -> None:
    store.create_run(RunRecord(run_id, State.RUNNING, STAMP, STAMP, "w", "k", "k", group="lab"))
    if store.get_group("lab") is None:
        store.put_group(GroupRecord("lab", Limits(max_vcpus=2.0)), None)


def until(check: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_the_placeholder_names_the_call_its_attempt_and_the_reason() -> None:
    task = waiting_record(None, spec("r", "a", "wf.call-x", 3), "a" * 8, FULL, "2026-01-01T00:01")
    assert task is not None and is_waiting(task)
    assert (task.task_id, task.run_id, task.state) == ("waiting-aaaaaaaa", "r", State.QUEUED)
    assert (task.call_id, task.attempt, task.waiting) == ("wf.call-x", 3, FULL)
    assert (task.cpu, task.memory, task.requested_at, task.task_arn) == ("2048", "4096", STAMP, "")
    assert waiting_record(task, spec("r", "a", "c"), "a", FULL, "later") is None  # said already
    account = "waiting: the account has 6 of 6 vCPUs in flight"
    other = waiting_record(task, spec("r", "a", "c"), "a", account, "later")
    assert other is not None and (other.waiting, other.updated_at) == (account, "later")
    assert not is_waiting(task.replace(task_arn="arn:aws:ecs:us-east-1:1:task/c/x"))


def test_tasks_waiting_for_vcpus_show_queued_with_the_reason_until_they_launch_or_stop() -> None:
    store = MemoryStore()
    lab_run(store, "run-w1")
    budget = SharedLaunchBudget(store, FAST)
    budget.sleep = lambda seconds: time.sleep(0.01)
    first = hold_lease(budget, store, spec("run-w1", "a", "call-a"), lambda: False)
    assert first is not None and store.list_tasks("run-w1") == []  # granted at once: no record
    stop = threading.Event()
    held: dict[str, TaskSpec | None] = {}
    heard: list[str] = []

    def wait(letter: str) -> None:
        task = spec("run-w1", letter, f"call-{letter}", attempt=2)
        held[letter] = hold_lease(budget, store, task, stop.is_set, heard.append)

    threads = [threading.Thread(target=wait, args=(letter,), daemon=True) for letter in "bc"]
    for thread in threads:
        thread.start()
    # the second joins the first's line (same shape) and shows the reason it heard from it
    until(lambda: len(store.list_tasks("run-w1")) == 2)
    waiting = sorted(store.list_tasks("run-w1"), key=lambda t: t.call_id)
    assert [t.task_id for t in waiting] == [waiting_task_id(x * LEASE_KEY_CHARS) for x in "bc"]
    assert all(t.state == State.QUEUED and t.waiting == FULL and t.attempt == 2 for t in waiting)
    assert [t.call_id for t in waiting] == ["call-b", "call-c"]
    assert heard == [FULL, FULL]
    assert progress(waiting) == Progress(queued=2)
    log = task_log(waiting[0], base_url="https://x")
    assert log["system_logs"] == [FULL] and log["tags"]["state"] == "QUEUED"

    assert budget.release(first.environment[ENV_LEASE])
    until(lambda: len(held) == 1)
    (launched,) = held.values()
    assert launched is not None
    left = store.list_tasks("run-w1")  # the launched one's placeholder went before its RunTask
    assert len(left) == 1 and left[0].task_id != waiting_task_id(launched.environment[ENV_LEASE])

    stop.set()  # the run is terminating: the last one never launches, and shows no more
    for thread in threads:
        thread.join(10)
    assert len(held) == 2 and None in held.values()
    assert store.list_tasks("run-w1") == []
    assert set(store.list_leases("account")) == {launched.environment[ENV_LEASE]}


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.task_writes = 0

    def put_task(self, task: TaskRecord, expected_revision: int | None) -> bool:
        self.task_writes += 1
        return super().put_task(task, expected_revision)


def test_a_wait_for_the_launch_rate_alone_writes_no_record() -> None:
    """Eight tasks at once through a rate of 50 launches/s: they wait in line for the rate, a
    few hundredths of a second each, and none writes a record (nor do those joining the line)."""
    store = CountingStore()
    store.create_run(RunRecord("run-w2", State.RUNNING, STAMP, STAMP, "w", "k", "k"))
    budget = SharedLaunchBudget(store, AccountLimits(rate_per_s=50.0, burst=1.0))
    slept: list[float] = []
    budget.sleep = lambda seconds: (slept.append(seconds), time.sleep(seconds))[-1]
    held: list[TaskSpec | None] = []
    threads = [
        threading.Thread(
            target=lambda x=x: held.append(
                hold_lease(budget, store, spec("run-w2", x, "call"), lambda: False)
            ),
            daemon=True,
        )
        for x in "abcdefgh"
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(held) == 8 and all(held)
    assert slept  # it did wait, for the rate
    assert store.task_writes == 0 and store.list_tasks("run-w2") == []


def test_the_orchestrators_stop_clears_what_its_waiting_tasks_left() -> None:
    """An orchestrator killed while its tasks waited leaves their placeholders: its STOPPED
    event deletes them (none will launch), and keeps the records of tasks that ran."""
    store = MemoryStore()
    orchestrator = "arn:aws:ecs:us-east-1:123456789012:task/cluster/orch1"
    store.create_run(
        RunRecord(
            "run-w3", State.RUNNING, STAMP, STAMP, "w", "k", "k", orchestrator_arn=orchestrator
        )
    )
    WaitingTask(store, spec("run-w3", "d", "call-d"), "d" * 16).show(FULL)
    plane = quiet_plane(store)
    ran = "arn:aws:ecs:us-east-1:123456789012:task/cluster/t1"
    handle_ecs_event(ecs_event(ran, 2, "STOPPED", run_id="run-w3", exit_code=0), plane)
    assert len(store.list_tasks("run-w3")) == 2
    stopped = ecs_event(
        orchestrator, 3, "STOPPED", role=ecs_events.ROLE_ORCHESTRATOR, run_id="run-w3"
    )
    handle_ecs_event(stopped, plane)
    assert [t.task_arn for t in store.list_tasks("run-w3")] == [ran]
    assert store.get_run("run-w3").state == State.SYSTEM_ERROR
