"""``make smoke``: a deployed stack checked end to end through its API, one line per check.

A few small workflows with known outputs go through the API: a scatter whose tasks pass Files to
a gather, a task that fails with a known exit code, a run cancelled while its task runs, and a
GPU task when the stack has its EC2 side. Then the checks: each run's end through the API, its
records in DynamoDB, its outputs in S3, the notifications (through a temporary SQS queue and
EventBridge rule on the stack's bus, removed afterwards), and no task left running. Nothing here
is specific to a real account: ``Smoke`` takes the API and the AWS clients, so the same logic runs
against the emulated stack in the tests.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .dynamodb_store import DynamoDbStore
from .ecs_events import STARTED_BY_PREFIX
from .records import TaskRecord

TERMINAL = frozenset({"COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR", "CANCELED"})
NOTE_SOURCE = "miniwdl-fargate"
RUN_NOTE = "WDL Run State Change"

SCATTER_WDL = """version 1.0

workflow smoke_scatter {
  input {
    Array[String] words = ["ada", "grace", "alan"]
  }
  scatter (word in words) {
    call write { input: word = word }
  }
  call gather { input: parts = write.out }
  output {
    File joined = gather.joined
    Int count = gather.count
  }
}

task write {
  input {
    String word
  }
  command <<<
    echo "~{word}" > word.txt
  >>>
  output {
    File out = "word.txt"
  }
  runtime {
    docker: "ubuntu:22.04"
    cpu: 0.25
    memory: "512 MiB"
  }
}

task gather {
  input {
    Array[File] parts
  }
  command <<<
    cat ~{sep=" " parts} > joined.txt
    wc -l < joined.txt
  >>>
  output {
    File joined = "joined.txt"
    Int count = read_int(stdout())
  }
  runtime {
    docker: "ubuntu:22.04"
    cpu: 0.25
    memory: "512 MiB"
  }
}
"""
SCATTER_JOINED = "ada\ngrace\nalan\n"

FAIL_WDL = """version 1.0

task smoke_fail {
  command <<<
    echo "failing on purpose" >&2
    exit 3
  >>>
  runtime {
    docker: "ubuntu:22.04"
    cpu: 0.25
    memory: "512 MiB"
  }
}
"""
FAIL_EXIT_CODE = 3

SLOW_WDL = """version 1.0

task smoke_slow {
  command <<<
    sleep 600
  >>>
  runtime {
    docker: "ubuntu:22.04"
    cpu: 0.25
    memory: "512 MiB"
  }
}
"""

GPU_WDL = """version 1.0

task smoke_gpu {
  command <<<
    (nvidia-smi -L 2>/dev/null || echo "${NVIDIA_VISIBLE_DEVICES:-}") | head -n 1
  >>>
  output {
    String gpu = read_string(stdout())
  }
  runtime {
    docker: "ubuntu:22.04"
    gpu: true
  }
}
"""


class Api(Protocol):
    """The three calls the smoke test makes to the WES API."""

    def submit(self, name: str, wdl: str, inputs: dict[str, Any]) -> str:
        """Submit ``wdl`` (a file named ``name``) with ``inputs``; the run id."""

    def state(self, run_id: str) -> str:
        """The run's WES state."""

    def cancel(self, run_id: str) -> None:
        """Ask for the run to be cancelled."""


@dataclass(frozen=True)
class Deployment:
    """What the checks read besides the API: the stack's names, and its AWS clients."""

    table: str
    bus: str
    bucket: str
    cluster: str
    ec2_capacity: bool
    dynamodb: Any
    s3: Any
    sqs: Any
    events: Any
    ecs: Any


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool | None  # None: skipped
    detail: str = ""

    def line(self) -> str:
        verdict = {True: "PASS", False: "FAIL", None: "SKIP"}[self.ok]
        return f"{verdict} {self.name}" + (f": {self.detail}" if self.detail else "")


@dataclass
class Smoke:
    """Runs the workflows and the checks; ``report`` gets each check as it is decided."""

    api: Api
    stack: Deployment
    report: Callable[[Check], None] = lambda check: print(check.line(), flush=True)
    timeout: float = 1800.0
    poll: float = 5.0
    checks: list[Check] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)

    @property
    def store(self) -> DynamoDbStore:
        return DynamoDbStore(self.stack.dynamodb, self.stack.table)

    def check(self, name: str, ok: bool | None, detail: str = "") -> bool:
        found = Check(name, ok, detail)
        self.checks.append(found)
        self.report(found)
        return bool(ok)

    def run(self) -> bool:
        """Every check; True if none failed."""
        with self.notifications() as collect:
            scatter = self.submit("smoke_scatter.wdl", SCATTER_WDL, {})
            failing = self.submit("smoke_fail.wdl", FAIL_WDL, {})
            slow = self.submit("smoke_slow.wdl", SLOW_WDL, {})
            gpu = self.submit("smoke_gpu.wdl", GPU_WDL, {}) if self.stack.ec2_capacity else ""
            self.check_cancel(slow)
            self.check_scatter(scatter)
            self.check_failing(failing)
            if gpu:
                self.check_gpu(gpu)
            else:
                self.check("gpu task", None, "the stack's Ec2Capacity is off")
            self.check_notifications(collect)
        self.check_nothing_running()
        return all(c.ok is not False for c in self.checks)

    def submit(self, name: str, wdl: str, inputs: dict[str, Any]) -> str:
        run_id = self.api.submit(name, wdl, inputs)
        self.run_ids.append(run_id)
        return run_id

    def wait(self, run_id: str, until: Callable[[str], bool] = TERMINAL.__contains__) -> str:
        deadline = time.monotonic() + self.timeout
        while True:
            state = self.api.state(run_id)
            if until(state) or time.monotonic() >= deadline:
                return state
            time.sleep(self.poll)

    def tasks(self, run_id: str) -> list[TaskRecord]:
        return self.store.list_tasks(run_id)

    # the workflows

    def check_scatter(self, run_id: str) -> None:
        state = self.wait(run_id)
        if not self.check("scatter: COMPLETE through the API", state == "COMPLETE", state):
            return
        run = self.store.get_run(run_id)
        values = (run.outputs or {}).get("values", {}) if run else {}
        count = values.get("smoke_scatter.count")
        self.check("scatter: outputs recorded", count == 3, f"count {count}")
        joined = str(values.get("smoke_scatter.joined", ""))
        text = self.s3_text(joined) if joined.startswith("s3://") else None
        self.check(
            "scatter: Files passed between tasks, output in S3",
            text == SCATTER_JOINED,
            f"{joined} holds {text!r}",
        )
        tasks = self.tasks(run_id)
        done = [t for t in tasks if t.state.value == "COMPLETE" and t.exit_code == 0]
        self.check(
            "scatter: task records in DynamoDB",
            len(tasks) == 4 and len(done) == 4 and run is not None and run.state.value == state,
            f"{len(done)} of {len(tasks)} tasks COMPLETE, run {run.state.value if run else None}",
        )

    def check_failing(self, run_id: str) -> None:
        state = self.wait(run_id)
        self.check("failing task: EXECUTOR_ERROR through the API", state == "EXECUTOR_ERROR", state)
        codes = sorted(t.exit_code for t in self.tasks(run_id) if t.exit_code is not None)
        self.check(
            f"failing task: exit code {FAIL_EXIT_CODE} recorded",
            FAIL_EXIT_CODE in codes,
            f"exit codes {codes}",
        )

    def check_cancel(self, run_id: str) -> None:
        def running(_state: str) -> bool:
            return any(t.state.value == "RUNNING" for t in self.tasks(run_id))

        self.wait(run_id, until=lambda s: s in TERMINAL or running(s))
        self.api.cancel(run_id)
        state = self.wait(run_id)
        self.check("cancel: CANCELED through the API", state == "CANCELED", state)
        left = [t.task_id for t in self.tasks(run_id) if t.state.value not in TERMINAL]
        self.check("cancel: its tasks ended", not left, f"still in flight: {left}" if left else "")

    def check_gpu(self, run_id: str) -> None:
        state = self.wait(run_id)
        run = self.store.get_run(run_id)
        values = (run.outputs or {}).get("values", {}) if run else {}
        gpu = str(values.get("smoke_gpu.gpu", ""))
        self.check("gpu task: COMPLETE and saw a GPU", state == "COMPLETE" and bool(gpu), gpu)

    # what the checks read

    def s3_text(self, uri: str) -> str | None:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        try:
            body = self.stack.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except self.stack.s3.exceptions.NoSuchKey:
            return None
        return str(body.decode())

    @contextlib.contextmanager
    def notifications(self) -> Iterator[Callable[[], list[dict[str, Any]]]]:
        """A temporary SQS queue receiving the bus's events while the smoke test runs; yields
        a function that returns every event received so far. Removed afterwards."""
        name = f"miniwdl-fargate-smoke-{uuid.uuid4().hex[:8]}"
        sqs, events = self.stack.sqs, self.stack.events
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        rule_arn = ""
        try:
            queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
            rule_arn = events.put_rule(
                Name=name,
                EventBusName=self.stack.bus,
                EventPattern=json.dumps({"source": [NOTE_SOURCE]}),
            )["RuleArn"]
            policy = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "events.amazonaws.com"},
                        "Action": "sqs:SendMessage",
                        "Resource": queue_arn,
                        "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
                    }
                ],
            }
            sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
            events.put_targets(
                Rule=name, EventBusName=self.stack.bus, Targets=[{"Id": "smoke", "Arn": queue_arn}]
            )
            seen: list[dict[str, Any]] = []

            def collect() -> list[dict[str, Any]]:
                while True:
                    batch = sqs.receive_message(
                        QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1
                    ).get("Messages", [])
                    if not batch:
                        return seen
                    for message in batch:
                        seen.append(json.loads(message["Body"]))
                        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

            yield collect
        finally:
            if rule_arn:
                with contextlib.suppress(Exception):
                    events.remove_targets(Rule=name, EventBusName=self.stack.bus, Ids=["smoke"])
                with contextlib.suppress(Exception):
                    events.delete_rule(Name=name, EventBusName=self.stack.bus)
            sqs.delete_queue(QueueUrl=url)

    def check_notifications(self, collect: Callable[[], list[dict[str, Any]]]) -> None:
        """Every run announced its final state on the bus (delivery may lag a little)."""
        expected = {}
        for run_id in self.run_ids:
            run = self.store.get_run(run_id)
            expected[run_id] = run.state.value if run else "?"
        deadline = time.monotonic() + min(self.timeout, 120.0)
        missing = dict(expected)
        while missing and time.monotonic() < deadline:
            for note in collect():
                detail = note.get("detail") or {}
                run_id = str(detail.get("run_id", ""))
                if note.get("detail-type") == RUN_NOTE and detail.get("state") == missing.get(
                    run_id
                ):
                    missing.pop(run_id)
            if missing:
                time.sleep(min(self.poll, 1.0))
        self.check(
            "notifications: each run's end announced on the bus",
            not missing,
            f"{len(expected) - len(missing)} of {len(expected)}"
            + (f"; not seen: {missing}" if missing else ""),
        )

    def check_nothing_running(self) -> None:
        """No ECS task of these runs is left in flight (orchestrators or WDL tasks)."""
        ecs, cluster = self.stack.ecs, self.stack.cluster
        ours = {f"{STARTED_BY_PREFIX}/{role}/{r}" for r in self.run_ids for role in ROLES}
        deadline = time.monotonic() + min(self.timeout, 300.0)
        while True:
            arns = ecs.list_tasks(cluster=cluster, desiredStatus="RUNNING").get("taskArns", [])
            left = []
            for start in range(0, len(arns), 100):
                described = ecs.describe_tasks(cluster=cluster, tasks=arns[start : start + 100])
                left += [
                    t["taskArn"]
                    for t in described.get("tasks", [])
                    if t.get("startedBy") in ours and t.get("lastStatus") != "STOPPED"
                ]
            if not left or time.monotonic() >= deadline:
                break
            time.sleep(self.poll)
        self.check("no task left running", not left, ", ".join(left))


ROLES = ("orchestrator", "task")


# a real account ---------------------------------------------------------------------------


class WesApi:
    """``Api`` over the project's WES client (SigV4-signed for API Gateway)."""

    def __init__(self, url: str) -> None:
        from .wes_client import WesClient

        self.client = WesClient(url)
        self.workdir = Path(tempfile.mkdtemp(prefix="miniwdl-fargate-smoke-"))

    def submit(self, name: str, wdl: str, inputs: dict[str, Any]) -> str:
        from .wes_client import package_run

        path = self.workdir / name
        path.write_text(wdl)
        inputs_file = self.workdir / f"{name}.json"
        inputs_file.write_text(json.dumps(inputs))
        return self.client.submit_run(package_run(str(path), input_file=str(inputs_file)))

    def state(self, run_id: str) -> str:
        return str(self.client.get_run_status(run_id)["state"])

    def cancel(self, run_id: str) -> None:
        self.client.cancel_run(run_id)


def deployment_of(stack_name: str, region: str | None) -> tuple[str, Deployment]:
    """(API URL, the deployment) from a stack's outputs and parameters."""
    import boto3

    session = boto3.session.Session(region_name=region)
    described = session.client("cloudformation").describe_stacks(StackName=stack_name)
    stack = described["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    parameters: dict[str, str] = {
        str(p["ParameterKey"]): str(p.get("ParameterValue", ""))
        for p in stack.get("Parameters", [])
    }
    deployment = Deployment(
        table=outputs["Table"],
        bus=outputs["EventBus"],
        bucket=outputs["Bucket"],
        cluster=outputs["Cluster"],
        ec2_capacity=parameters.get("Ec2Capacity") == "true",
        **{name: session.client(name) for name in ("dynamodb", "s3", "sqs", "events", "ecs")},
    )
    return outputs["ApiUrl"], deployment


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make smoke", description="Check a deployed stack end to end through its API."
    )
    parser.add_argument("--stack", default="miniwdl-fargate")
    parser.add_argument("--region", default=None)
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per run")
    args = parser.parse_args(argv)
    url, deployment = deployment_of(args.stack, args.region)
    smoke = Smoke(WesApi(url), deployment, timeout=args.timeout)
    ok = smoke.run()
    print(f"{'all checks passed' if ok else 'some checks FAILED'} ({len(smoke.checks)} checks)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
