"""Routing a task to Fargate or to EC2 capacity (issue 14): the table, the choice, the errors.

The expected table is written out here from the instance types' published shapes (vCPU, GiB,
GPUs), not derived from ``chalicelib.capacity``; the oracle that checks every route is a brute
force over the table, written apart from ``route``.
"""

from __future__ import annotations

import configparser
import itertools
import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from WDL import Error as wdl_error
from WDL import Value

from chalicelib.backend_fargate import FargateSettings
from chalicelib.capacity import (
    DEFAULT_CAPACITIES,
    Capacity,
    CapacityError,
    ProvisioningLimit,
    Request,
    capacities_json,
    fits,
    gpu_type_key,
    parse_capacities,
    provider_name,
    route,
)
from chalicelib.fargate import GIB, MIB, SizeError, fit_size
from chalicelib.records import TaskRecord
from chalicelib.states import State
from chalicelib.task_runtime import gpu_request

ROOT = Path(__file__).resolve().parent.parent

# name -> (instance types, vCPU, nominal GiB, GPUs, GPU type, Spot); AWS's instance pages:
# g6.2xlarge 8 vCPU 32 GiB 1 L4; g6.12xlarge 48 / 192 / 4 L4;
# c6i.16xlarge and c6a.16xlarge 64 / 128; r6i.16xlarge and r6a.16xlarge 64 / 512.
_GROUPS = {
    "gpu-l4": (("g6.2xlarge",), 8, 32, 1, "L4"),
    "gpu-l4-x4": (("g6.12xlarge",), 48, 192, 4, "L4"),
    "compute-64": (("c6i.16xlarge", "c6a.16xlarge"), 64, 128, 0, ""),
    "memory-512": (("r6i.16xlarge", "r6a.16xlarge"), 64, 512, 0, ""),
}
EXPECTED = {
    f"{name}{'-spot' if spot else ''}": (*row, spot)
    for name, row in _GROUPS.items()
    for spot in (False, True)
}


def _usable_mib(gib: int) -> int:
    return math.floor(gib * 0.94) * 1024


def _oracle(request: Request, table: list[Capacity], spot: bool) -> list[Capacity]:
    """Every row a correct answer may be: covering, eligible, and cheapest of the preferred
    purchase option (Spot while asked, on-demand otherwise or when no Spot row covers)."""
    covering = []
    for c in table:
        if c.architecture != request.architecture:
            continue
        if request.gpus == 0 and c.gpus > 0:
            continue  # GPU rows take only GPU tasks
        if request.gpus > c.gpus:
            continue
        if request.gpu_type and gpu_type_key(request.gpu_type) != gpu_type_key(c.gpu_type):
            continue
        cpu = max(128, math.ceil(request.vcpu * 1024))
        if cpu > c.vcpu * 1024 or math.ceil(request.memory_bytes / MIB) > _usable_mib(c.memory_gib):
            continue
        if math.ceil(request.disk_bytes / GIB) > c.disk_gib:
            continue
        covering.append(c)
    preferred = [c for c in covering if c.spot == spot] or [c for c in covering if not c.spot]
    if not preferred:
        return []
    cheapest = min(c.hourly_price for c in preferred)
    return [c for c in preferred if c.hourly_price == cheapest]


def _on_fargate(request: Request) -> bool:
    return (
        request.gpus == 0
        and request.vcpu <= 16
        and request.memory_bytes <= 120 * GIB
        and request.disk_bytes <= 200 * GIB
    )


def _check(request: Request, table: list[Capacity], spot: bool) -> None:
    """route's answer is Fargate exactly when the task fits Fargate; else valid (a row of the
    table), covering, and nothing cheaper; or CapacityError exactly when nothing covers."""
    allowed = _oracle(request, table, spot)
    if _on_fargate(request):
        where = route(request, table, spot=spot)
        assert where.on_fargate and where.capacity is None
        assert where.fargate_size == fit_size(request.vcpu, request.memory_bytes, task="t")
        assert where.spot == spot
        return
    if not allowed:
        with pytest.raises(CapacityError) as info:
            route(request, table, spot=spot)
        assert request.task in str(info.value)
        return
    where = route(request, table, spot=spot)
    assert where.capacity in allowed, (request, where.capacity, allowed)
    assert where.capacity in table
    assert fits(where.capacity, request)
    assert where.spot == where.capacity.spot
    assert where.cpu >= request.vcpu * 1024 and where.memory_mib * MIB >= request.memory_bytes
    assert where.cpu <= where.capacity.vcpu * 1024
    assert where.gpus == request.gpus


# the table ------------------------------------------------------------------------------------


def test_default_table_is_the_written_out_one() -> None:
    got = {
        c.name: (c.instance_types, c.vcpu, c.memory_gib, c.gpus, c.gpu_type, c.spot)
        for c in DEFAULT_CAPACITIES
    }
    assert got == EXPECTED
    assert len(DEFAULT_CAPACITIES) == 8  # + FARGATE, FARGATE_SPOT: 10 per cluster
    for c in DEFAULT_CAPACITIES:
        twin = next(t for t in DEFAULT_CAPACITIES if t.name == c.name.removesuffix("-spot"))
        if c.spot:  # Spot priced below its on-demand twin, so nothing prefers it by mistake
            assert c.hourly_price < twin.hourly_price


def test_usable_memory_leaves_room_for_the_os_and_agent() -> None:
    by_name = {c.name: c for c in DEFAULT_CAPACITIES}
    assert by_name["gpu-l4"].memory_mib == 30 * 1024
    assert by_name["compute-64"].memory_mib == 120 * 1024
    assert by_name["memory-512"].memory_mib == 481 * 1024


def test_code_and_image_config_have_the_same_defaults() -> None:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "infra" / "miniwdl.cfg")
    section = cfg["aws_fargate"]
    assert parse_capacities(section["ec2_capacities"]) == DEFAULT_CAPACITIES
    assert parse_capacities(FargateSettings.ec2_capacities) == DEFAULT_CAPACITIES
    assert section.getboolean("ec2_capacity") is FargateSettings.ec2_capacity is False
    assert float(section["provisioning_timeout_seconds"]) == 1800.0
    assert FargateSettings.provisioning_timeout_seconds == 1800.0


def test_table_round_trips_through_its_configuration_text() -> None:
    assert parse_capacities(capacities_json(DEFAULT_CAPACITIES)) == DEFAULT_CAPACITIES


# exhaustive over the default table --------------------------------------------------------------

CPUS = [0.25, 1, 4, 8, 8.5, 16, 16.001, 17, 32, 48, 48.5, 64, 64.5, 128]
MEMORIES_GIB = [1, 16, 30, 30.5, 60, 120, 120.5, 121, 180, 181, 200, 481, 482, 1000]
GPUS = [0, 1, 2, 4, 5]
GPU_TYPES = ["", "L4", "nvidia-a10g", "NVIDIA-TESLA-T4"]
DISKS_GIB = [0, 200, 201]


def test_every_request_in_the_grid_routes_correctly() -> None:
    table = list(DEFAULT_CAPACITIES)
    checked = 0
    for vcpu, gib, gpus, gpu_type, disk, spot in itertools.product(
        CPUS, MEMORIES_GIB, GPUS, GPU_TYPES, DISKS_GIB, (False, True)
    ):
        if gpu_type and not gpus:
            continue
        request = Request("t", vcpu, int(gib * GIB), gpus, gpu_type, disk * GIB)
        _check(request, table, spot)
        checked += 1
    assert checked == len(CPUS) * len(MEMORIES_GIB) * (1 + 4 * 4) * len(DISKS_GIB) * 2


@pytest.mark.parametrize(
    ("request_", "spot", "expected"),
    [
        (Request("t", 64, 100 * GIB), False, "compute-64"),
        (Request("t", 64, 100 * GIB), True, "compute-64-spot"),
        (Request("t", 17, 2 * GIB), False, "compute-64"),
        (Request("t", 8, 200 * GIB), False, "memory-512"),
        (Request("t", 1, 2 * GIB, gpus=1), False, "gpu-l4"),
        (Request("t", 1, 2 * GIB, gpus=1), True, "gpu-l4-spot"),
        (Request("t", 1, 2 * GIB, gpus=1, gpu_type="NVIDIA L4"), False, "gpu-l4"),
        (Request("t", 1, 2 * GIB, gpus=2), False, "gpu-l4-x4"),
        (Request("t", 16, 64 * GIB, gpus=1), False, "gpu-l4-x4"),
        (Request("t", 4, 8 * GIB, disk_bytes=150 * GIB), False, None),  # Fargate's 200 GiB
    ],
)
def test_known_routes(request_: Request, spot: bool, expected: str | None) -> None:
    where = route(request_, DEFAULT_CAPACITIES, spot=spot)
    assert (where.capacity.name if where.capacity else None) == expected


def test_spot_falls_back_to_on_demand_when_no_spot_row_fits() -> None:
    table = [c for c in DEFAULT_CAPACITIES if not (c.spot and c.gpus == 0)]
    where = route(Request("t", 64, 8 * GIB), table, spot=True)
    assert where.capacity is not None and where.capacity.name == "compute-64"
    assert where.spot is False


def test_on_demand_never_takes_a_spot_row() -> None:
    table = [c for c in DEFAULT_CAPACITIES if c.spot]
    with pytest.raises(CapacityError):
        route(Request("t", 64, 8 * GIB), table, spot=False)


def test_nothing_fits_names_the_task_request_and_largest_capacity() -> None:
    with pytest.raises(CapacityError) as info:
        route(Request("call-assemble", 96, 700 * GIB), DEFAULT_CAPACITIES, spot=False)
    message = str(info.value)
    assert "call-assemble" in message
    assert "96 vCPU" in message and "700 GiB" in message
    assert "16 vCPU / 120 GiB / 200 GiB of disk" in message  # Fargate's limits
    assert "memory-512" in message and "64 vCPU" in message and "481 GiB" in message
    assert isinstance(info.value, SizeError)


def test_gpu_with_ec2_off_says_so() -> None:
    with pytest.raises(CapacityError) as info:
        route(Request("call-basecall", 4, 8 * GIB, gpus=1), (), spot=False)
    message = str(info.value)
    assert "call-basecall" in message and "1 GPU" in message and "Fargate has no GPU" in message
    assert "ec2_capacity is off" in message


def test_unknown_gpu_type_fits_nothing() -> None:
    with pytest.raises(CapacityError) as info:
        route(Request("t", 1, GIB, gpus=1, gpu_type="H100"), DEFAULT_CAPACITIES, spot=False)
    assert "H100" in str(info.value)


def test_non_positive_requests_are_refused() -> None:
    with pytest.raises(SizeError):
        route(Request("t", 0, GIB), DEFAULT_CAPACITIES, spot=False)
    with pytest.raises(SizeError):
        route(Request("t", 1, 0, gpus=1), DEFAULT_CAPACITIES, spot=False)


def test_architecture_must_match() -> None:
    arm = Capacity("arm-64", ("c7g.16xlarge",), 64, 128, 2.3, architecture="ARM64")
    assert route(Request("t", 64, GIB, architecture="ARM64"), [arm], spot=False).capacity == arm
    with pytest.raises(CapacityError):
        route(Request("t", 64, GIB), [arm], spot=False)


def test_gpu_type_names_compare_loosely() -> None:
    assert gpu_type_key("nvidia-tesla-a10g") == gpu_type_key("A10G") == "a10g"
    assert gpu_type_key("NVIDIA L4") == "l4"
    assert gpu_type_key("t4") != gpu_type_key("l4")


def test_provider_name_carries_the_stack_prefix() -> None:
    assert provider_name("wdl", DEFAULT_CAPACITIES[0]) == "wdl-gpu-l4"
    assert provider_name("", DEFAULT_CAPACITIES[0]) == "gpu-l4"


# properties over random tables ------------------------------------------------------------------

_rows = st.builds(
    Capacity,
    name=st.uuids().map(lambda u: u.hex[:8]),
    instance_types=st.just(("x.large",)),
    vcpu=st.integers(1, 192),
    memory_gib=st.integers(1, 2048),
    hourly_price=st.floats(0.01, 50, allow_nan=False),
    gpus=st.integers(0, 8),
    gpu_type=st.sampled_from(["", "L4", "A10G"]),
    spot=st.booleans(),
    disk_gib=st.integers(20, 2000),
).filter(lambda c: bool(c.gpu_type) <= bool(c.gpus))
_requests = st.builds(
    Request,
    task=st.just("t"),
    vcpu=st.floats(0.01, 200, allow_nan=False),
    memory_bytes=st.integers(1, 2100 * GIB),
    gpus=st.integers(0, 9),
    gpu_type=st.sampled_from(["", "l4", "nvidia-a10g"]),
    disk_bytes=st.integers(0, 2100 * GIB),
).filter(lambda r: bool(r.gpu_type) <= bool(r.gpus))


@settings(max_examples=150, deadline=None, database=None)
@given(table=st.lists(_rows, max_size=8, unique_by=lambda c: c.name), request=_requests)
def test_route_is_valid_covering_and_nothing_cheaper(
    table: list[Capacity], request: Request
) -> None:
    for spot in (False, True):
        _check(request, table, spot)


@settings(max_examples=50, deadline=None, database=None)
@given(request=_requests)
def test_a_larger_table_never_makes_a_route_dearer(request: Request) -> None:
    """Adding rows can only keep or lower the price of the chosen capacity."""
    base = [c for c in DEFAULT_CAPACITIES if c.name.startswith("compute")]
    try:
        small = route(request, base, spot=False)
    except CapacityError:
        return
    large = route(request, DEFAULT_CAPACITIES, spot=False)
    if small.capacity is not None and large.capacity is not None:
        assert large.capacity.hourly_price <= small.capacity.hourly_price


# configuration --------------------------------------------------------------------------------

_GOOD = {
    "name": "big",
    "instance_types": ["m6i.32xlarge"],
    "vcpu": 128,
    "memory_gib": 512,
    "hourly_price": 6.1,
}


@pytest.mark.parametrize(
    ("rows", "complaint"),
    [
        ("{}", "JSON list"),
        ("[1]", "not an object"),
        (json.dumps([{**_GOOD, "vcpu": -1}]), "vcpu"),
        (json.dumps([{**_GOOD, "vcpu": True}]), "vcpu"),
        (json.dumps([{**_GOOD, "vcpu": 1.5}]), "vcpu"),
        (json.dumps([{**_GOOD, "memory_gib": 0}]), "at least 1"),
        (json.dumps([{**_GOOD, "hourly_price": "cheap"}]), "hourly_price"),
        (json.dumps([{**_GOOD, "spot": "yes"}]), "spot"),
        (json.dumps([{**_GOOD, "name": "a b"}]), "name"),
        (json.dumps([{**_GOOD, "instance_types": []}]), "instance_types"),
        (json.dumps([{**_GOOD, "gpu_type": "L4"}]), "gpu_type without gpus"),
        (json.dumps([{**_GOOD, "architecture": "MIPS"}]), "architecture"),
        (json.dumps([{**_GOOD, "ram": 1}]), "unknown ['ram']"),
        (json.dumps([{k: v for k, v in _GOOD.items() if k != "vcpu"}]), "missing ['vcpu']"),
        (json.dumps([_GOOD, _GOOD]), "repeat"),
    ],
)
def test_bad_tables_are_refused_naming_what_is_wrong(rows: str, complaint: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_capacities(rows)
    assert complaint in str(info.value)


def test_a_good_row_parses() -> None:
    (row,) = parse_capacities(json.dumps([{**_GOOD, "instance_types": "m6i.32xlarge"}]))
    assert row.instance_types == ("m6i.32xlarge",) and row.vcpu == 128 and not row.spot


# what a task asks for ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("runtime", "expected"),
    [
        ({}, (0, "")),
        ({"gpu": Value.Boolean(False)}, (0, "")),
        ({"gpu": Value.Boolean(True)}, (1, "")),
        ({"gpu": Value.Boolean(True), "gpuCount": Value.Int(2)}, (2, "")),
        ({"gpuCount": Value.Int(4)}, (4, "")),
        ({"gpuType": Value.String("nvidia-l4")}, (1, "nvidia-l4")),
        ({"acceleratorType": Value.String("A10G"), "acceleratorCount": Value.Int(1)}, (1, "A10G")),
        ({"acceleratorCount": Value.Int(0)}, (0, "")),
    ],
)
def test_gpu_request_reads_every_spelling(runtime: dict, expected: tuple[int, str]) -> None:
    assert gpu_request("t", runtime) == expected


def test_negative_gpu_count_is_an_error() -> None:
    with pytest.raises(wdl_error.RuntimeError) as info:
        gpu_request("call-x", {"gpuCount": Value.Int(-1)})
    assert "call-x" in str(info.value) and "gpuCount" in str(info.value)


# waiting in PROVISIONING ----------------------------------------------------------------------


class _Watcher:
    def __init__(self) -> None:
        self.record: TaskRecord | None = None

    def latest(self, task_id: str) -> TaskRecord | None:
        return self.record


def _record(status: str) -> TaskRecord:
    return TaskRecord("id", "run", State.INITIALIZING, "now", last_status=status)


def test_provisioning_is_waited_for_up_to_the_limit_then_given_up() -> None:
    now = [0.0]
    watcher = _Watcher()
    limit = ProvisioningLimit(watcher, "wdl-gpu-l4", 1800, clock=lambda: now[0])
    watcher.record = _record("PROVISIONING")
    now[0] = 5.0  # RunTask took a while: the wait counts from its return (the first call)
    assert limit("id") is None
    now[0] += 1799
    assert limit("id") is None
    now[0] += 1
    reason = limit("id")
    assert reason is not None
    assert "PROVISIONING" in reason and "wdl-gpu-l4" in reason and "1800" in reason
    assert "quota" in reason


def test_a_task_past_provisioning_never_expires() -> None:
    now = [0.0]
    watcher = _Watcher()
    limit = ProvisioningLimit(watcher, "p", 10, clock=lambda: now[0])
    watcher.record = _record("PENDING")
    assert limit("id") is None
    watcher.record = _record("PROVISIONING")  # a stale read afterwards changes nothing
    now[0] = 10_000
    assert limit("id") is None


# the provisioning time on the task record ------------------------------------------------------


def test_provisioning_seconds_from_ecs_timestamps() -> None:
    from chalicelib.transitions import provisioning_seconds

    assert provisioning_seconds("2026-01-01T00:00:00.000Z", "2026-01-01T00:03:30.500Z") == 210.5
    assert provisioning_seconds("2026-01-01T00:00:00Z", None) is None
    assert provisioning_seconds(None, "2026-01-01T00:00:00Z") is None
    assert provisioning_seconds("garbage", "2026-01-01T00:00:00Z") is None
    assert provisioning_seconds("2026-01-01T00:00:10Z", "2026-01-01T00:00:00Z") == 0.0


def test_the_record_keeps_the_first_provisioning_time() -> None:
    from chalicelib.ecs_events import parse_task_event, task_state_change
    from chalicelib.transitions import apply_task_event

    def event(version: int, status: str, stamps: dict[str, str]) -> dict:
        return task_state_change(
            task_arn="arn:aws:ecs:us-east-1:1:task/c/t1",
            cluster_arn="c",
            task_definition_arn="d",
            started_by_value="miniwdl-fargate/task/run",
            group="g",
            version=version,
            last_status=status,
            desired_status="RUNNING",
            container_name="task",
            environment={"MINIWDL_FARGATE_CALL_ID": "call-x"},
            timestamps=stamps,
        )

    created = {"createdAt": "2026-01-01T00:00:00Z"}
    record = apply_task_event(None, parse_task_event(event(1, "PROVISIONING", created)), "now")
    assert record is not None and record.provisioning_seconds is None
    pulled = {**created, "pullStartedAt": "2026-01-01T00:04:00Z"}
    record = apply_task_event(record, parse_task_event(event(2, "PENDING", pulled)), "now")
    assert record is not None and record.provisioning_seconds == 240.0
    ran = {**pulled, "startedAt": "2026-01-01T00:05:00Z"}
    record = apply_task_event(record, parse_task_event(event(3, "RUNNING", ran)), "now")
    assert record is not None and record.provisioning_seconds == 240.0


def test_a_bad_table_in_miniwdl_config_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import logging

    from WDL.runtime import config

    from chalicelib.backend_fargate import ConfigError

    for key, value in {
        "CLUSTER": "c",
        "SUBNETS": "s",
        "EFS_ID": "fs",
        "REGION": "us-east-1",
        "EC2_CAPACITY": "true",
        "EC2_CAPACITIES": '[{"name": "big", "vcpu": 96}]',
    }.items():
        monkeypatch.setenv(f"MINIWDL__AWS_FARGATE__{key}", value)
    with pytest.raises(ConfigError) as info:
        FargateSettings.from_config(config.Loader(logging.getLogger("test")))
    assert "ec2_capacities" in str(info.value) and "big" in str(info.value)
    monkeypatch.setenv("MINIWDL__AWS_FARGATE__EC2_CAPACITIES", capacities_json(DEFAULT_CAPACITIES))
    settings = FargateSettings.from_config(config.Loader(logging.getLogger("test")))
    assert settings.capacities == DEFAULT_CAPACITIES
    monkeypatch.setenv("MINIWDL__AWS_FARGATE__EC2_CAPACITY", "false")
    assert FargateSettings.from_config(config.Loader(logging.getLogger("test"))).capacities == ()
