"""Rightsizing: per call across shards, from recorded peaks, to valid Fargate sizes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.fargate import FargateSize, valid_sizes
from chalicelib.records import TaskRecord
from chalicelib.rightsizing import call_name, suggest
from chalicelib.states import State

HOUR_4X16 = 4 * 0.04048 + 16 * 0.004445
HOUR_2X4 = 2 * 0.04048 + 4 * 0.004445


def attempt(
    call_id: str,
    cpu: int,
    memory: int,
    usage: dict[str, Any] | None,
    state: State = State.COMPLETE,
    seconds: int = 600,
    **fields: Any,
) -> TaskRecord:
    return TaskRecord(
        task_id=f"{call_id}-{memory}-{state.value}",
        run_id="r",
        state=state,
        updated_at="2024-05-01T12:10:00Z",
        call_id=call_id,
        cpu=str(cpu),
        memory=str(memory),
        pull_started_at="2024-05-01T12:00:00Z",
        started_at="2024-05-01T12:00:10Z",
        stopped_at=f"2024-05-01T12:{seconds // 60:02}:{seconds % 60:02}Z",
        usage=usage,
        **fields,
    )


def used(peak_mib: float, cores: float, seconds: float = 600) -> dict[str, Any]:
    return {"peak_memory_mib": peak_mib, "cpu_seconds": cores * seconds, "seconds": seconds}


def test_shards_of_an_over_provisioned_call_get_one_smaller_size() -> None:
    shards = [
        attempt(f"call-align-{i}-x", 4096, 16384, used(peak, 0.9))
        for i, peak in enumerate([1000, 1200, 900])
    ]
    (found,) = suggest(shards)
    # 1200 MiB + 25% = 1500 MiB; 0.9 cores + 25% = 1.125 vCPU -> the cheapest size with both
    assert (found.call, found.attempts) == ("call-align", 3)
    assert found.requested == FargateSize(4096, 16384)
    assert found.suggested == FargateSize(2048, 4096)
    assert (found.peak_memory_mib, found.cores_used) == (1200, 0.9)
    assert found.saved_usd == pytest.approx(3 * 600 / 3600 * (HOUR_4X16 - HOUR_2X4), abs=1e-6)
    assert found.changes


def test_an_oom_killed_call_is_asked_more_memory() -> None:
    killed = attempt(
        "call-sort",
        1024,
        2048,
        used(2040, 1.0, 60),
        State.EXECUTOR_ERROR,
        seconds=60,
        exit_code=137,
        stopped_reason="OutOfMemoryError: Container killed due to memory usage",
    )
    (only_killed,) = suggest([killed])
    assert only_killed.suggested == FargateSize(1024, 4096)  # 2048 MiB x 2
    assert "killed for memory" in only_killed.reason
    assert only_killed.saved_usd == 0  # nothing succeeded to save on
    # once a larger attempt succeeded, its peak says what the call needs
    retried = attempt("call-sort", 1024, 8192, used(3000, 1.0))
    (after,) = suggest([killed, retried])
    assert after.suggested == FargateSize(1024, 4096)  # 3000 MiB + 25% = 3750 MiB


def test_a_well_sized_call_keeps_its_size_and_cpu_is_never_cut_below_use() -> None:
    busy = attempt("call-busy", 2048, 4096, used(3200, 2.0))
    (found,) = suggest([busy])
    assert found.suggested == FargateSize(2048, 4096) and not found.changes
    assert found.saved_usd == 0


def test_more_than_fargate_offers_points_at_ec2_capacity() -> None:
    (found,) = suggest([attempt("call-huge", 16384, 122880, used(120000, 4))])
    assert found.suggested is None and "EC2" in found.reason


def test_calls_without_usage_get_no_suggestion() -> None:
    assert suggest([attempt("call-a", 1024, 2048, None)]) == []
    with pytest.raises(ValueError):
        suggest([], headroom=-1)


def test_call_names_drop_the_shard() -> None:
    assert call_name("call-say_hello-0-Ada") == "call-say_hello"
    assert call_name("call-x") == "call-x"
    assert call_name("download-abc") == "download-abc"


@given(st.floats(1, 100_000), st.floats(0, 16), st.floats(0, 1))
def test_every_suggestion_is_a_valid_size_that_holds_the_peak(
    peak: float, cores: float, headroom: float
) -> None:
    found = suggest([attempt("call-p", 16384, 122880, used(peak, cores))], headroom=headroom)[0]
    if found.suggested is None:
        assert peak * (1 + headroom) > 122880
        return
    assert found.suggested in valid_sizes()
    assert found.suggested.memory_mib >= peak * (1 + headroom)
    assert found.suggested.vcpu >= min(cores * (1 + headroom), 16)
