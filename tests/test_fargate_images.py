"""Images on real Fargate, what moto lets through: images with an ENTRYPOINT, downloads on ARM64,
pull-through caches and failed image pulls. The launch requests and task definitions the backend
produces, checked against ECS's and Docker's rules."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from fargate_env import FargateEnv
from local_mode import WDL_DIR
from WDL.runtime.config import Loader

from chalicelib import efs
from chalicelib.backend_fargate import (
    ConfigError,
    FargateSettings,
    check_download_images,
    is_download_task,
    is_image_pull_failure,
    pull_retry_delay,
    task_architecture,
    use_spot,
)
from chalicelib.ecs_events import ENV_CALL_ID
from chalicelib.fargate import (
    SHELL_ENTRY_POINT,
    ClusterConfig,
    cached_image,
    image_registry,
    parse_pull_through_cache,
    run_task_request,
    shell_command,
    task_definition,
)
from chalicelib.launcher import TaskSpec
from chalicelib.records import TaskRecord
from chalicelib.states import State

ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
CACHES = {
    "docker.io": f"{ECR}/mwf-docker-hub",
    "quay.io": f"{ECR}/mwf-quay",
    "ghcr.io": f"{ECR}/mwf-ghcr",
    "public.ecr.aws": f"{ECR}/mwf-ecr-public",
}
TOOLS_IMAGE = "ghcr.io/miniwdl-ext/miniwdl-tools:Id_sha256_ac79"
SCRIPT = "cd /mnt/efs/run/call/work && exec /bin/bash /mnt/efs/run/call/command"


def _config(**changes: Any) -> ClusterConfig:
    values: dict[str, Any] = {
        "cluster": "wdl",
        "subnets": ("subnet-a",),
        "security_groups": ("sg-1",),
        "volume": efs.volume_configuration(efs.EfsSettings("fs-123", "fsap-456")),
    }
    return ClusterConfig(**{**values, **changes})


def _spec(command: Sequence[str]) -> TaskSpec:
    return TaskSpec(run_id="r", role="task", command=list(command), image="samtools:1.19")


def docker_argv(
    image_entrypoint: Sequence[str],
    image_cmd: Sequence[str],
    container: Mapping[str, Any],
    override: Mapping[str, Any],
) -> list[str]:
    """What a container runs, as Docker and ECS decide it: the definition's ``entryPoint`` if
    set, else the image's ENTRYPOINT; then the override's ``command`` if set, else the
    definition's, else the image's CMD (dropped when the entry point is replaced)."""
    entrypoint = list(container.get("entryPoint") or image_entrypoint)
    if "command" in override:
        cmd = list(override["command"])
    elif "command" in container:
        cmd = list(container["command"])
    else:
        cmd = [] if container.get("entryPoint") else list(image_cmd)
    return entrypoint + cmd


# 1. images with an ENTRYPOINT ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("entrypoint", "cmd"),
    [
        ([], ["bash"]),  # ubuntu
        (["/usr/bin/tini", "--", "samtools"], ["--help"]),  # a tool image
        (["/docker-entrypoint.sh"], []),
    ],
)
def test_the_task_runs_its_script_under_sh_whatever_the_images_entrypoint(
    entrypoint: list[str], cmd: list[str]
) -> None:
    (container,) = task_definition("samtools:1.19", _config())["containerDefinitions"]
    assert container["entryPoint"] == ["/bin/sh", "-c"]
    request = run_task_request(
        _spec(["/bin/sh", "-c", SCRIPT]),
        _config(),
        "arn:td",
        started_by="x",
        shell_entry_point=True,
    )
    (override,) = request["overrides"]["containerOverrides"]
    assert override["command"] == [SCRIPT]
    assert docker_argv(entrypoint, cmd, container, override) == ["/bin/sh", "-c", SCRIPT]


def test_the_launcher_sends_the_script_alone_for_its_own_definitions(ecs_launcher: Any) -> None:
    launcher, harness = ecs_launcher
    launcher.run_task(_spec(["/bin/sh", "-c", "exit 7"]))
    (task,) = harness.tasks.values()
    assert task.request["overrides"]["containerOverrides"][0]["command"] == ["exit 7"]
    deadline = time.monotonic() + 10
    while task.last_status != "STOPPED" and time.monotonic() < deadline:
        time.sleep(0.05)
    # the fake Fargate ran the definition's entry point with the script: sh exited with 7
    assert (task.stop_code, task.exit_code) == ("EssentialContainerExited", 7)


def test_the_stacks_orchestrator_definition_gets_the_argv_as_it_is(ecs_launcher: Any) -> None:
    launcher, harness = ecs_launcher
    arn = launcher.task_definition_arn("orchestrator:1")
    argv = ["python", "-m", "chalicelib.orchestrator", "run1"]
    spec = TaskSpec(run_id="r", role="orchestrator", command=argv, task_definition=arn)
    launcher.run_task(spec)
    (task,) = harness.tasks.values()
    assert task.request["overrides"]["containerOverrides"][0]["command"] == argv


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["/bin/sh", "-c", "echo 'a b'"], ["echo 'a b'"]),
        (["python", "-c", "print('x y')"], ["exec python -c 'print('\"'\"'x y'\"'\"')'"]),
        (["/bin/sh", "-c", "echo $0", "zero"], ["exec /bin/sh -c 'echo $0' zero"]),
    ],
)
def test_shell_command(argv: list[str], expected: list[str]) -> None:
    assert shell_command(argv) == expected
    assert docker_argv([], [], {"entryPoint": list(SHELL_ENTRY_POINT)}, {"command": expected})[
        :2
    ] == ["/bin/sh", "-c"]


# 2. downloads when tasks run on ARM64 -------------------------------------------------------


def _settings(**changes: Any) -> FargateSettings:
    return FargateSettings(cluster="c", subnets=("s",), efs_id="fs", **changes)


@pytest.mark.parametrize(
    ("call", "architecture", "expected"),
    [
        ("download-aws_s3_cp", "ARM64", "X86_64"),
        ("download-aria2c", "ARM64", "X86_64"),
        ("download-aws_s3_cp_directory", "X86_64", "X86_64"),
        ("call-align", "ARM64", "ARM64"),
        ("call-download-1", "ARM64", "ARM64"),  # a user's call named download
        ("call-align", "X86_64", "X86_64"),
    ],
)
def test_downloads_run_on_x86_whatever_the_default(
    call: str, architecture: str, expected: str
) -> None:
    assert task_architecture(call, _settings(architecture=architecture)) == expected
    assert is_download_task(call) == call.startswith("download-")


def test_downloads_follow_download_architecture_when_their_images_allow() -> None:
    settings = _settings(architecture="X86_64", download_architecture="ARM64")
    assert task_architecture("download-aria2c", settings) == "ARM64"
    assert task_architecture("call-x", settings) == "X86_64"


@pytest.fixture
def loader(monkeypatch: pytest.MonkeyPatch) -> Any:
    for name in list(os.environ):
        if name.startswith(("MINIWDL__AWS_FARGATE__", "MINIWDL__DOWNLOAD_")):
            monkeypatch.delenv(name)

    def make(**overrides: dict[str, str]) -> Loader:
        cfg = {"aws_fargate": {"cluster": "c", "subnets": "s", "efs_id": "fs", "region": "r"}}
        for section, options in overrides.items():
            cfg[section] = {**cfg.get(section, {}), **options}
        return Loader(logging.getLogger("t"), filenames=[], overrides=cfg)

    return make


def test_arm64_downloads_with_x86_only_images_are_refused_clearly(loader: Any) -> None:
    with pytest.raises(ConfigError) as info:
        FargateSettings.from_config(loader(aws_fargate={"download_architecture": "ARM64"}))
    message = str(info.value)
    assert "download_architecture = ARM64" in message
    assert "ghcr.io/miniwdl-ext/miniwdl-tools" in message  # miniwdl's default tools image
    assert "download_architecture = X86_64" in message and "ARM64 build" in message


def test_arm64_downloads_with_arm64_images_are_accepted(loader: Any) -> None:
    images = {"docker": "public.ecr.aws/aws-cli/aws-cli:2.17.0"}
    settings = FargateSettings.from_config(
        loader(
            aws_fargate={"architecture": "ARM64", "download_architecture": "ARM64"},
            download_awscli=images,
            download_aria2c={"docker": "docker.io/p3terx/aria2-pro:latest"},
        )
    )
    assert settings.download_architecture == "ARM64"
    check_download_images("ARM64", {"[download_awscli] docker": images["docker"]})


def test_the_default_keeps_downloads_on_x86_with_arm64_tasks(loader: Any) -> None:
    settings = FargateSettings.from_config(loader(aws_fargate={"architecture": "ARM64"}))
    assert (settings.architecture, settings.download_architecture) == ("ARM64", "X86_64")


@pytest.mark.parametrize("value", ["arm", "AMD64", "x86_64"])
def test_bad_download_architecture(loader: Any, value: str) -> None:
    with pytest.raises(ConfigError, match="download_architecture must be X86_64 or ARM64"):
        FargateSettings.from_config(loader(aws_fargate={"download_architecture": value}))


# 6. pull-through caches -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "registry", "path"),
    [
        ("ubuntu:22.04", "docker.io", "library/ubuntu:22.04"),
        ("ubuntu", "docker.io", "library/ubuntu"),
        ("biocontainers/samtools:1.19", "docker.io", "biocontainers/samtools:1.19"),
        ("docker.io/library/ubuntu:22.04", "docker.io", "library/ubuntu:22.04"),
        ("index.docker.io/ubuntu@sha256:abc", "docker.io", "library/ubuntu@sha256:abc"),
        ("quay.io/biocontainers/samtools:1.19", "quay.io", "biocontainers/samtools:1.19"),
        ("ghcr.io/miniwdl-ext/miniwdl-tools:x", "ghcr.io", "miniwdl-ext/miniwdl-tools:x"),
        ("public.ecr.aws/lts/ubuntu:22.04", "public.ecr.aws", "lts/ubuntu:22.04"),
        ("localhost:5000/tool:1", "localhost:5000", "tool:1"),
        (f"{ECR}/mine:1", ECR, "mine:1"),
    ],
)
def test_image_registry(image: str, registry: str, path: str) -> None:
    assert image_registry(image) == (registry, path)


@pytest.mark.parametrize(
    ("image", "cached"),
    [
        ("ubuntu:22.04", f"{ECR}/mwf-docker-hub/library/ubuntu:22.04"),
        ("quay.io/biocontainers/samtools:1.19", f"{ECR}/mwf-quay/biocontainers/samtools:1.19"),
        (TOOLS_IMAGE, f"{ECR}/mwf-ghcr/miniwdl-ext/miniwdl-tools:Id_sha256_ac79"),
        ("public.ecr.aws/lts/ubuntu:22.04", f"{ECR}/mwf-ecr-public/lts/ubuntu:22.04"),
        # not cached: other registries, this account's ECR, private registries
        ("gcr.io/google.com/cloudsdktool/cloud-sdk:slim", None),
        (f"{ECR}/mine:1", None),
        ("registry.example.com:8443/team/tool:2", None),
    ],
)
def test_cached_image(image: str, cached: str | None) -> None:
    assert cached_image(image, CACHES) == (cached or image)
    assert cached_image(image, {}) == image


def test_docker_hub_cache_is_off_without_its_rule() -> None:
    without_hub = {k: v for k, v in CACHES.items() if k != "docker.io"}
    assert cached_image("ubuntu:22.04", without_hub) == "ubuntu:22.04"


def test_parse_pull_through_cache() -> None:
    entries = [f"registry-1.docker.io={ECR}/mwf-docker-hub/", f" quay.io = {ECR}/mwf-quay", ""]
    assert parse_pull_through_cache([e for e in entries if e]) == {
        "docker.io": f"{ECR}/mwf-docker-hub",
        "quay.io": f"{ECR}/mwf-quay",
    }
    for bad in ("quay.io", f"={ECR}/x", "quay.io=example.com/x", f"quay.io={ECR}"):
        with pytest.raises(ValueError, match="REGISTRY="):
            parse_pull_through_cache([bad])


def test_pull_through_cache_setting(loader: Any) -> None:
    entries = f"docker.io={ECR}/mwf-docker-hub,,quay.io={ECR}/mwf-quay"  # as the stack joins
    settings = FargateSettings.from_config(loader(aws_fargate={"pull_through_cache": entries}))
    assert settings.image_caches == {k: v for k, v in CACHES.items() if k in entries}
    assert FargateSettings.from_config(loader()).image_caches == {}  # off unless set
    with pytest.raises(ConfigError, match=r"\[aws_fargate\] pull_through_cache"):
        FargateSettings.from_config(loader(aws_fargate={"pull_through_cache": "quay.io"}))


def _record(**changes: Any) -> TaskRecord:
    values: dict[str, Any] = {
        "task_id": "t",
        "run_id": "r",
        "state": State.SYSTEM_ERROR,
        "updated_at": "x",
        "stop_code": "TaskFailedToStart",
        "stopped_reason": "CannotPullContainerError: failed to resolve ref: 429",
    }
    return TaskRecord(**{**values, **changes})


def test_is_image_pull_failure() -> None:
    assert is_image_pull_failure(_record())
    assert not is_image_pull_failure(_record(stopped_reason="ResourceInitializationError: EFS"))
    assert not is_image_pull_failure(_record(exit_code=1, state=State.EXECUTOR_ERROR))
    assert not is_image_pull_failure(_record(stopped_reason=None))


def test_pull_retry_delay_backs_off_with_jitter_and_a_cap() -> None:
    assert [pull_retry_delay(n, 10.0, 0.999999) for n in (1, 2, 3)] == pytest.approx(
        [10.0, 20.0, 40.0]
    )
    assert pull_retry_delay(1, 10.0, 0.0) == 5.0
    assert pull_retry_delay(20, 10.0, 0.999999) == pytest.approx(300.0)


# through the backend, on the fake Fargate -------------------------------------------------------


def _definition(fargate: FargateEnv, arn: str) -> dict[str, Any]:
    found: dict[str, Any] = fargate.ecs.describe_task_definition(taskDefinition=arn)
    return dict(found["taskDefinition"])


def _fake_aria2c(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An ``aria2c`` on PATH that "downloads" its last argument as a three-line file."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "aria2c"
    tool.write_text('#!/bin/sh\nfor a; do url=$a; done\nprintf "a\\nb\\nc\\n" > "${url##*/}"\n')
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")


@pytest.mark.e2e
def test_arm64_run_downloads_on_x86_through_the_caches(
    fargate: FargateEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_aria2c(tmp_path, monkeypatch)
    entries = ",".join(f"{k}={v}" for k, v in CACHES.items())
    code, result = fargate.run(
        WDL_DIR / "fargate" / "download.wdl",
        "page=https://example.com/data/page.txt",
        MINIWDL__AWS_FARGATE__ARCHITECTURE="ARM64",
        MINIWDL__AWS_FARGATE__PULL_THROUGH_CACHE=entries,
        MINIWDL__DOWNLOAD_ARIA2C__DOCKER=TOOLS_IMAGE,
    )
    assert code == 0, result
    assert result["outputs"] == {"download.lines": 3}
    launched = {
        t.environment[ENV_CALL_ID]: _definition(fargate, t.request["taskDefinition"])
        for t in fargate.harness.tasks.values()
    }
    assert set(launched) == {"download-aria2c", "call-count"}
    download, count = launched["download-aria2c"], launched["call-count"]
    assert download["runtimePlatform"]["cpuArchitecture"] == "X86_64"
    assert count["runtimePlatform"]["cpuArchitecture"] == "ARM64"
    assert download["containerDefinitions"][0]["image"] == cached_image(TOOLS_IMAGE, CACHES)
    assert count["containerDefinitions"][0]["image"] == f"{ECR}/mwf-docker-hub/library/ubuntu:22.04"
    for definition in launched.values():
        assert definition["containerDefinitions"][0]["entryPoint"] == ["/bin/sh", "-c"]


@pytest.mark.e2e
def test_failed_image_pulls_are_retried_apart_from_max_retries(fargate: FargateEnv) -> None:
    fargate.faults.image_pull_failures = 2
    code, result = fargate.run(
        WDL_DIR / "fails.wdl",
        MINIWDL__AWS_FARGATE__IMAGE_PULL_BACKOFF_SECONDS="0.01",
    )
    # the task ran once its image was pulled (and failed on purpose, as fails.wdl does), no
    # maxRetries spent on the pulls
    assert code == 3 and result["cause"]["exit_status"] == 3
    assert fargate.harness.pull_failures == {"call-ok": 2, "call-fail": 2}
    failing = [t for t in fargate.tasks() if t.call_id == "call-fail"]
    assert sorted((t.exit_code is None, t.attempt) for t in failing) == [
        (False, 1),  # ran: maxRetries untouched, the attempt still the first
        (True, 1),
        (True, 1),
    ]
    tokens = {t.request["clientToken"] for t in fargate.harness.tasks.values()}
    assert len(tokens) == 6  # each launch a new RunTask, not the stopped task again


@pytest.mark.e2e
def test_image_pulls_past_their_budget_fail_the_task_clearly(fargate: FargateEnv) -> None:
    fargate.faults.image_pull_failures = 10
    code, result = fargate.run(
        WDL_DIR / "fails.wdl",
        MINIWDL__AWS_FARGATE__IMAGE_PULL_BACKOFF_SECONDS="0.01",
        MINIWDL__AWS_FARGATE__IMAGE_PULL_RETRIES="2",
    )
    assert code != 0
    assert fargate.harness.pull_failures == {"call-ok": 3}  # and no further
    assert "could not be pulled (3 tries)" in json.dumps(result)
    assert "CannotPullContainerError" in json.dumps(result)


@pytest.fixture
def ecs_launcher(monkeypatch: pytest.MonkeyPatch) -> Any:
    """An ECS launcher on moto with the fake Fargate running its tasks."""
    import boto3
    from fargate_harness import FakeFargate
    from moto import mock_aws

    from chalicelib.fargate import EcsLauncher, new_ecs_client

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        ecs = new_ecs_client("us-east-1", max_attempts=2)
        ecs.create_cluster(clusterName="wdl", capacityProviders=["FARGATE", "FARGATE_SPOT"])
        subnet = boto3.client("ec2", region_name="us-east-1").describe_subnets()["Subnets"][0]
        harness = FakeFargate(lambda event: None)
        harness.attach(ecs)
        yield EcsLauncher(ecs, _config(subnets=(subnet["SubnetId"],))), harness
        deadline = time.monotonic() + 10  # let the tasks end while moto still answers
        while time.monotonic() < deadline and any(
            t.last_status != "STOPPED" for t in harness.tasks.values()
        ):
            time.sleep(0.05)


@pytest.mark.parametrize(
    ("preemptible", "interruptions", "architecture", "spot"),
    [
        (2, 0, "X86_64", True),
        (2, 2, "X86_64", False),
        (0, 0, "X86_64", False),
        (2, 0, "ARM64", False),  # Fargate Spot runs only X86_64 Linux tasks
    ],
)
def test_use_spot(preemptible: int, interruptions: int, architecture: str, spot: bool) -> None:
    assert use_spot(preemptible, interruptions, architecture) is spot
