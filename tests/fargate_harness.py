"""A fake Fargate for tests: moto keeps the ECS bookkeeping, this runs the tasks.

It hooks one boto3 ECS client (the one the ``aws_fargate`` backend gets):
- RunTask: moto records the task; the harness then really runs the container command override
  as a local process (its own process group, with the override environment) and sends the ECS
  "Task State Change" events a Fargate task would (PROVISIONING, PENDING, RUNNING, STOPPED with
  exit code, stop code and ``version``) to the real status handler, through a delivery that can
  duplicate, reorder and lose events.
- Memory: a WDL task's process runs in a memory cgroup of its own limited to the task's memory
  where this host allows it (``chalicelib.memory_cgroup``), and a kill for exceeding it is
  reported as Fargate reports one: exit code 137, container reason ``OutOfMemoryError``.
- StopTask: kills the process group and reports STOPPED with stop code UserInitiated.
- DescribeTasks: answers with the harness's view (moto's own lifecycle knows no exit codes).
- Faults on demand: throttled RunTask calls (a real HTTP 400 ThrottlingException, so botocore's
  retry mode handles them), "Capacity is unavailable" failures, Spot interruptions, lost STOPPED.
- EC2 capacity providers (``add_ec2_capacity_provider``): a RunTask with such a provider in its
  ``capacityProviderStrategy`` is refused for what ECS refuses (a provider not on the cluster, a
  ``launchType`` beside the strategy, a definition not EC2-compatible, Fargate-only fields);
  otherwise the task is held in PROVISIONING for the provider's ``provisioning_seconds`` (the
  Auto Scaling group scaling from zero; forever when no instance of the provider could take it),
  then run and reported like a Fargate task, with ``capacityProviderName`` in its events. A
  StopTask meanwhile stops it before it ever ran.
- Simulated containers (``simulate``, for scale runs): a WDL task whose command the callable
  accepts (e.g. ``trivial_command_seconds``: an empty command or ``sleep N``) is played without
  a process: the same events, its stdout/stderr files created and made read-only as the
  container's redirects and finalisation would, STOPPED with exit code 0 after the seconds the
  callable gave (one timer thread for all of them), or UserInitiated on StopTask. The shim's
  usage file is not written (the backend records no usage then). Every other task runs as a
  process, as before.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import os
import random
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.awsrequest import AWSResponse

from chalicelib import ecs_events, memory_cgroup
from chalicelib.fargate import LaunchLimits
from chalicelib.launcher import ENV_TASK_ARN
from chalicelib.local_launcher import HOST_ENVIRONMENT, READ_ONLY_OVERRIDES
from chalicelib.out_of_memory import ECS_OOM_REASON
from chalicelib.placement import make_outputs_read_only

Deliver = Callable[[dict[str, Any]], None]


class _Headers(dict[str, str]):
    pass


def _response(status: int, body: dict[str, Any]) -> AWSResponse:
    raw = json.dumps(body).encode()

    class _Raw:
        def stream(self, **_: Any) -> Any:
            yield raw

    return AWSResponse("https://ecs.fake", status, _Headers({"x-amzn-RequestId": "fake"}), _Raw())


@dataclass
class Faults:
    """What to break, and how often (fractions of calls or tasks)."""

    throttle_rate: float = 0.0
    capacity_rate: float = 0.0
    duplicate_rate: float = 0.0
    reorder_rate: float = 0.0
    spot_interrupt_first_attempt: bool = False
    lose_stopped: Callable[[dict[str, str]], bool] = lambda env: False
    fargate_limits: bool = False  # answer like ECS past 20 RunTask/s or the 100-task bucket
    # the first this many tasks of each call fail to pull their image: stopped with stop code
    # TaskFailedToStart, a CannotPullContainerError reason and no exit code, never running
    image_pull_failures: int = 0


@dataclass
class Ec2Provider:
    """An EC2 capacity provider: what one of its instances offers, and how long a task waits
    in PROVISIONING for an instance (scale from zero)."""

    name: str
    vcpu: int
    memory_mib: int
    gpus: int = 0
    spot: bool = False
    provisioning_seconds: float = 0.0


@dataclass
class FakeTask:
    arn: str
    request: dict[str, Any]
    spot: bool
    version: int = 0
    last_status: str = "PROVISIONING"
    exit_code: int | None = None
    stop_code: str | None = None
    stopped_reason: str | None = None
    container_reason: str | None = None
    proc: subprocess.Popen[bytes] | None = None
    user_stop: str | None = None
    interrupted: bool = False
    timestamps: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    provider: Ec2Provider | None = None
    provisioning_seconds: float = 0.0  # how long it was held in PROVISIONING

    @property
    def environment(self) -> dict[str, str]:
        container = self.request["overrides"]["containerOverrides"][0]
        return {e["name"]: e["value"] for e in container.get("environment", [])}


class FakeFargate:
    """See the module docstring."""

    def __init__(
        self,
        deliver: Deliver,
        faults: Faults | None = None,
        seed: int = 7,
        *,
        stop_grace_seconds: float = 2.0,
        wrap_command: Callable[[FakeTask, list[str]], list[str]] | None = None,
        output_dir: str | None = None,
        simulate: Callable[[FakeTask], float | None] | None = None,
    ) -> None:
        self.deliver = deliver
        self.simulate = simulate  # seconds a task is played for without a process, or None
        self.simulated = 0
        self._timers: list[tuple[float, int, FakeTask]] = []
        self._timers_cv = threading.Condition()
        self._timer_thread: threading.Thread | None = None
        self._played_ended: set[str] = set()
        self.faults = faults or Faults()
        self.stop_grace_seconds = stop_grace_seconds
        self.wrap_command = wrap_command
        self.output_dir = output_dir
        self._ecs: Any = None
        self._definition_env: dict[str, dict[str, str]] = {}
        self._definition_entry_points: dict[str, list[str]] = {}
        self.random = random.Random(seed)
        self.tasks: dict[str, FakeTask] = {}
        self.injected_throttles = 0
        self.injected_capacity_failures = 0
        self.spot_interruptions = 0
        self.lost_events = 0
        self.pull_failures: dict[str, int] = {}  # call id -> image pulls failed
        self.delivered = 0
        self.run_task_attempts = 0
        self.limit_throttles = 0
        self.started_at: list[float] = []
        self._limits = LaunchLimits(headroom=1.0)  # ECS's side: exactly the published limits
        self._lock = threading.Lock()
        self._held: list[dict[str, Any]] = []
        self.ec2_providers: dict[str, Ec2Provider] = {}
        self.ec2_refusals: list[str] = []  # RunTask calls refused, ECS's messages

    def add_ec2_capacity_provider(self, provider: Ec2Provider) -> None:
        """Associate an EC2 capacity provider with the cluster."""
        self.ec2_providers[provider.name] = provider

    # wiring

    def attach(self, ecs: Any) -> None:
        """Hook the ECS client's calls (before moto answers them, or after)."""
        self._ecs = ecs
        events = ecs.meta.events
        events.register("provide-client-params.ecs.RegisterTaskDefinition", _moto_memory)
        events.register("before-parameter-build.ecs.RunTask", self._remember_request)
        events.register_first("before-send.ecs.RunTask", self._maybe_fail_run_task)
        events.register("before-parameter-build.ecs.StopTask", self._remember_request)
        events.register("after-call.ecs.RunTask", self._on_run_task)
        events.register("after-call.ecs.StopTask", self._on_stop_task)
        events.register("after-call.ecs.DescribeTasks", self._on_describe_tasks)

    def _remember_request(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["harness_request"] = json.loads(json.dumps(params))

    def _maybe_fail_run_task(self, request: Any = None, **_: Any) -> AWSResponse | None:
        self.run_task_attempts += 1
        params = json.loads(request.body or b"{}") if request is not None else {}
        strategy = params.get("capacityProviderStrategy") or [{}]
        if strategy[0].get("capacityProvider") not in (None, "FARGATE", "FARGATE_SPOT"):
            refusal = self._check_ec2_request(params)
            # moto answers every call too (its answer is dropped when this one is given), and it
            # places EC2 tasks only on registered container instances: it sees a Fargate launch
            # (or, for a refused call, none), and the events, descriptions and stops are the
            # harness's, as for Fargate tasks.
            moto = {k: v for k, v in params.items() if k not in ("launchType", "platformVersion")}
            moto["capacityProviderStrategy"] = [{"capacityProvider": "FARGATE", "weight": 1}]
            moto["count"] = 0 if refusal else 1
            request.body = json.dumps(moto).encode()
            if "Content-Length" in request.headers:  # a moto server reads exactly this many
                request.headers["Content-Length"] = str(len(request.body))
            return refusal
        if self.faults.fargate_limits and not (
            self._limits.calls.try_take(1) and self._limits.tasks.try_take(1)
        ):
            self.limit_throttles += 1
            return _response(400, {"__type": "ThrottlingException", "message": "Rate exceeded"})
        with self._lock:
            roll = self.random.random()
        if roll < self.faults.throttle_rate:
            self.injected_throttles += 1
            return _response(400, {"__type": "ThrottlingException", "message": "Rate exceeded"})
        if roll < self.faults.throttle_rate + self.faults.capacity_rate:
            self.injected_capacity_failures += 1
            reason = (
                "Capacity is unavailable at this time. Please try again later or in a"
                " different availability zone"
            )
            return _response(200, {"tasks": [], "failures": [{"arn": "", "reason": reason}]})
        return None

    # EC2 capacity providers

    def _refuse(self, message: str) -> AWSResponse:
        self.ec2_refusals.append(message)
        return _response(400, {"__type": "InvalidParameterException", "message": message})

    def _check_ec2_request(self, params: dict[str, Any]) -> AWSResponse | None:
        """ECS's refusal of a RunTask on an EC2 capacity provider, or None if ECS takes it."""
        name = params["capacityProviderStrategy"][0]["capacityProvider"]
        if name not in self.ec2_providers:
            return self._refuse(
                "The specified capacity provider strategy cannot contain a capacity provider"
                f" that is not associated with the cluster ({name})."
            )
        if params.get("launchType"):
            return self._refuse(
                "Specify either Launch Type or Capacity Provider Strategy, but not both."
            )
        if params.get("platformVersion"):
            return self._refuse("Platform version is only supported on Fargate.")
        awsvpc = (params.get("networkConfiguration") or {}).get("awsvpcConfiguration") or {}
        if awsvpc.get("assignPublicIp") == "ENABLED":
            return self._refuse("Assign public IP is not supported for this launch type.")
        if "ephemeralStorage" in (params.get("overrides") or {}):
            return self._refuse("Ephemeral storage is only supported for Fargate tasks.")
        definition = self._ecs.describe_task_definition(taskDefinition=params["taskDefinition"])
        definition = definition["taskDefinition"]
        if "EC2" not in (definition.get("requiresCompatibilities") or []):
            return self._refuse("Task definition does not support launch_type EC2.")
        if definition.get("networkMode") != "awsvpc" or not awsvpc.get("subnets"):
            return self._refuse("Network Configuration must be provided for awsvpc tasks.")
        return None

    @staticmethod
    def _gpus(fake: FakeTask) -> int:
        overrides = fake.request.get("overrides") or {}
        return sum(
            int(r.get("value", 0))
            for c in overrides.get("containerOverrides", [])
            for r in c.get("resourceRequirements", [])
            if r.get("type") == "GPU"
        )

    def _placeable(self, fake: FakeTask) -> bool:
        """Whether an instance of the task's provider could take it (else it never leaves
        PROVISIONING, as with a capacity provider whose instances are all too small)."""
        provider = fake.provider
        assert provider is not None
        overrides = fake.request.get("overrides") or {}
        gpus = self._gpus(fake)
        return (
            int(overrides.get("cpu", 0)) <= provider.vcpu * 1024
            and int(overrides.get("memory", 0)) <= provider.memory_mib
            and gpus <= provider.gpus
        )

    def _hold_in_provisioning(self, fake: FakeTask) -> bool:
        """Keep an EC2 task in PROVISIONING while its provider "scales"; False if it was stopped
        meanwhile (then it is reported STOPPED, never having run)."""
        provider = fake.provider
        assert provider is not None
        wait = provider.provisioning_seconds if self._placeable(fake) else float("inf")
        started = time.monotonic()
        while time.monotonic() - started < wait:
            if fake.user_stop:
                fake.provisioning_seconds = time.monotonic() - started
                self._stop(fake, None, ecs_events.USER_STOP_CODE, fake.user_stop)
                return False
            time.sleep(0.02)
        fake.provisioning_seconds = time.monotonic() - started
        return True

    def _on_run_task(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        request = context.get("harness_request") or {}
        for task in parsed.get("tasks") or []:
            strategy = request.get("capacityProviderStrategy") or [{}]
            name = strategy[0].get("capacityProvider")
            provider = self.ec2_providers.get(name or "")
            fake = FakeTask(
                task["taskArn"],
                request,
                spot=name == "FARGATE_SPOT" or (provider is not None and provider.spot),
                provider=provider,
            )
            with self._lock:
                self.tasks[fake.arn] = fake
                self.started_at.append(time.monotonic())
            threading.Thread(target=self._run, args=(fake,), daemon=True).start()

    def _on_stop_task(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        arn = (parsed.get("task") or {}).get("taskArn", "")
        fake = self.tasks.get(arn)
        if fake is None:
            return
        with fake.lock:
            if fake.last_status == "STOPPED":
                return
            # ECS reports StopTask's reason as the task's stoppedReason
            reason = (context.get("harness_request") or {}).get("reason")
            fake.user_stop = reason or "Task stopped by user"
            played = fake.proc is None and fake.last_status == "RUNNING"
        if played and self.simulate is not None:
            with self._timers_cv:  # a played task ends now
                heapq.heappush(self._timers, (0.0, id(fake), fake))
                self._timers_cv.notify()
            return
        self._kill(fake)

    def _on_describe_tasks(self, parsed: dict[str, Any], **_: Any) -> None:
        for task in parsed.get("tasks") or []:
            fake = self.tasks.get(task.get("taskArn", ""))
            if fake is not None:
                task.update(self._detail(fake))

    # running a task

    def _definition_environment(self, fake: FakeTask) -> dict[str, str]:
        """The container environment of the task's definition, as ECS gives it (the stack's
        orchestrator definition carries the deployment's settings there)."""
        arn = str(fake.request.get("taskDefinition", ""))
        if arn not in self._definition_env:
            found = self._ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
            containers = found.get("containerDefinitions") or [{}]
            env = {e["name"]: e["value"] for e in containers[0].get("environment", [])}
            self._definition_env[arn] = env
        return self._definition_env[arn]

    def _definition_entry_point(self, fake: FakeTask) -> list[str]:
        """The container entry point of the task's definition: ECS runs it with the command
        override as its arguments (Docker's ENTRYPOINT and Cmd)."""
        arn = str(fake.request.get("taskDefinition", ""))
        if arn not in self._definition_entry_points:
            found = self._ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
            containers = found.get("containerDefinitions") or [{}]
            self._definition_entry_points[arn] = list(containers[0].get("entryPoint") or [])
        return self._definition_entry_points[arn]

    def _fails_pull(self, fake: FakeTask) -> bool:
        call = fake.environment.get(ecs_events.ENV_CALL_ID, "")
        with self._lock:
            failed = self.pull_failures.get(call, 0)
            if failed >= self.faults.image_pull_failures:
                return False
            self.pull_failures[call] = failed + 1
            return True

    def _run(self, fake: FakeTask) -> None:
        self._emit(fake, "PROVISIONING")
        if fake.provider is not None and not self._hold_in_provisioning(fake):
            return
        self._emit(fake, "PENDING")
        if self._fails_pull(fake):
            reason = (
                "CannotPullContainerError: pull image manifest has been retried 5 time(s):"
                " failed to resolve ref: 429 Too Many Requests"
            )
            self._stop(fake, None, "TaskFailedToStart", reason)
            return
        seconds = self.simulate(fake) if self.simulate is not None else None
        if seconds is not None:
            self._play(fake, seconds)
            return
        container = fake.request["overrides"]["containerOverrides"][0]
        # A WDL task's container has its image's environment (PATH, HOME...), not this
        # process's; the orchestrator's image is this project's, so it inherits ours.
        is_task = fake.request.get("startedBy", "").split("/")[1:2] == [ecs_events.ROLE_TASK]
        image_env = {k: os.environ[k] for k in HOST_ENVIRONMENT if k in os.environ}
        # ECS's metadata endpoint would tell the container its task ARN; this variable does.
        env = {
            **(image_env if is_task else os.environ),
            **self._definition_environment(fake),
            **fake.environment,
            ENV_TASK_ARN: fake.arn,
        }
        gpus = self._gpus(fake)
        if gpus:  # the ECS agent names a GPU task's GPUs to the NVIDIA container runtime
            env["NVIDIA_VISIBLE_DEVICES"] = ",".join(f"GPU-fake-{i}" for i in range(gpus))
        command = [*self._definition_entry_point(fake), *container["command"]]
        if is_task and os.geteuid() == 0:
            # On EFS the access point's POSIX user applies to every file access, even root's
            # in the container: root here plays that user by losing its permission overrides.
            drop = ",".join(f"-{cap}" for cap in READ_ONLY_OVERRIDES)
            command = ["setpriv", f"--bounding-set={drop}", "--", *command]
        if self.wrap_command is not None:
            command = self.wrap_command(fake, command)
        cgroup = self._memory_cgroup(fake) if is_task else None
        if cgroup is not None:
            command = cgroup.argv(command)
        out: Any = subprocess.DEVNULL
        if self.output_dir:  # the awslogs stream, for a test to read
            out = open(os.path.join(self.output_dir, fake.arn.rsplit("/", 1)[-1]), "ab")  # noqa: SIM115
        try:
            fake.proc = subprocess.Popen(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT if self.output_dir else subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as exn:
            if cgroup is not None:
                cgroup.remove()
            self._stop(fake, None, "TaskFailedToStart", f"CannotStartContainerError: {exn}")
            return
        self._emit(fake, "RUNNING")
        if (
            fake.spot
            and self.faults.spot_interrupt_first_attempt
            and fake.environment.get(ecs_events.ENV_ATTEMPT, "1") == "1"
            and not self._already_interrupted(fake)
        ):
            fake.interrupted = True
            self.spot_interruptions += 1
            self._kill(fake)
        code = fake.proc.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(fake.proc.pid, signal.SIGKILL)  # the container's end ends all in it
        exit_code = 128 - code if code < 0 else code
        if cgroup is not None:
            if cgroup.oom_killed():
                fake.container_reason = ECS_OOM_REASON
            cgroup.remove()
        if fake.user_stop:
            self._stop(fake, exit_code, ecs_events.USER_STOP_CODE, fake.user_stop)
        elif fake.interrupted:
            self._stop(fake, exit_code, "SpotInterruption", "Your Spot Task was interrupted.")
        else:
            self._stop(
                fake, exit_code, "EssentialContainerExited", "Essential container in task exited"
            )

    # simulated containers

    def _play(self, fake: FakeTask, seconds: float) -> None:
        """Run ``fake`` without a process: RUNNING now, STOPPED (exit code 0) after ``seconds``
        on the timer thread, unless StopTask comes first."""
        env = fake.environment
        for stream in (env.get(ecs_events.ENV_STDOUT), env.get(ecs_events.ENV_STDERR)):
            if stream:  # the wrapper's ">>" redirects create them
                open(stream, "ab").close()
        with self._lock:
            self.simulated += 1
        self._emit(fake, "RUNNING")
        with self._timers_cv:
            at = 0.0 if fake.user_stop else time.monotonic() + seconds  # stopped meanwhile
            heapq.heappush(self._timers, (at, id(fake), fake))
            if self._timer_thread is None:
                self._timer_thread = threading.Thread(
                    target=self._timer_loop, name="fake-fargate-timers", daemon=True
                )
                self._timer_thread.start()
            self._timers_cv.notify()

    def _timer_loop(self) -> None:
        while True:
            with self._timers_cv:
                while not self._timers or self._timers[0][0] > time.monotonic():
                    wait = self._timers[0][0] - time.monotonic() if self._timers else None
                    self._timers_cv.wait(wait)
                _, _, fake = heapq.heappop(self._timers)
            # its own thread, as a task's process ends on its own (and EventBridge delivers
            # each event to a Lambda of its own): one slow delivery delays no other end
            threading.Thread(target=self._end_played, args=(fake,), daemon=True).start()

    def _end_played(self, fake: FakeTask) -> None:
        """A played task's end: its files made read-only as the container's finalisation does
        (``finalize_script``), then STOPPED."""
        with self._lock:
            if fake.arn in self._played_ended:  # StopTask and its timer both ended it
                return
            self._played_ended.add(fake.arn)
        env = fake.environment
        stdout, stderr = env.get(ecs_events.ENV_STDOUT), env.get(ecs_events.ENV_STDERR)
        if stdout and stderr:
            work = os.path.join(os.path.dirname(stdout), "work")
            make_outputs_read_only(work, [stdout, stderr])
        if fake.user_stop:
            self._stop(fake, 143, ecs_events.USER_STOP_CODE, fake.user_stop)
        else:
            self._stop(fake, 0, "EssentialContainerExited", "Essential container in task exited")

    def _memory_cgroup(self, fake: FakeTask) -> memory_cgroup.MemoryCgroup | None:
        """The task's memory limit, as Fargate enforces it (None where cgroups can't do it)."""
        root = memory_cgroup.host_root()
        memory = str(fake.request["overrides"].get("memory") or "")
        if root is None or not memory.isdigit():
            return None
        return root.create(f"fake-{fake.arn.rsplit('/', 1)[-1]}", int(memory) * 1024 * 1024)

    def _already_interrupted(self, fake: FakeTask) -> bool:
        call = fake.environment.get(ecs_events.ENV_CALL_ID)
        with self._lock:
            return any(
                t.interrupted and t.environment.get(ecs_events.ENV_CALL_ID) == call
                for t in self.tasks.values()
                if t is not fake
            )

    def _kill(self, fake: FakeTask) -> None:
        proc = fake.proc
        if proc is None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return

        def escalate() -> None:
            time.sleep(self.stop_grace_seconds)
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)

        threading.Thread(target=escalate, daemon=True).start()

    def _stop(self, fake: FakeTask, exit_code: int | None, stop_code: str, reason: str) -> None:
        with fake.lock:
            fake.exit_code, fake.stop_code, fake.stopped_reason = exit_code, stop_code, reason
        lost = self.faults.lose_stopped(fake.environment)
        self._emit(fake, "STOPPED", lose=lost)
        self._flush_held()

    # events

    def _detail(self, fake: FakeTask) -> dict[str, Any]:
        # ECS names the container as its definition does; the launch's override names it too.
        name = fake.request["overrides"]["containerOverrides"][0].get("name", "task")
        container: dict[str, Any] = {"name": name, "lastStatus": fake.last_status}
        if fake.exit_code is not None:
            container["exitCode"] = fake.exit_code
        if fake.container_reason is not None:
            container["reason"] = fake.container_reason
        detail: dict[str, Any] = {
            "taskArn": fake.arn,
            "lastStatus": fake.last_status,
            "desiredStatus": "STOPPED" if fake.last_status == "STOPPED" else "RUNNING",
            "version": fake.version,
            "containers": [container],
            "startedBy": fake.request.get("startedBy", ""),
            "overrides": fake.request.get("overrides", {}),
            "cpu": fake.request["overrides"].get("cpu"),
            "memory": fake.request["overrides"].get("memory"),
        }
        if fake.stop_code:
            detail["stopCode"] = fake.stop_code
            detail["stoppedReason"] = fake.stopped_reason
        if fake.provider is not None:
            detail["launchType"] = "EC2"
            detail["capacityProviderName"] = fake.provider.name
        detail.update(fake.timestamps)
        return detail

    def _emit(self, fake: FakeTask, status: str, *, lose: bool = False) -> None:
        with fake.lock:
            fake.version += 1
            fake.last_status = status
            stamp = {
                "PROVISIONING": "createdAt",
                "PENDING": "pullStartedAt",
                "RUNNING": "startedAt",
                "STOPPED": "stoppedAt",
            }
            if status in stamp:
                fake.timestamps[stamp[status]] = _now()
            detail = self._detail(fake)
        event = {
            "version": "0",
            "id": f"{fake.arn}-{fake.version}",
            "detail-type": ecs_events.DETAIL_TYPE,
            "source": ecs_events.SOURCE,
            "account": "123456789012",
            "time": "",
            "region": "us-east-1",
            "resources": [fake.arn],
            "detail": {**detail, "clusterArn": "", "group": fake.request.get("group", "")},
        }
        if lose:
            self.lost_events += 1
            return
        with self._lock:
            roll = self.random.random()
            duplicate = self.random.random() < self.faults.duplicate_rate
        if roll < self.faults.reorder_rate and status != "STOPPED":
            with self._lock:
                self._held.append(event)  # delivered after a later event
            return
        self._send(event)
        self._flush_held()
        if duplicate:
            self._send(event)

    def _flush_held(self) -> None:
        with self._lock:
            held, self._held = self._held, []
        for event in held:
            self._send(event)

    def _send(self, event: dict[str, Any]) -> None:
        self.delivered += 1
        self.deliver(event)

    # for assertions

    def running(self) -> list[str]:
        """Tasks whose process is still alive."""
        return [a for a, t in self.tasks.items() if t.proc is not None and t.proc.poll() is None]


_TRIVIAL_COMMAND = re.compile(r"\s*(?:sleep\s+(\d+(?:\.\d*)?)\s*)?")


def trivial_command_seconds(fake: FakeTask) -> float | None:
    """A ``simulate`` callable: the seconds a WDL task's command would take if it is empty or
    only ``sleep N`` (its script beside its stdout, as the backend writes it), else None (run
    it). A task with such a command creates nothing but its stdout and stderr files."""
    stdout = fake.environment.get(ecs_events.ENV_STDOUT)
    if not stdout:
        return None
    try:
        with open(os.path.join(os.path.dirname(stdout), "command"), encoding="utf-8") as script:
            command = script.read()
    except OSError:
        return None
    found = _TRIVIAL_COMMAND.fullmatch(command)
    if found is None:
        return None
    return float(found.group(1) or 0.0)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _moto_memory(params: dict[str, Any], **_: Any) -> None:
    """moto's RunTask needs a container-level memory in FARGATE task definitions; real ECS does
    not (and a hard limit would fight the task-level size), so only the fixture adds it."""
    for container in params.get("containerDefinitions", []):
        container.setdefault("memory", 512)
