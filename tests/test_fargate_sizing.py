"""Fargate task sizing: the valid cpu/memory pairs, the cheapest fit, and ephemeral storage.

The expected table is written out here from AWS-FACTS.md ("Valid CPU / memory pairs"), not
derived from ``chalicelib.fargate``, so a mistake in the module's table shows up as a failure.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from chalicelib import fargate
from chalicelib.fargate import (
    ARM_PRICES,
    FargateSize,
    Prices,
    SizeError,
    ephemeral_storage_gib,
    fit_size,
    hourly_cost,
    valid_sizes,
)

MIB = 1024 * 1024
GIB = 1024 * MIB

# cpu units -> memory sizes in GiB, as AWS documents them.
_EXPECTED_GIB: dict[int, list[float]] = {
    256: [0.5, 1, 2],
    512: [1, 2, 3, 4],
    1024: list(range(2, 8 + 1)),  # 2-8 GiB, 1 GiB steps
    2048: list(range(4, 16 + 1)),  # 4-16 GiB, 1 GiB steps
    4096: list(range(8, 30 + 1)),  # 8-30 GiB, 1 GiB steps
    8192: list(range(16, 60 + 1, 4)),  # 16-60 GiB, 4 GiB steps
    16384: list(range(32, 120 + 1, 8)),  # 32-120 GiB, 8 GiB steps
}
EXPECTED: frozenset[tuple[int, int]] = frozenset(
    (cpu, int(gib * 1024)) for cpu, sizes in _EXPECTED_GIB.items() for gib in sizes
)
EXPECTED_COUNT = 3 + 4 + 7 + 13 + 23 + 12 + 12
EXPECTED_SIZES = sorted(FargateSize(cpu, mem) for cpu, mem in EXPECTED)

CPU_GRID = [0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 6, 8, 12, 16]
MEMORY_GRID_GIB = [0.25] + [x / 2 for x in range(1, 241)]  # 0.25, 0.5, 1, 1.5, ..., 120


def _ceil_mib(memory_bytes: int) -> int:
    return -(-memory_bytes // MIB)


DEFAULT_PRICES = Prices()


def _check_fit(vcpu: float, memory_bytes: int, prices: Prices = DEFAULT_PRICES) -> FargateSize:
    """Assert fit_size's answer is valid, covers the request, and nothing cheaper does."""
    size = fit_size(vcpu, memory_bytes, task="t", prices=prices)
    assert (size.cpu, size.memory_mib) in EXPECTED, size
    assert vcpu * 1024 <= size.cpu
    assert _ceil_mib(memory_bytes) <= size.memory_mib
    cost = hourly_cost(size, prices)
    cheaper = [
        s
        for s in EXPECTED_SIZES
        if vcpu * 1024 <= s.cpu
        and _ceil_mib(memory_bytes) <= s.memory_mib
        and hourly_cost(s, prices) < cost
    ]
    assert cheaper == [], (vcpu, memory_bytes, size, cheaper)
    return size


def test_table_written_out_has_the_documented_count():
    # guards the independent table itself against a typo
    assert len(EXPECTED) == EXPECTED_COUNT == 74


def test_valid_sizes_are_exactly_the_documented_pairs():
    sizes = valid_sizes()
    assert len(sizes) == EXPECTED_COUNT
    assert {(s.cpu, s.memory_mib) for s in sizes} == EXPECTED
    assert len(set(sizes)) == len(sizes)


def test_valid_sizes_smallest_first():
    sizes = valid_sizes()
    assert sizes == sorted(sizes)


@pytest.mark.parametrize("size", EXPECTED_SIZES, ids=lambda s: f"{s.cpu}-{s.memory_mib}")
def test_every_valid_pair_fits_itself(size):
    assert fit_size(size.cpu / 1024, size.memory_mib * MIB, task="t") == size


def test_grid_sweep_default_prices():
    checked = 0
    for vcpu in CPU_GRID:
        for gib in MEMORY_GRID_GIB:
            _check_fit(vcpu, int(gib * GIB))
            checked += 1
    assert checked == len(CPU_GRID) * 241


def test_grid_sweep_arm_prices():
    for vcpu in CPU_GRID:
        for gib in MEMORY_GRID_GIB[::7]:
            _check_fit(vcpu, int(gib * GIB), ARM_PRICES)


@settings(max_examples=400, deadline=None, database=None)
@given(
    vcpu=st.floats(min_value=1e-6, max_value=16.0, allow_nan=False),
    memory_bytes=st.integers(min_value=1, max_value=120 * GIB),
)
@example(vcpu=0.25, memory_bytes=GIB + 1)
@example(vcpu=16.0, memory_bytes=120 * GIB)
@example(vcpu=4.0 + 1 / 1024, memory_bytes=1)
def test_fit_is_valid_covering_and_cheapest(vcpu, memory_bytes):
    _check_fit(vcpu, memory_bytes)


@settings(max_examples=200, deadline=None, database=None)
@given(
    vcpu=st.floats(min_value=1e-6, max_value=16.0, allow_nan=False),
    memory_bytes=st.integers(min_value=1, max_value=120 * GIB),
    vcpu_hour=st.floats(min_value=1e-4, max_value=1.0),
    gb_hour=st.floats(min_value=1e-5, max_value=1.0),
)
def test_fit_is_cheapest_under_any_prices(vcpu, memory_bytes, vcpu_hour, gb_hour):
    _check_fit(vcpu, memory_bytes, Prices(vcpu_hour=vcpu_hour, gb_hour=gb_hour))


def test_fit_known_answers():
    assert fit_size(0.1, 100 * MIB, task="t") == FargateSize(256, 512)
    assert fit_size(0.25, GIB + 1, task="t") == FargateSize(256, 2048)
    assert fit_size(1, 3 * GIB, task="t") == FargateSize(1024, 3072)
    # 30.5 GiB is beyond the 4-vCPU tier: the 8-vCPU tier's 32 GiB
    assert fit_size(1, int(30.5 * GIB), task="t") == FargateSize(8192, 32768)
    assert fit_size(16, 120 * GIB, task="t") == FargateSize(16384, 122880)


@pytest.mark.parametrize(
    ("vcpu", "memory_bytes", "asked"),
    [
        (17, GIB, "17"),
        (32, 4 * GIB, "32"),
        (16.5, 2 * GIB, "16.5"),
    ],
)
def test_too_much_cpu_is_a_size_error(vcpu, memory_bytes, asked):
    with pytest.raises(SizeError) as info:
        fit_size(vcpu, memory_bytes, task="align-reads")
    message = str(info.value)
    assert "align-reads" in message
    assert f"{asked} vCPU" in message
    assert "16 vCPU" in message  # the limit
    assert "120 GiB" in message


@pytest.mark.parametrize(("gib", "asked"), [(121, "121"), (256, "256"), (500, "500")])
def test_too_much_memory_is_a_size_error(gib, asked):
    with pytest.raises(SizeError) as info:
        fit_size(2, gib * GIB, task="call-variants")
    message = str(info.value)
    assert "call-variants" in message
    assert f"{asked} GiB" in message
    assert "120 GiB" in message  # the limit
    assert "16 vCPU" in message


def test_just_over_the_limits_is_a_size_error():
    with pytest.raises(SizeError):
        fit_size(16 + 1 / 1024, GIB, task="t")
    with pytest.raises(SizeError):
        fit_size(1, 120 * GIB + 1, task="t")


@pytest.mark.parametrize(
    ("vcpu", "memory_bytes"),
    [(0, GIB), (-1, GIB), (1, 0), (1, -GIB), (0, 0), (-0.5, -1)],
)
def test_non_positive_requests_are_size_errors(vcpu, memory_bytes):
    with pytest.raises(SizeError) as info:
        fit_size(vcpu, memory_bytes, task="bad-task")
    assert "bad-task" in str(info.value)


def test_size_error_is_a_value_error():
    assert issubclass(SizeError, ValueError)


# ephemeral storage ------------------------------------------------------------------------------


@pytest.mark.parametrize("disk", [None, 0, 1, GIB, 10 * GIB, 20 * GIB])
def test_ephemeral_default_is_none(disk):
    assert ephemeral_storage_gib(disk, task="t") is None


@pytest.mark.parametrize(
    ("disk", "expected"),
    [
        (20 * GIB + 1, 21),
        (21 * GIB, 21),
        (int(21.5 * GIB), 22),
        (100 * GIB, 100),
        (199 * GIB + 1, 200),
        (200 * GIB, 200),
    ],
)
def test_ephemeral_in_range_is_the_ceiling_in_gib(disk, expected):
    assert ephemeral_storage_gib(disk, task="t") == expected


@pytest.mark.parametrize(("disk", "asked"), [(200 * GIB + 1, 201), (500 * GIB, 500)])
def test_ephemeral_over_200_is_a_size_error(disk, asked):
    with pytest.raises(SizeError) as info:
        ephemeral_storage_gib(disk, task="big-disk-task")
    message = str(info.value)
    assert "big-disk-task" in message
    assert "200 GiB" in message
    assert str(asked) in message


@settings(max_examples=300, deadline=None, database=None)
@given(disk=st.integers(min_value=1, max_value=200 * GIB))
def test_ephemeral_property(disk):
    result = ephemeral_storage_gib(disk, task="t")
    gib = -(-disk // GIB)
    if gib <= 20:
        assert result is None
    else:
        assert result == gib
        assert 21 <= result <= 200
        assert result * GIB >= disk


def test_module_constants_match_the_documented_limits():
    assert fargate.MAX_EPHEMERAL_GIB == 200
    assert fargate.DEFAULT_EPHEMERAL_GIB == 20
    assert fargate.MAX_CPU_UNITS == 16 * 1024
    assert fargate.MAX_MEMORY_MIB == 120 * 1024
