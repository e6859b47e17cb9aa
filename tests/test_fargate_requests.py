"""What the Fargate backend sends to AWS and how it reads its setup: task definitions, RunTask
requests, launch rate limits, the EFS volume and mount check, ``[aws_fargate]`` settings, disk
sizes from WDL runtime values and records rebuilt from DescribeTasks."""

from __future__ import annotations

import json
import logging
import os
import re
import time
from datetime import UTC, datetime

import pytest
from WDL import Type, Value
from WDL.runtime.config import Loader

from chalicelib import efs, fargate
from chalicelib.backend_fargate import (
    ConfigError,
    FargateSettings,
    _disk_bytes,
    record_from_description,
)
from chalicelib.ecs_events import ENV_CALL_ID, ENV_LOG_STREAM
from chalicelib.fargate import (
    ARM_PRICES,
    ClusterConfig,
    LaunchLimits,
    Prices,
    TokenBucket,
    batches,
    client_token,
    is_transient_failure,
    log_stream,
    log_stream_environment,
    run_task_request,
    task_definition,
)
from chalicelib.launcher import LaunchError, TaskSpec
from chalicelib.states import State

GIB = 1024**3

# The documented Fargate pairs (AWS-FACTS.md), to check the task definition's own size.
_VALID_TASK_LEVEL = {
    (256, 512),
    (256, 1024),
    (256, 2048),
    *((512, m * 1024) for m in range(1, 5)),
    *((1024, m * 1024) for m in range(2, 9)),
}


def _config(**changes) -> ClusterConfig:
    values = {
        "cluster": "wdl-cluster",
        "subnets": ("subnet-a", "subnet-b"),
        "security_groups": ("sg-task",),
        "volume": efs.volume_configuration(efs.EfsSettings("fs-123", "fsap-456")),
    }
    values.update(changes)
    return ClusterConfig(**values)


def _spec(**changes) -> TaskSpec:
    values = {
        "run_id": "run1",
        "role": "task",
        "command": ["bash", "-c", "echo hello"],
        "environment": {"MINIWDL_FARGATE_CALL_ID": "call-hello", "A": "1"},
        "family": "miniwdl-fargate-task",
        "cpu": 2048,
        "memory_mb": 4096,
        "client_token": "tok-123",
        "tags": {"miniwdl-fargate:run": "run1", "team": "genomics"},
        "image": "ubuntu:22.04",
    }
    values.update(changes)
    return TaskSpec(**values)


def _container(definition):
    (container,) = definition["containerDefinitions"]
    return container


# task definitions --------------------------------------------------------------------------------


def test_task_definition_family_is_a_content_hash_under_the_prefix():
    config = _config()
    first = task_definition("ubuntu:22.04", config)
    assert first["family"].startswith(config.family_prefix + "-")
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,255}", first["family"])
    # same inputs, even through new but equal objects -> same family
    assert task_definition("ubuntu:22.04", _config())["family"] == first["family"]
    assert task_definition("ubuntu:22.04", config) == first


@pytest.mark.parametrize(
    ("image", "changes"),
    [
        ("ubuntu:24.04", {}),
        ("ubuntu:22.04", {"architecture": "ARM64"}),
        (
            "ubuntu:22.04",
            {"volume": efs.volume_configuration(efs.EfsSettings("fs-999", "fsap-456"))},
        ),
        (
            "ubuntu:22.04",
            {"volume": efs.volume_configuration(efs.EfsSettings("fs-123", "fsap-other"))},
        ),
        ("ubuntu:22.04", {"log_group": "/other/group"}),
        ("ubuntu:22.04", {"task_role_arn": "arn:aws:iam::1:role/task"}),
        ("ubuntu:22.04", {"execution_role_arn": "arn:aws:iam::1:role/exec"}),
        ("ubuntu:22.04", {"mountpoint": "/mnt/other"}),
    ],
)
def test_task_definition_family_changes_with_content(image, changes):
    base = task_definition("ubuntu:22.04", _config())["family"]
    other = task_definition(image, _config(**changes))["family"]
    assert other != base
    assert other.startswith("miniwdl-fargate-task-")


def test_task_definition_body():
    config = _config(log_group="/wdl/tasks", log_stream_prefix="tsk", region="eu-west-1")
    definition = task_definition("quay.io/biocontainers/samtools:1.19", config)
    assert definition["requiresCompatibilities"] == ["FARGATE"]
    assert definition["networkMode"] == "awsvpc"
    assert definition["runtimePlatform"]["cpuArchitecture"] == "X86_64"
    assert (int(definition["cpu"]), int(definition["memory"])) in _VALID_TASK_LEVEL
    container = _container(definition)
    assert container["name"] == config.container_name
    assert container["image"] == "quay.io/biocontainers/samtools:1.19"
    # the image's own ENTRYPOINT, if any, must not get the command as its arguments
    assert container["entryPoint"] == ["/bin/sh", "-c"]
    assert "memory" not in container  # a hard limit would cap every RunTask memory override
    assert container["memoryReservation"] > 0
    log = container["logConfiguration"]
    assert log["logDriver"] == "awslogs"
    assert log["options"]["mode"] == "blocking"
    assert log["options"]["awslogs-group"] == "/wdl/tasks"
    assert log["options"]["awslogs-stream-prefix"] == "tsk"
    assert log["options"]["awslogs-region"] == "eu-west-1"
    # the EFS volume, mounted at the configured path
    (volume,) = definition["volumes"]
    assert volume["efsVolumeConfiguration"] == {
        "fileSystemId": "fs-123",
        "transitEncryption": "ENABLED",
        "authorizationConfig": {"iam": "DISABLED", "accessPointId": "fsap-456"},
    }
    (mount,) = container["mountPoints"]
    assert mount["sourceVolume"] == volume["name"]
    assert mount["containerPath"] == "/mnt/efs"
    assert mount["readOnly"] is False
    # no roles unless configured
    assert "taskRoleArn" not in definition
    assert "executionRoleArn" not in definition


def test_task_definition_arm64():
    definition = task_definition("ubuntu:22.04", _config(architecture="ARM64"))
    assert definition["runtimePlatform"] == {
        "cpuArchitecture": "ARM64",
        "operatingSystemFamily": "LINUX",
    }


def test_task_definition_roles_when_given():
    config = _config(
        task_role_arn="arn:aws:iam::1:role/task", execution_role_arn="arn:aws:iam::1:role/exec"
    )
    definition = task_definition("ubuntu:22.04", config)
    assert definition["taskRoleArn"] == "arn:aws:iam::1:role/task"
    assert definition["executionRoleArn"] == "arn:aws:iam::1:role/exec"


def test_task_definition_is_json_serialisable():
    definition = task_definition("ubuntu:22.04", _config())
    assert json.loads(json.dumps(definition)) == definition


def test_log_stream():
    config = _config(log_stream_prefix="pfx", container_name="main")
    assert log_stream(config, "0123abcd") == "pfx/main/0123abcd"
    assert log_stream(_config(), "t1") == "task/task/t1"


def test_log_stream_environment_names_the_stream_up_to_the_task_id():
    config = _config(log_stream_prefix="pfx", container_name="main")
    assert log_stream_environment(config) == {ENV_LOG_STREAM: "pfx/main/"}


# client tokens ----------------------------------------------------------------------------------


def test_client_token_deterministic_and_short():
    token = client_token("run1", "call-hello", "1", "0")
    assert token == client_token("run1", "call-hello", "1", "0")
    assert 0 < len(token) <= 64
    assert token.isascii()
    long = client_token("r" * 500, "c" * 500)
    assert len(long) <= 64


@pytest.mark.parametrize(
    "other",
    [
        ("run2", "call-hello", "1", "0"),
        ("run1", "call-bye", "1", "0"),
        ("run1", "call-hello", "2", "0"),
        ("run1", "call-hello", "1", "1"),
        ("run1", "call-hello", "1"),
        ("run1call-hello", "1", "0"),
    ],
)
def test_client_token_differs_when_a_part_differs(other):
    assert client_token(*other) != client_token("run1", "call-hello", "1", "0")


# RunTask requests -------------------------------------------------------------------------------


def test_run_task_request_on_demand():
    config = _config()
    request = run_task_request(_spec(), config, "arn:td:1", started_by="miniwdl-fargate/task/run1")
    assert request["cluster"] == "wdl-cluster"
    assert request["taskDefinition"] == "arn:td:1"
    assert request["count"] == 1
    assert request["capacityProviderStrategy"] == [{"capacityProvider": "FARGATE", "weight": 1}]
    assert "launchType" not in request  # mutually exclusive with capacityProviderStrategy
    vpc = request["networkConfiguration"]["awsvpcConfiguration"]
    assert vpc == {
        "subnets": ["subnet-a", "subnet-b"],
        "securityGroups": ["sg-task"],
        "assignPublicIp": "DISABLED",
    }
    overrides = request["overrides"]
    assert overrides["cpu"] == "2048"
    assert overrides["memory"] == "4096"
    assert "ephemeralStorage" not in overrides
    (container,) = overrides["containerOverrides"]
    assert container["name"] == config.container_name
    assert container["command"] == ["bash", "-c", "echo hello"]
    assert container["environment"] == [
        {"name": "MINIWDL_FARGATE_CALL_ID", "value": "call-hello"},
        {"name": "A", "value": "1"},
    ]
    assert request["startedBy"] == "miniwdl-fargate/task/run1"
    assert request["clientToken"] == "tok-123"
    assert request["tags"] == [
        {"key": "miniwdl-fargate:run", "value": "run1"},
        {"key": "team", "value": "genomics"},
    ]


def test_run_task_request_spot_public_ip_and_ephemeral():
    request = run_task_request(
        _spec(spot=True, ephemeral_gib=150),
        _config(assign_public_ip=True),
        "arn:td:1",
        started_by="miniwdl-fargate/task/run1",
    )
    assert request["capacityProviderStrategy"] == [
        {"capacityProvider": "FARGATE_SPOT", "weight": 1}
    ]
    assert "launchType" not in request
    assert request["networkConfiguration"]["awsvpcConfiguration"]["assignPublicIp"] == "ENABLED"
    assert request["overrides"]["ephemeralStorage"] == {"sizeInGiB": 150}


def test_run_task_request_without_client_token():
    request = run_task_request(_spec(client_token=None), _config(), "arn:td:1", started_by="x")
    assert "clientToken" not in request


def test_run_task_request_client_token_capped_at_64():
    request = run_task_request(_spec(client_token="k" * 100), _config(), "arn:td:1", started_by="x")
    assert 0 < len(request["clientToken"]) <= 64


def _overrides_chars(request) -> int:
    return len(json.dumps(request["overrides"], separators=(",", ":")))


def _spec_with_overrides_of(chars: int) -> TaskSpec:
    """A spec whose RunTask overrides serialise (compactly) to ``chars`` characters."""
    base = _overrides_chars(
        run_task_request(_spec(environment={"BIG": ""}), _config(), "arn", started_by="x")
    )
    return _spec(environment={"BIG": "x" * (chars - base)})


def test_overrides_just_under_the_limit_are_accepted():
    request = run_task_request(_spec_with_overrides_of(8100), _config(), "arn", started_by="x")
    assert _overrides_chars(request) == 8100


@pytest.mark.parametrize("chars", [8300, 20000])
def test_overrides_over_the_limit_are_a_launch_error(chars):
    with pytest.raises(LaunchError) as info:
        run_task_request(_spec_with_overrides_of(chars), _config(), "arn", started_by="x")
    assert "8192" in str(info.value)
    assert info.value.transient is False


def test_overrides_at_the_limit_boundary():
    # exactly 8192 compact characters is within ECS's limit; one more is not
    run_task_request(_spec_with_overrides_of(8192), _config(), "arn", started_by="x")
    with pytest.raises(LaunchError):
        run_task_request(_spec_with_overrides_of(8193), _config(), "arn", started_by="x")


@pytest.mark.parametrize(
    ("reason", "transient"),
    [
        (
            "Capacity is unavailable at this time. Please try again later or in a different"
            " availability zone",
            True,
        ),
        ("RESOURCE:MEMORY", True),
        ("RESOURCE:CPU", True),
        ("MISSING", False),
        ("ATTRIBUTE", False),
    ],
)
def test_is_transient_failure(reason, transient):
    assert is_transient_failure(reason) is transient


def test_batches():
    items = [f"arn:{i}" for i in range(250)]
    chunks = list(batches(items))
    assert [len(c) for c in chunks] == [100, 100, 50]
    assert [x for c in chunks for x in c] == items
    assert list(batches([])) == []
    assert [len(c) for c in batches(items[:100])] == [100]


# launch rate limits -----------------------------------------------------------------------------


class _FakeClock:
    """Stands in for the ``time`` module inside chalicelib.fargate: sleeping advances it, by at
    least a microsecond (as a real sleep does; a float clock would otherwise stall on the
    tiny top-up sleeps that rounding leaves)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 1e-6)


def test_token_bucket_burst_then_rate(monkeypatch):
    clock = _FakeClock()
    monkeypatch.setattr(fargate, "time", clock)
    bucket = TokenBucket(rate_per_s=10.0, burst=5.0)
    assert [bucket.take() for _ in range(5)] == [0.0] * 5
    assert clock.now == 1000.0
    waited = bucket.take()
    assert waited == pytest.approx(0.1)
    assert clock.now == pytest.approx(1000.1)
    # idle time refills, but never past the burst
    clock.now += 100.0
    assert [bucket.take() for _ in range(5)] == [0.0] * 5
    assert bucket.take() == pytest.approx(0.1)


def test_token_bucket_try_take(monkeypatch):
    clock = _FakeClock()
    monkeypatch.setattr(fargate, "time", clock)
    bucket = TokenBucket(rate_per_s=4.0, burst=2.0)
    assert bucket.try_take() is True
    assert bucket.try_take() is True
    assert bucket.try_take() is False  # empty: does not wait
    assert clock.now == 1000.0
    clock.now += 0.25
    assert bucket.try_take() is True


def test_launch_limits_stay_at_or_under_fargates_rates():
    limits = LaunchLimits()
    assert 0.9 <= limits.headroom <= 1.0
    assert limits.calls.rate <= 20.0 and limits.calls.burst <= 20.0
    assert limits.tasks.rate <= 20.0 and limits.tasks.burst <= 100.0


def test_launch_limits_model_with_fake_clock(monkeypatch):
    clock = _FakeClock()
    monkeypatch.setattr(fargate, "time", clock)
    limits = LaunchLimits()
    rate = 20.0 * limits.headroom
    # RunTask calls: 20 at once, then ~20/s -> 140 single-task launches take (140 - 20) / rate
    for _ in range(20):
        assert limits.acquire() == 0.0
    assert clock.now == 1000.0
    for _ in range(120):
        limits.acquire()
    assert clock.now - 1000.0 == pytest.approx(120 / rate, abs=0.01)

    # task launches alone (calls unlimited): 100 at once, then ~20/s
    clock = _FakeClock()
    monkeypatch.setattr(fargate, "time", clock)
    tasks_only = LaunchLimits(headroom=1.0)
    tasks_only.calls = TokenBucket(1e6, 1e6)
    for _ in range(100):
        assert tasks_only.acquire() == 0.0
    for _ in range(40):
        tasks_only.acquire()
    assert clock.now - 1000.0 == pytest.approx(2.0, abs=0.01)

    # one launch of several tasks takes them all from the tasks bucket
    clock = _FakeClock()
    monkeypatch.setattr(fargate, "time", clock)
    batch = LaunchLimits(headroom=1.0)
    assert batch.acquire(tasks=100) == 0.0
    assert batch.acquire(tasks=10) == pytest.approx(0.5, abs=0.01)


def test_launch_limits_real_time():
    # TIMING TEST (real clock, about 6.3 s): LaunchLimits() lets the first 20 launches go at
    # once (the RunTask calls bucket bursts 20; the tasks bucket bursts 100), then about 20 per
    # second (19/s with the default 5% headroom), so 140 launches take about (140 - 20) / 19 s.
    # Bounds are loose for slow CI.
    limits = LaunchLimits()
    start = time.monotonic()
    for _ in range(20):
        limits.acquire()
    burst = time.monotonic() - start
    for _ in range(120):
        limits.acquire()
    total = time.monotonic() - start
    assert burst < 0.5
    assert 5.0 <= total <= 8.5


# EFS --------------------------------------------------------------------------------------------


def test_volume_configuration_with_access_point():
    volume = efs.volume_configuration(efs.EfsSettings("fs-1", access_point_id="fsap-1"))
    assert volume["fileSystemId"] == "fs-1"
    assert volume["transitEncryption"] == "ENABLED"
    assert volume["authorizationConfig"] == {"accessPointId": "fsap-1", "iam": "DISABLED"}
    assert "rootDirectory" not in volume


def test_volume_configuration_with_access_point_and_iam():
    volume = efs.volume_configuration(efs.EfsSettings("fs-1", access_point_id="fsap-1", iam=True))
    assert volume["transitEncryption"] == "ENABLED"
    assert volume["authorizationConfig"] == {"accessPointId": "fsap-1", "iam": "ENABLED"}
    assert "rootDirectory" not in volume


def test_volume_configuration_without_access_point():
    volume = efs.volume_configuration(efs.EfsSettings("fs-1"))
    assert volume["transitEncryption"] == "ENABLED"
    assert "authorizationConfig" not in volume
    iam = efs.volume_configuration(efs.EfsSettings("fs-1", iam=True))
    assert iam["transitEncryption"] == "ENABLED"
    assert iam["authorizationConfig"]["iam"] == "ENABLED"
    assert "accessPointId" not in iam["authorizationConfig"]


MOUNTS = """\
overlay / overlay rw,relatime 0 0
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
/dev/sda1 /data ext4 rw,relatime 0 0
127.0.0.1:/ /mnt/efs nfs4 rw,relatime,vers=4.1,rsize=1048576 0 0
fs-1.efs.us-east-1.amazonaws.com:/ /mnt/my\\040efs nfs4 rw 0 0
/dev/sdb1 /mnt/efs/local ext4 rw 0 0
"""


def _mounts_file(tmp_path, text: str = MOUNTS) -> str:
    path = tmp_path / "mounts"
    path.write_text(text)
    return str(path)


def test_mount_of():
    assert efs.mount_of("/mnt/efs", MOUNTS) == ("/mnt/efs", "nfs4")
    assert efs.mount_of("/mnt/efs/run1/call", MOUNTS) == ("/mnt/efs", "nfs4")
    assert efs.mount_of("/mnt/efs/local/x", MOUNTS) == ("/mnt/efs/local", "ext4")
    assert efs.mount_of("/mnt/efs2", MOUNTS) == ("/", "overlay")
    assert efs.mount_of("/data/x", MOUNTS) == ("/data", "ext4")


def test_mount_of_decodes_escapes():
    assert efs.mount_of("/mnt/my efs/run1", MOUNTS) == ("/mnt/my efs", "nfs4")
    text = "srv:/ /mnt/a\\011b\\134c nfs 0 0\n"
    assert efs.mount_of("/mnt/a\tb\\c/x", text) == ("/mnt/a\tb\\c", "nfs")


def test_check_mounted_passes_on_nfs(tmp_path):
    mounts = _mounts_file(tmp_path)
    efs.check_mounted("/mnt/efs", mounts)
    efs.check_mounted("/mnt/efs/runs/run1", mounts)
    efs.check_mounted("/mnt/my efs", mounts)


@pytest.mark.parametrize("path", ["/data", "/data/runs", "/mnt/efs/local", "/tmp/efs"])
def test_check_mounted_fails_off_efs_with_a_fix(tmp_path, path):
    with pytest.raises(efs.WorkFilesystemError) as info:
        efs.check_mounted(path, _mounts_file(tmp_path))
    message = str(info.value)
    assert path in message
    assert "mount" in message
    assert "efs_mountpoint" in message


def test_check_mounted_unreadable_mounts_file(tmp_path):
    with pytest.raises(efs.WorkFilesystemError) as info:
        efs.check_mounted("/mnt/efs", str(tmp_path / "missing"))
    assert str(tmp_path / "missing") in str(info.value)
    with pytest.raises(efs.WorkFilesystemError):
        efs.check_mounted("/mnt/efs", str(tmp_path))  # a directory


# [aws_fargate] settings -------------------------------------------------------------------------


@pytest.fixture
def loader(monkeypatch):
    """Builds a miniwdl config Loader with only the given ``[aws_fargate]`` overrides."""
    for name in list(os.environ):
        if name.startswith("MINIWDL__AWS_FARGATE__"):
            monkeypatch.delenv(name)

    def make(**options):
        overrides = {"aws_fargate": options} if options else {}
        return Loader(logging.getLogger("t"), filenames=[], overrides=overrides)

    return make


REQUIRED = {"cluster": "wdl", "subnets": "subnet-a", "efs_id": "fs-1", "region": "us-east-1"}
WITHOUT_REGION = {k: v for k, v in REQUIRED.items() if k != "region"}


def test_settings_minimal(loader):
    settings = FargateSettings.from_config(loader(**REQUIRED))
    assert settings.cluster == "wdl"
    assert settings.subnets == ("subnet-a",)
    assert settings.efs_id == "fs-1"
    assert settings.architecture == "X86_64"
    assert settings.prices == Prices()
    assert settings.efs_iam is False
    assert settings.efs_mountpoint == "/mnt/efs"


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        ({"subnets": "s", "efs_id": "fs"}, ["cluster"]),
        ({"cluster": "c", "efs_id": "fs"}, ["subnets"]),
        ({"cluster": "c", "subnets": "s"}, ["efs_id"]),
        ({"cluster": "c", "subnets": ",", "efs_id": "fs"}, ["subnets"]),
        ({}, ["cluster", "subnets", "efs_id"]),
    ],
)
def test_settings_missing_required_keys(loader, given, missing):
    with pytest.raises(ConfigError) as info:
        FargateSettings.from_config(loader(**given))
    message = str(info.value)
    for key in missing:
        assert f"[aws_fargate] {key}" in message
    for key in {"cluster", "subnets", "efs_id"} - set(missing):
        assert f"[aws_fargate] {key}" not in message


def test_settings_from_environment(loader, monkeypatch):
    monkeypatch.setenv("MINIWDL__AWS_FARGATE__CLUSTER", "env-cluster")
    monkeypatch.setenv("MINIWDL__AWS_FARGATE__SUBNETS", "subnet-x,subnet-y")
    monkeypatch.setenv("MINIWDL__AWS_FARGATE__EFS_ID", "fs-env")
    monkeypatch.setenv("MINIWDL__AWS_FARGATE__REGION", "eu-central-1")
    settings = FargateSettings.from_config(loader())
    assert settings.cluster == "env-cluster"
    assert settings.subnets == ("subnet-x", "subnet-y")
    assert settings.efs_id == "fs-env"
    assert settings.region == "eu-central-1"


@pytest.mark.parametrize(
    "subnets",
    [
        ["subnet-a", "subnet-b"],  # the Loader stores a list as JSON
        '["subnet-a", "subnet-b"]',
        "subnet-a,subnet-b",
        " subnet-a , subnet-b ,",
    ],
)
def test_settings_subnets_forms(loader, subnets):
    settings = FargateSettings.from_config(loader(**{**REQUIRED, "subnets": subnets}))
    assert settings.subnets == ("subnet-a", "subnet-b")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("True", True),
        ("yes", True),
        ("1", True),
        (True, True),
        ("false", False),
        ("no", False),
        ("0", False),
        (False, False),
    ],
)
def test_settings_bools(loader, raw, expected):
    settings = FargateSettings.from_config(loader(**REQUIRED, efs_iam=raw, assign_public_ip=raw))
    assert settings.efs_iam is expected
    assert settings.assign_public_ip is expected


@pytest.mark.parametrize(
    ("key", "raw"),
    [
        ("efs_iam", "maybe"),
        ("default_cpu_shares", "lots"),
        ("default_memory_mb", "1.5"),
        ("watch_interval", "soon"),
        ("security_groups", "[not json"),
    ],
)
def test_settings_bad_values_name_the_key(loader, key, raw):
    with pytest.raises(ConfigError) as info:
        FargateSettings.from_config(loader(**REQUIRED, **{key: raw}))
    assert key in str(info.value)
    assert raw in str(info.value)


def test_settings_numbers(loader):
    settings = FargateSettings.from_config(
        loader(**REQUIRED, default_cpu_shares="2048", watch_interval="0.5")
    )
    assert settings.default_cpu_shares == 2048
    assert settings.watch_interval == 0.5


def test_settings_arm64_selects_arm_prices(loader):
    settings = FargateSettings.from_config(loader(**REQUIRED, architecture="ARM64"))
    assert settings.architecture == "ARM64"
    assert settings.prices == ARM_PRICES
    assert settings.prices != Prices()
    assert settings.cluster_config().architecture == "ARM64"


@pytest.mark.parametrize("architecture", ["AMD64", "i386", "aarch64", "RISCV"])
def test_settings_bad_architecture(loader, architecture):
    with pytest.raises(ConfigError) as info:
        FargateSettings.from_config(loader(**REQUIRED, architecture=architecture))
    assert "architecture" in str(info.value)


def test_cluster_config_adds_the_efs_security_group(loader):
    settings = FargateSettings.from_config(
        loader(
            **WITHOUT_REGION,
            security_groups='["sg-1", "sg-2"]',
            efs_security_group="sg-efs",
            efs_access_point="fsap-9",
            efs_iam="true",
            assign_public_ip="yes",
            efs_mountpoint="/efs",
            log_group="/my/logs",
            region="eu-west-1",
        )
    )
    config = settings.cluster_config()
    assert config.cluster == "wdl"
    assert config.subnets == ("subnet-a",)
    assert config.security_groups == ("sg-1", "sg-2", "sg-efs")
    assert config.assign_public_ip is True
    assert config.mountpoint == "/efs"
    assert config.log_group == "/my/logs"
    assert config.region == "eu-west-1"
    assert config.volume == {
        "fileSystemId": "fs-1",
        "transitEncryption": "ENABLED",
        "authorizationConfig": {"iam": "ENABLED", "accessPointId": "fsap-9"},
    }


def test_cluster_config_without_efs_security_group(loader):
    config = FargateSettings.from_config(
        loader(**REQUIRED, security_groups="sg-1")
    ).cluster_config()
    assert config.security_groups == ("sg-1",)


def test_task_definition_has_a_log_region_when_region_is_not_configured(loader, monkeypatch):
    # awslogs-region is a required awslogs option; with [aws_fargate] region unset the task
    # definition must still name the region the client uses (AWS_DEFAULT_REGION here).
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.delenv("AWS_REGION", raising=False)
    config = FargateSettings.from_config(loader(**WITHOUT_REGION)).cluster_config()
    options = _container(task_definition("ubuntu:22.04", config))["logConfiguration"]["options"]
    assert options["awslogs-region"] == "eu-west-1"


# disk sizes from WDL runtime values -------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Value.String("local-disk 100 SSD"), 100 * GIB),
        (Value.String("local-disk 100 HDD"), 100 * GIB),
        (Value.String("50 GiB"), 50 * GIB),
        (Value.String("50 gib"), 50 * GIB),
        (Value.String("local-disk 2 tb"), 2 * 10**12),
        (Value.String("250"), 250 * GIB),
        (Value.Int(30), 30 * GIB),
        (
            Value.Array(
                Type.String(),
                [Value.String("local-disk 10 SSD"), Value.String("300 GiB"), Value.String("5")],
            ),
            300 * GIB,
        ),
    ],
)
def test_disk_bytes(value, expected):
    assert _disk_bytes({"disks": value}) == expected


def test_disk_bytes_singular_key_and_missing():
    assert _disk_bytes({"disk": Value.String("40 GiB")}) == 40 * GIB
    assert _disk_bytes({}) is None
    assert _disk_bytes({"cpu": Value.Int(2)}) is None


# records from DescribeTasks ---------------------------------------------------------------------


def _description(**changes):
    task = {
        "taskArn": "arn:aws:ecs:us-east-1:123456789012:task/wdl/0123456789abcdef",
        "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/wdl",
        "lastStatus": "STOPPED",
        "desiredStatus": "STOPPED",
        "version": 5,
        "startedBy": "miniwdl-fargate/task/run1",
        "stopCode": "EssentialContainerExited",
        "containers": [{"name": "task", "exitCode": 0, "lastStatus": "STOPPED"}],
        "overrides": {
            "containerOverrides": [
                {
                    "name": "task",
                    "environment": [{"name": ENV_CALL_ID, "value": "call-hello"}],
                }
            ]
        },
        "createdAt": datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC),
        "stoppedAt": datetime(2024, 5, 1, 12, 3, 0, 250000, tzinfo=UTC),
        "cpu": "1024",
        "memory": "2048",
    }
    task.update(changes)
    return task


def test_record_from_description_complete():
    record = record_from_description(_description())
    assert record is not None
    assert record.state == State.COMPLETE
    assert record.version == 5
    assert record.call_id == "call-hello"
    assert record.run_id == "run1"
    assert record.task_id == "0123456789abcdef"
    assert record.exit_code == 0
    assert isinstance(record.stopped_at, str)
    assert record.stopped_at == "2024-05-01T12:03:00.250Z"  # the form events use
    stopped = datetime.fromisoformat(record.stopped_at.replace("Z", "+00:00"))
    assert stopped == datetime(2024, 5, 1, 12, 3, 0, 250000, tzinfo=UTC)
    assert record.log_stream is None  # no stream environment in this description
    json.dumps(record.to_item())  # storable


def test_record_from_description_log_stream_matches_awslogs():
    config = _config(log_stream_prefix="pfx", container_name="main")
    environment = [{"name": ENV_CALL_ID, "value": "call-hello"}] + [
        {"name": k, "value": v} for k, v in log_stream_environment(config).items()
    ]
    task = _description(overrides={"containerOverrides": [{"environment": environment}]})
    record = record_from_description(task)
    assert record is not None
    assert record.log_stream == log_stream(config, "0123456789abcdef")


def test_record_from_description_failed_exit():
    failed = _description(containers=[{"name": "task", "exitCode": 3}])
    record = record_from_description(failed)
    assert record is not None
    assert record.state == State.EXECUTOR_ERROR
    assert record.exit_code == 3


def test_record_from_description_foreign_task():
    assert record_from_description(_description(startedBy="ecs-svc/1234")) is None
    assert record_from_description(_description(startedBy=None)) is None


def test_no_region_anywhere_is_a_config_error(loader, monkeypatch):
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    with pytest.raises(ConfigError, match=r"\[aws_fargate\] region"):
        FargateSettings.from_config(loader(**WITHOUT_REGION))
