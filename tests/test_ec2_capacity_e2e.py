"""GPU and large tasks on EC2 capacity providers (issue 14), through a real ``miniwdl run``.

The fake Fargate harness plays the EC2 capacity providers too: it answers RunTask on them as ECS
does (refusing what ECS refuses), holds the task in PROVISIONING while the "group scales from
zero", then runs the command and sends the same events to the same status handler.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from fargate_env import FargateEnv
from fargate_harness import Ec2Provider
from local_mode import WDL_DIR

from chalicelib.capacity import DEFAULT_CAPACITIES, provider_name
from chalicelib.fargate import EcsLauncher
from chalicelib.launcher import LaunchError, TaskSpec
from chalicelib.states import State

pytestmark = pytest.mark.e2e
FARGATE_WDL = WDL_DIR / "fargate"
PREFIX = "wdl"
GPU_PROVISIONING_SECONDS = 1.7  # longer than reconcile_after (1.5 s): a quiet wait is no failure
OTHER_PROVISIONING_SECONDS = 0.5


def _enable_ec2(env: FargateEnv, **provisioning: float) -> None:
    env.env["MINIWDL__AWS_FARGATE__EC2_CAPACITY"] = "true"
    env.env["MINIWDL__AWS_FARGATE__EC2_CAPACITY_PREFIX"] = PREFIX
    for capacity in DEFAULT_CAPACITIES:
        default = GPU_PROVISIONING_SECONDS if capacity.gpus else OTHER_PROVISIONING_SECONDS
        env.harness.add_ec2_capacity_provider(
            Ec2Provider(
                provider_name(PREFIX, capacity),
                capacity.vcpu,
                capacity.memory_mib,
                capacity.gpus,
                capacity.spot,
                provisioning.get(capacity.name, default),
            )
        )


@pytest.fixture
def ec2(fargate: FargateEnv) -> FargateEnv:
    _enable_ec2(fargate)
    return fargate


def _by_call(env: FargateEnv) -> dict[str, list[Any]]:
    tasks: dict[str, list[Any]] = {}
    for task in env.harness.tasks.values():
        call = task.environment["MINIWDL_FARGATE_CALL_ID"]
        tasks.setdefault(call.rsplit("-", 1)[-1] if "-" in call else call, []).append(task)
    return tasks


def _strategy(task: Any) -> str:
    (entry,) = task.request["capacityProviderStrategy"]
    return str(entry["capacityProvider"])


def test_fargate_gpu_and_64_vcpu_tasks_in_one_run(ec2: FargateEnv) -> None:
    started = time.monotonic()
    code, result = ec2.run(FARGATE_WDL / "ec2_mixed.wdl")
    elapsed = time.monotonic() - started
    assert code == 0, result
    assert result["outputs"] == {"ec2_mixed.gpus": "GPU-fake-0", "ec2_mixed.aligned": 3}
    calls = _by_call(ec2)
    (small,), (basecall,), (align,) = calls["small"], calls["basecall"], calls["align"]

    # the Fargate task: as before
    assert _strategy(small) == "FARGATE" and small.request["platformVersion"] == "LATEST"
    assert (small.request["overrides"]["cpu"], small.request["overrides"]["memory"]) == (
        "1024",
        "2048",
    )
    # the GPU task: the cheapest L4 row, one GPU, an EC2 definition
    assert _strategy(basecall) == "wdl-gpu-l4"
    (container,) = basecall.request["overrides"]["containerOverrides"]
    assert container["resourceRequirements"] == [{"type": "GPU", "value": "1"}]
    assert (basecall.request["overrides"]["cpu"], basecall.request["overrides"]["memory"]) == (
        "4096",
        "16384",
    )
    # the 64-vCPU task: the compute row, no GPU
    assert _strategy(align) == "wdl-compute-64"
    assert (align.request["overrides"]["cpu"], align.request["overrides"]["memory"]) == (
        "65536",
        "102400",
    )
    assert "resourceRequirements" not in align.request["overrides"]["containerOverrides"][0]
    for task in (basecall, align):
        request = task.request
        assert "launchType" not in request and "platformVersion" not in request
        assert "ephemeralStorage" not in request["overrides"]
        assert request["networkConfiguration"]["awsvpcConfiguration"]["assignPublicIp"] == (
            "DISABLED"
        )
        definition = ec2.ecs.describe_task_definition(taskDefinition=request["taskDefinition"])
        definition = definition["taskDefinition"]
        assert definition["requiresCompatibilities"] == ["EC2"]
        assert definition["networkMode"] == "awsvpc"
        assert definition["family"].startswith("miniwdl-fargate-task-ec2-")
        assert definition["volumes"][0]["efsVolumeConfiguration"]["transitEncryption"] == (
            "ENABLED"
        )
    assert basecall.request["taskDefinition"] == align.request["taskDefinition"]  # one image
    assert basecall.provisioning_seconds >= GPU_PROVISIONING_SECONDS
    assert ec2.harness.ec2_refusals == []

    records = {r.call_id.rsplit("-", 1)[-1]: r for r in ec2.tasks()}
    assert all(r.state == State.COMPLETE and r.attempt == 1 for r in records.values())
    assert len(records) == 3  # the PROVISIONING waits were no failure: nothing retried
    assert records["basecall"].provisioning_seconds is not None
    assert records["basecall"].provisioning_seconds >= GPU_PROVISIONING_SECONDS - 0.1
    assert records["align"].provisioning_seconds is not None
    assert records["small"].provisioning_seconds is not None
    assert records["small"].provisioning_seconds < GPU_PROVISIONING_SECONDS
    # the platform shim records usage on EC2 capacity as on Fargate, for the report's costs
    for name in ("basecall", "align", "small"):
        usage = records[name].usage
        assert usage is not None and usage["exit_code"] == 0 and usage["seconds"] >= 0, name
    assert records["align"].capacity_provider == "wdl-compute-64"
    counters = ec2.backend_launcher.counters
    assert counters.run_task == 3
    assert counters.register_task_definition == 2  # Fargate's and EC2's, for one image
    print(
        f"\nharness run: {elapsed:.1f}s; provisioning (s)"
        f" small {records['small'].provisioning_seconds:.2f},"
        f" basecall {records['basecall'].provisioning_seconds:.2f},"
        f" align {records['align'].provisioning_seconds:.2f};"
        f" RunTask {counters.run_task}, DescribeTasks {counters.describe_tasks},"
        f" RegisterTaskDefinition {counters.register_task_definition}"
    )


def test_spot_on_ec2_is_interrupted_and_retried_on_demand(fargate: FargateEnv) -> None:
    ec2 = fargate
    _enable_ec2(ec2, **{"gpu-l4": 0.2, "gpu-l4-spot": 0.2})
    ec2.faults.spot_interrupt_first_attempt = True
    code, result = ec2.run(FARGATE_WDL / "ec2_mixed.wdl", "gpu_preemptible=1")
    assert code == 0, result
    attempts = sorted(_by_call(ec2)["basecall"], key=lambda t: t.version)
    assert [_strategy(t) for t in attempts] == ["wdl-gpu-l4-spot", "wdl-gpu-l4"]
    assert ec2.harness.spot_interruptions == 1
    states = sorted((r.attempt, r.state) for r in ec2.tasks() if r.call_id.endswith("basecall"))
    assert [s for _, s in states] == [State.PREEMPTED, State.COMPLETE]


def test_a_task_too_large_for_everything_is_refused_before_launch(ec2: FargateEnv) -> None:
    code, result = ec2.run(FARGATE_WDL / "sized.wdl", "cpu=96", "memory=700 GiB")
    assert code != 0
    message = _message(result)
    assert "call-big" in message and "96 vCPU" in message and "700 GiB" in message
    assert "memory-512" in message  # the largest capacity configured
    assert ec2.harness.tasks == {} and ec2.harness.run_task_attempts == 0


def test_provisioning_past_the_limit_fails_clearly_and_stops_the_task(
    fargate: FargateEnv,
) -> None:
    _enable_ec2(fargate, **{"gpu-l4": 60.0})
    code, result = fargate.run(
        FARGATE_WDL / "sized.wdl",
        "gpu=true",
        MINIWDL__AWS_FARGATE__PROVISIONING_TIMEOUT_SECONDS="1",
    )
    assert code != 0
    message = _message(result)
    assert "still PROVISIONING" in message and "wdl-gpu-l4" in message
    assert "provisioning_timeout_seconds" in message
    (task,) = fargate.harness.tasks.values()
    assert task.proc is None and task.last_status == "STOPPED"  # it never ran
    assert fargate.backend_launcher.counters.stop_task == 1
    (record,) = fargate.tasks()
    # ECS's timestamps (createdAt to stoppedAt) span the wait, give or take the launch call
    assert record.provisioning_seconds is not None and record.provisioning_seconds >= 0.9
    assert "still PROVISIONING" in (record.stopped_reason or "")


def test_the_harness_refuses_what_ecs_refuses(ec2: FargateEnv) -> None:
    """The launch checks above mean something: requests ECS would refuse are refused."""
    runtime_launcher = EcsLauncher(ec2.ecs, _cluster_config(ec2))
    spec = TaskSpec(
        run_id="r",
        role="task",
        command=["true"],
        image="ubuntu:22.04",
        capacity_provider="wdl-not-there",
    )
    with pytest.raises(LaunchError) as info:
        runtime_launcher.run_task(spec)
    assert "not associated with the cluster" in str(info.value)
    fargate_definition = runtime_launcher.task_definition_arn("ubuntu:22.04")
    base = {
        "cluster": "wdl",
        "count": 1,
        "capacityProviderStrategy": [{"capacityProvider": "wdl-gpu-l4", "weight": 1}],
        "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1"]}},
        "overrides": {"containerOverrides": []},
    }
    ec2_definition = runtime_launcher.task_definition_arn("ubuntu:22.04", ec2=True)
    for changes, complaint in [
        ({"taskDefinition": fargate_definition}, "launch_type EC2"),
        ({"launchType": "EC2"}, "not both"),
        ({"platformVersion": "LATEST"}, "Platform version"),
        ({"overrides": {"ephemeralStorage": {"sizeInGiB": 50}}}, "Ephemeral storage"),
    ]:
        request = {"taskDefinition": ec2_definition, **base, **changes}
        with pytest.raises(ec2.ecs.exceptions.InvalidParameterException) as refused:
            ec2.ecs.run_task(**request)
        assert complaint in str(refused.value)
    assert ec2.harness.tasks == {}


def _cluster_config(env: FargateEnv) -> Any:
    from chalicelib.backend_fargate import FargateSettings

    return FargateSettings(
        cluster="wdl",
        subnets=(env.env["MINIWDL__AWS_FARGATE__SUBNETS"],),
        efs_id=env.env["MINIWDL__AWS_FARGATE__EFS_ID"],
        region="us-east-1",
    ).cluster_config()


def _message(result: dict[str, Any]) -> str:
    parts = []
    while isinstance(result, dict):
        parts.append(str(result.get("message", "")))
        result = result.get("cause")  # type: ignore[assignment]
    return " ".join(parts)
