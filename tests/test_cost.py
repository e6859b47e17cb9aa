"""Cost estimates: per-second billing with a one-minute minimum, configurable prices."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.cost import Cost, billed_seconds, run_cost, task_cost
from chalicelib.fargate import ARM_PRICES, Prices


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
