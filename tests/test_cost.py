"""Cost estimates: per-second billing with a one-minute minimum, configurable prices."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.cost import (
    SPOT_PRICES,
    CacheHit,
    Cost,
    attempt_outcome,
    billed_seconds,
    billing_start,
    cost_split,
    is_spot,
    record_cost,
    run_cost,
    spot_prices_from_environment,
    task_cost,
)
from chalicelib.ecs_events import parse_task_event
from chalicelib.fargate import (
    ARM_PRICES,
    ENV_RUN_TAGS,
    ClusterConfig,
    EcsLauncher,
    Prices,
    ecs_tags,
    run_tags_from_environment,
    run_task_request,
)
from chalicelib.launcher import TaskSpec
from chalicelib.records import TaskRecord
from chalicelib.states import State
from chalicelib.transitions import apply_task_event
from tests.events import ecs_event


def test_billed_seconds_has_a_one_minute_minimum() -> None:
    assert billed_seconds("2024-05-01T12:00:00.000Z", "2024-05-01T12:00:05.000Z") == 60.0
    assert billed_seconds("2024-05-01T12:00:00.000Z", "2024-05-01T12:02:30.500Z") == 150.5
    assert billed_seconds(None, "2024-05-01T12:00:05.000Z") == 0.0  # never started
    assert billed_seconds("2024-05-01T12:00:00+00:00", "2024-05-01T13:00:00+00:00") == 3600.0


def test_one_hour_of_one_vcpu_and_two_gib_at_us_east_1_prices() -> None:
    cost = task_cost(1024, 2048, 3600)
    assert cost.vcpu_seconds == 3600 and cost.gb_seconds == 7200
    assert cost.usd == pytest.approx(0.04048 + 2 * 0.004445)


def test_prices_are_configurable_and_arm_is_cheaper() -> None:
    assert task_cost(1024, 2048, 3600, prices=ARM_PRICES).usd < task_cost(1024, 2048, 3600).usd
    custom = Prices(vcpu_hour=1.0, gb_hour=0.0)
    assert task_cost(2048, 4096, 1800, prices=custom).usd == pytest.approx(1.0)


def test_only_ephemeral_storage_above_twenty_gib_costs() -> None:
    base = task_cost(1024, 2048, 3600).usd
    assert task_cost(1024, 2048, 3600, ephemeral_gib=20).usd == pytest.approx(base)
    assert task_cost(1024, 2048, 3600, ephemeral_gib=120).usd == pytest.approx(
        base + 100 * 0.000111
    )


@given(
    st.lists(
        st.tuples(st.sampled_from([256, 1024, 4096]), st.integers(512, 30720), st.floats(0, 86400)),
        max_size=20,
    )
)
def test_a_run_costs_the_sum_of_its_tasks(tasks: list[tuple[int, int, float]]) -> None:
    costs = [task_cost(cpu, mem, seconds) for cpu, mem, seconds in tasks]
    total = run_cost(costs)
    assert total.usd == pytest.approx(sum(c.usd for c in costs))
    assert total.vcpu_seconds == pytest.approx(sum(c.vcpu_seconds for c in costs))
    assert run_cost([]) == Cost()


def test_as_dict_rounds_for_display() -> None:
    assert task_cost(1024, 2048, 61).as_dict() == {
        "vcpu_seconds": 61.0,
        "gb_seconds": 122.0,
        "usd": round((61 * 0.04048 + 122 * 0.004445) / 3600, 6),
    }


# ---- Cost as users need it: the right start, Spot prices, and a run's cost split -----------

ON_DEMAND_1X2 = 0.04048 + 2 * 0.004445  # 1 vCPU, 2 GiB, one hour, us-east-1
SPOT_1X2 = 0.01246279 + 2 * 0.00136558
ON_DEMAND_2X4 = 2 * 0.04048 + 4 * 0.004445
SPOT_2X4 = 2 * 0.01246279 + 4 * 0.00136558


def attempt(
    task_id: str,
    state: State,
    *,
    cpu: str = "1024",
    memory: str = "2048",
    pull: str | None = "2024-05-01T12:00:00Z",
    start: str | None = "2024-05-01T12:00:30Z",
    stop: str | None = "2024-05-01T12:10:00Z",
    **fields: Any,
) -> TaskRecord:
    return TaskRecord(
        task_id=task_id,
        run_id="run1",
        state=state,
        updated_at="2024-05-01T12:10:00Z",
        call_id=f"call-{task_id}",
        cpu=cpu,
        memory=memory,
        pull_started_at=pull,
        started_at=start,
        stopped_at=stop,
        **fields,
    )


def test_fargate_bills_from_the_image_pull_not_the_start() -> None:
    pulled = attempt("a", State.COMPLETE)  # pull 12:00:00, start 12:00:30, stop 12:10:00
    assert record_cost(pulled).usd == pytest.approx(600 / 3600 * ON_DEMAND_1X2)
    # an older record without the pull's time is billed from its start, as before
    unpulled = attempt("b", State.COMPLETE, pull=None)
    assert record_cost(unpulled).usd == pytest.approx(570 / 3600 * ON_DEMAND_1X2)
    assert billing_start(pulled) == "2024-05-01T12:00:00Z"


def test_spot_attempts_are_priced_as_spot() -> None:
    spot = attempt("a", State.COMPLETE, capacity_provider="FARGATE_SPOT")
    assert is_spot(spot)
    assert record_cost(spot).usd == pytest.approx(600 / 3600 * SPOT_1X2)
    # an attempt stopped by a Spot interruption ran on Spot, whatever else it says
    assert is_spot(attempt("b", State.PREEMPTED, stop_code="SpotInterruption"))
    assert not is_spot(attempt("c", State.COMPLETE, capacity_provider="FARGATE"))
    custom = Prices(vcpu_hour=1.0, gb_hour=0.0)
    assert record_cost(spot, spot_prices=custom).usd == pytest.approx(600 / 3600)


def test_the_ecs_events_pull_start_and_capacity_provider_reach_the_record() -> None:
    event = ecs_event(
        "arn:aws:ecs:us-east-1:123456789012:task/cluster/t1",
        3,
        "STOPPED",
        exit_code=0,
        timestamps={
            "createdAt": "2024-05-01T11:59:50Z",
            "pullStartedAt": "2024-05-01T12:00:00Z",
            "startedAt": "2024-05-01T12:00:30Z",
            "stoppedAt": "2024-05-01T12:10:00Z",
        },
    )
    event["detail"].update(cpu="1024", memory="2048", capacityProviderName="FARGATE_SPOT")
    parsed = parse_task_event(event)
    assert parsed is not None
    record = apply_task_event(None, parsed, "2024-05-01T12:10:01Z")
    assert record is not None
    assert (record.pull_started_at, record.capacity_provider) == (
        "2024-05-01T12:00:00Z",
        "FARGATE_SPOT",
    )
    assert record_cost(record).usd == pytest.approx(600 / 3600 * SPOT_1X2)


def test_oom_kills_are_told_from_other_failures() -> None:
    by_reason = attempt(
        "a",
        State.EXECUTOR_ERROR,
        exit_code=137,
        stopped_reason="OutOfMemoryError: Container killed due to memory usage",
    )
    by_usage = attempt("b", State.EXECUTOR_ERROR, exit_code=137, usage={"peak_memory_mib": 2000})
    low_peak = attempt("c", State.EXECUTOR_ERROR, exit_code=137, usage={"peak_memory_mib": 300})
    plain = attempt("d", State.EXECUTOR_ERROR, exit_code=1)
    assert [attempt_outcome(t) for t in (by_reason, by_usage, low_peak, plain)] == [
        "oom_killed",
        "oom_killed",
        "failed",
        "failed",
    ]
    assert attempt_outcome(attempt("e", State.RUNNING, stop=None)) == "unfinished"
    assert attempt_outcome(attempt("f", State.PREEMPTED)) == "preempted"


def test_a_runs_cost_split_against_hand_computed_figures() -> None:
    tasks = [
        # succeeded, on demand: 600 s from the pull
        attempt("a", State.COMPLETE, exit_code=0),
        # preempted on Spot after 300 s
        attempt(
            "b",
            State.PREEMPTED,
            capacity_provider="FARGATE_SPOT",
            stop_code="SpotInterruption",
            stop="2024-05-01T12:05:00Z",
        ),
        # failed after 20 s: billed the one-minute minimum, 2 vCPU 4 GiB
        attempt(
            "c",
            State.EXECUTOR_ERROR,
            cpu="2048",
            memory="4096",
            exit_code=1,
            stop="2024-05-01T12:00:20Z",
        ),
        # OOM-killed after 180 s
        attempt(
            "d",
            State.EXECUTOR_ERROR,
            exit_code=137,
            stopped_reason="OutOfMemoryError: Container killed due to memory usage",
            stop="2024-05-01T12:03:00Z",
        ),
        # never started: costs nothing
        attempt("e", State.SYSTEM_ERROR, pull=None, start=None, stop="2024-05-01T12:00:01Z"),
    ]
    split = cost_split(
        tasks,
        cache_hits=[CacheHit("call-cached", Cost(usd=0.5)), CacheHit("call-x", Cost(usd=0.25))],
        orchestrator=Cost(usd=0.01),
    )
    succeeded = 600 / 3600 * ON_DEMAND_1X2  # 0.00822833
    preempted = 300 / 3600 * SPOT_1X2  # 0.00126616
    failed = 60 / 3600 * ON_DEMAND_2X4  # 0.00164567
    oom = 180 / 3600 * ON_DEMAND_1X2  # 0.00246850
    assert split.succeeded.usd == pytest.approx(succeeded)
    assert split.wasted["preempted"].usd == pytest.approx(preempted)
    assert split.wasted["failed"].usd == pytest.approx(failed)
    assert split.wasted["oom_killed"].usd == pytest.approx(oom)
    assert split.wasted["canceled"] == Cost()
    assert split.avoided.usd == pytest.approx(0.75)
    assert split.orchestrator.usd == pytest.approx(0.01)
    assert split.tasks.usd == pytest.approx(succeeded + preempted + failed + oom)
    assert split.total.usd == pytest.approx(succeeded + preempted + failed + oom + 0.01)
    all_spot = (600 + 300 + 180) / 3600 * SPOT_1X2 + 60 / 3600 * SPOT_2X4
    assert split.all_spot.usd == pytest.approx(all_spot)
    assert split.spot_savings_usd == pytest.approx(succeeded + preempted + failed + oom - all_spot)
    shown = split.as_dict()
    assert shown["wasted_usd"] == pytest.approx(preempted + failed + oom, abs=1e-6)
    assert shown["avoided_by_call_cache"]["usd"] == 0.75
    assert set(shown) >= {"total", "succeeded", "wasted", "orchestrator", "if_all_spot"}


def test_spot_prices_are_configurable_from_the_environment() -> None:
    assert spot_prices_from_environment({}) == SPOT_PRICES
    env = {"MINIWDL_FARGATE_SPOT_VCPU_HOUR_USD": "0.5", "MINIWDL_FARGATE_SPOT_GB_HOUR_USD": "0.1"}
    assert spot_prices_from_environment(env) == Prices(vcpu_hour=0.5, gb_hour=0.1)
    # as the orchestrator's miniwdl sees them
    passed_on = {"MINIWDL__MINIWDL_FARGATE__SPOT_VCPU_HOUR_USD": "0.25"}
    assert spot_prices_from_environment(passed_on).vcpu_hour == 0.25
    with pytest.raises(ValueError, match="SPOT"):
        spot_prices_from_environment({"MINIWDL_FARGATE_SPOT_VCPU_HOUR_USD": "cheap"})


# ---- The run's own tags on every ECS task (Cost Explorer groups the bill by them) ----------


def test_run_tags_go_beside_the_projects_within_ecs_limits() -> None:
    own = {"miniwdl-fargate:run": "r1", "miniwdl-fargate:call": "call-a"}
    run_tags = {
        "team": "genomics",
        "aws:createdBy": "me",  # reserved: left out
        "miniwdl-fargate:run": "spoof",  # the project's: left out
        "cost center!": "x" * 300,  # bad character replaced, value cut to 256
        "k" * 200: "v",  # key cut to 128
    }
    tags = ecs_tags(own, run_tags)
    assert tags[:2] == [
        {"key": "miniwdl-fargate:run", "value": "r1"},
        {"key": "miniwdl-fargate:call", "value": "call-a"},
    ]
    extra = {t["key"]: t["value"] for t in tags[2:]}
    assert extra == {"cost center_": "x" * 256, "k" * 128: "v", "team": "genomics"}
    many = ecs_tags(own, {f"t{i:03}": "v" for i in range(100)})
    assert len(many) == 50 and many[2]["key"] == "t000"


def test_run_task_requests_carry_the_run_tags() -> None:
    spec = TaskSpec(run_id="r1", role="task", command=["true"], tags={"miniwdl-fargate:run": "r1"})
    config = ClusterConfig(cluster="c", subnets=("s",), security_groups=("g",))
    request = run_task_request(spec, config, "td", started_by="x", run_tags={"project": "p1"})
    assert request["tags"] == [
        {"key": "miniwdl-fargate:run", "value": "r1"},
        {"key": "project", "value": "p1"},
    ]
    launcher = EcsLauncher(object(), config, run_tags=None)
    assert launcher.run_tags == {}
    assert run_tags_from_environment({ENV_RUN_TAGS: '{"a": "b"}'}) == {"a": "b"}
    assert run_tags_from_environment({ENV_RUN_TAGS: "not json"}) == {}
