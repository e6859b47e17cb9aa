"""Attempts killed for their memory (``out_of_memory``): recognised from ECS's container reason
or a 137 at the limit, and retried with more memory up to the ceiling."""

from __future__ import annotations

import dataclasses

import pytest
from events import graft, sample
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.capacity import Capacity, Request, largest_memory_bytes
from chalicelib.ecs_events import parse_task_event
from chalicelib.fargate import GIB, MAX_MEMORY_MIB, MIB
from chalicelib.out_of_memory import ECS_OOM_REASON, OomPolicy, is_oom_killed
from chalicelib.records import TaskRecord
from chalicelib.states import State
from chalicelib.transitions import apply_task_event

KILLED = TaskRecord(
    task_id="t",
    run_id="r",
    state=State.EXECUTOR_ERROR,
    updated_at="2026-01-01T00:00:00Z",
    exit_code=137,
    memory="512",
    stop_code="EssentialContainerExited",
    stopped_reason="Essential container in task exited",
)


def test_ecs_reason_on_the_container_marks_an_oom_kill() -> None:
    # as Fargate reports one: the task's reason is generic, the container's says why
    assert is_oom_killed(dataclasses.replace(KILLED, container_reason=ECS_OOM_REASON))
    assert not is_oom_killed(KILLED)  # 137 alone: killed, not necessarily for memory


def test_an_aws_shaped_oom_stop_keeps_the_containers_reason_on_the_record() -> None:
    event = parse_task_event(
        graft(sample("constructed_fargate_out_of_memory_stopped"), container="Example")
    )
    assert event is not None
    record = apply_task_event(None, event, "2026-01-01T00:00:00Z")
    assert record is not None and record.container_reason == ECS_OOM_REASON
    assert record.stopped_reason == "Essential container in task exited"
    assert (record.exit_code, record.state) == (137, State.EXECUTOR_ERROR)
    assert is_oom_killed(record)


def test_a_kill_at_the_limit_counts_without_ecs_reason() -> None:
    near = dataclasses.replace(KILLED, usage={"peak_memory_mib": 500})
    far = dataclasses.replace(KILLED, usage={"peak_memory_mib": 100})
    assert is_oom_killed(near) and not is_oom_killed(far)
    assert not is_oom_killed(dataclasses.replace(near, exit_code=1))


def test_the_retry_doubles_memory_by_default_up_to_the_ceiling() -> None:
    policy = OomPolicy()
    assert policy.next_memory(512 * MIB, 120 * GIB) == 1024 * MIB
    assert policy.next_memory(100 * GIB, 120 * GIB) == 120 * GIB
    assert policy.next_memory(120 * GIB, 120 * GIB) is None  # at the ceiling: unchanged
    assert policy.next_memory(0, 120 * GIB) is None  # nothing declared: nothing to grow
    capped = OomPolicy.from_options("3", "4 GiB")
    assert capped.next_memory(1 * GIB, 120 * GIB) == 3 * GIB
    assert capped.next_memory(2 * GIB, 120 * GIB) == 4 * GIB
    assert capped.next_memory(4 * GIB, 120 * GIB) is None


@pytest.mark.parametrize(
    ("factor", "max_memory", "named"),
    [
        ("0.5", "", "oom_memory_factor"),
        ("two", "", "oom_memory_factor"),
        ("nan", "", "oom_memory_factor"),
        ("", "lots", "oom_max_memory"),
        ("", "100", "oom_max_memory"),  # 100 bytes: less than a MiB
    ],
)
def test_bad_settings_name_the_option(factor: str, max_memory: str, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        OomPolicy.from_options(factor, max_memory)


@given(
    killed=st.integers(min_value=1, max_value=600 * GIB),
    factor=st.floats(min_value=1.0, max_value=16.0),
    ceiling=st.integers(min_value=MIB, max_value=1024 * GIB),
    cap=st.one_of(st.none(), st.integers(min_value=MIB, max_value=1024 * GIB)),
)
def test_a_retry_asks_for_more_in_whole_mib_never_past_a_ceiling(
    killed: int, factor: float, ceiling: int, cap: int | None
) -> None:
    grown = OomPolicy(factor=factor, max_bytes=cap).next_memory(killed, ceiling)
    if grown is None:
        return
    assert grown > killed and grown % MIB == 0
    assert grown <= ceiling and (cap is None or grown <= cap)
    assert grown <= max(killed * factor, killed) + MIB


def test_the_largest_memory_follows_what_can_run_the_rest_of_the_request() -> None:
    plain = Request(task="t", vcpu=1, memory_bytes=GIB)
    gpu = dataclasses.replace(plain, gpus=1)
    big = Capacity(name="m", instance_types=("r6i",), vcpu=64, memory_gib=512, hourly_price=4.0)
    l4 = Capacity(name="g", instance_types=("g6",), vcpu=8, memory_gib=32, hourly_price=1.0, gpus=1)
    assert largest_memory_bytes(plain, ()) == MAX_MEMORY_MIB * MIB  # Fargate's largest
    assert largest_memory_bytes(plain, (big, l4)) == big.memory_mib * MIB
    assert largest_memory_bytes(gpu, (big, l4)) == l4.memory_mib * MIB  # only GPU rows
    assert largest_memory_bytes(gpu, ()) == 0
