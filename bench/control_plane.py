"""Control-plane scenarios of ``make bench``: the submit Lambda's path, the status Lambda's event
handling, the app's cold import and the Lambda package's size.

``bench/run.py`` runs each scenario in its own process (``python bench/control_plane.py NAME``),
so moto's patches, the app's module state and miniwdl's import cost belong to that scenario
alone. Each prints one JSON line on stdout. The app's own output (Powertools' JSON log lines and
EMF metrics, which Lambda would send to CloudWatch) goes to /dev/null, so stdout stays
machine-readable; progress notes go to stderr.

The AWS scenarios run the app in process against moto (``mock_aws``) with the environment the
stack gives its Lambdas, and count every AWS API call botocore makes, by operation. moto's
latency is not AWS's: the call counts are the portable result, the milliseconds are this code's
own cost plus moto's (reported apart where it matters).

    BENCH_SUBMISSIONS  timed submissions after the warm-up (default 50)
    BENCH_EVENTS       fresh ECS events fed to the status handler (default 2000)
"""

from __future__ import annotations

import gc
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

REPO = Path(__file__).resolve().parent.parent
BIN_DIR = Path(sys.executable).parent
REGION = "us-east-1"
ACCOUNT = "123456789012"
BASE = "/ga4gh/wes/v1"
HELLO_WDL = REPO / "examples" / "hello.wdl"

# The stack's resource names, as its environment would give them to the Lambdas.
TABLE = "bench-runs"
BUS = "bench-bus"
CLUSTER = "bench"
BUCKET = "bench-bucket"
ORCHESTRATOR_FAMILY = "bench-orchestrator"

SUBMIT_MAX_CALLS = 4  # the target: at most 4 AWS calls per submission
EVENT_MAX_WRITES = 1  # at most one conditional write per ECS event
COLD_IMPORT_MAX_MS = 500.0
LAMBDA_ZIPPED_MAX_BYTES = 50 * 1024 * 1024
LAMBDA_UNZIPPED_MAX_BYTES = 250 * 1024 * 1024
WRITE_OPERATIONS = frozenset(
    {
        "dynamodb.PutItem",
        "dynamodb.UpdateItem",
        "dynamodb.DeleteItem",
        "dynamodb.TransactWriteItems",
        "dynamodb.BatchWriteItem",
    }
)
SUBPROCESS_TIMEOUT_S = 120
REPETITIONS = 5

Result = dict[str, Any]


def _note(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _env_int(name: str, default: int) -> int:
    """A positive integer setting from the environment."""
    value = int(os.environ.get(name, default))
    if value < 1:
        raise SystemExit(f"{name} must be at least 1, not {value}")
    return value


def _percentile(values: list[float], pct: int) -> float:
    """The ``pct``-th percentile (inclusive method: never beyond the largest sample)."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


# ---- counting AWS calls ------------------------------------------------------------------------


@dataclass
class AwsCalls:
    """Every AWS API call botocore makes through the emitter it is attached to, counted as
    "service.Operation" (``before-call``: one per API call, retries not counted again), with
    the calls that failed (HTTP status 300 or more, e.g. a failed DynamoDB condition) and the
    time spent inside the calls (moto's share of the wall time)."""

    counts: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    _started: float = 0.0

    def attach(self, emitter: Any) -> None:
        """Count calls of every client built from now on with this botocore event emitter
        (clients copy their session's emitter when they are created)."""
        emitter.register("before-call", self._before)
        emitter.register("after-call", self._after)

    def _before(self, model: Any, **_: Any) -> None:
        self.counts[_operation(model)] += 1
        self._started = time.perf_counter()

    def _after(self, model: Any, http_response: Any, **_: Any) -> None:
        self.seconds += time.perf_counter() - self._started
        if http_response.status_code >= 300:
            self.failed[_operation(model)] += 1

    def take(self) -> tuple[Counter[str], Counter[str], float]:
        """The calls since the last ``take`` (counts, failed, seconds), and start afresh."""
        taken = (self.counts, self.failed, self.seconds)
        self.counts, self.failed, self.seconds = Counter(), Counter(), 0.0
        return taken


def _operation(model: Any) -> str:
    return f"{model.service_model.service_name}.{model.name}"


def _writes(counts: Mapping[str, int]) -> int:
    return sum(n for op, n in counts.items() if op in WRITE_OPERATIONS)


@dataclass
class FullCollections:
    """The pauses of the garbage collector's full (generation 2) collections while attached:
    with miniwdl, boto3 and moto's state in one heap, one of them can dominate a p99."""

    pauses_ms: list[float] = field(default_factory=list)
    _started: float = 0.0

    def __enter__(self) -> FullCollections:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *_: object) -> None:
        gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif info["generation"] == 2:
            self.pauses_ms.append(_ms(time.perf_counter() - self._started))


# ---- the stack on moto -------------------------------------------------------------------------


@dataclass(frozen=True)
class Stack:
    """The mocked stack: its setup session's clients (not counted) and the app's call counter."""

    setup: Any  # a boto3 Session of its own, so setting up and checking are not counted
    calls: AwsCalls


@contextmanager
def mocked_stack() -> Iterator[Stack]:
    """moto with the stack's resources and the environment the stack gives the Lambdas; the
    app's clients (all built through boto3's default session) are counted."""
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "MINIWDL_FARGATE_API_AUTH": "none",  # read when app is imported
        }
    )
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(key, None)
    import boto3
    from moto import mock_aws

    with mock_aws():
        setup = boto3.session.Session(region_name=REGION)
        os.environ.update(_create_resources(setup))
        boto3.setup_default_session(region_name=REGION)
        calls = AwsCalls()
        assert boto3.DEFAULT_SESSION is not None
        calls.attach(boto3.DEFAULT_SESSION.events)
        yield Stack(setup, calls)


def _create_resources(setup: Any) -> dict[str, str]:
    """The table, bucket, bus, cluster and orchestrator task definition; returns the Lambdas'
    ``MINIWDL_FARGATE_*`` environment naming them."""
    from chalicelib.deployment import ORCHESTRATOR_CONTAINER
    from chalicelib.dynamodb_store import table_definition

    setup.client("dynamodb").create_table(**table_definition(TABLE))
    setup.client("s3").create_bucket(Bucket=BUCKET)
    setup.client("events").create_event_bus(Name=BUS)
    ecs = setup.client("ecs")
    ecs.create_cluster(clusterName=CLUSTER)
    definition = ecs.register_task_definition(
        family=ORCHESTRATOR_FAMILY,
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="1024",
        memory="4096",
        # moto's RunTask needs container-level memory on a FARGATE task definition
        containerDefinitions=[
            {"name": ORCHESTRATOR_CONTAINER, "image": "orchestrator:bench", "memory": 4096}
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    ec2 = setup.client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
    subnet = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])
    groups = ec2.describe_security_groups(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc["VpcId"]]},
            {"Name": "group-name", "Values": ["default"]},
        ]
    )
    return {
        "MINIWDL_FARGATE_TABLE": TABLE,
        "MINIWDL_FARGATE_BUS": BUS,
        "MINIWDL_FARGATE_CLUSTER": CLUSTER,
        "MINIWDL_FARGATE_BUCKET": BUCKET,
        "MINIWDL_FARGATE_ORCHESTRATOR_TASK_DEFINITION": definition,
        "MINIWDL_FARGATE_SUBNETS": subnet["Subnets"][0]["SubnetId"],
        "MINIWDL_FARGATE_SECURITY_GROUPS": groups["SecurityGroups"][0]["GroupId"],
    }


# ---- submit ------------------------------------------------------------------------------------


def multipart(
    fields: Mapping[str, str], files: Mapping[str, bytes]
) -> tuple[dict[str, str], bytes]:
    """The headers and body of a WES ``POST /runs`` multipart/form-data request: ``fields`` as
    form fields, ``files`` as ``workflow_attachment`` parts."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    for filename, data in files.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="workflow_attachment";'
            f' filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        )
        parts.append(head.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return {"Content-Type": f"multipart/form-data; boundary={boundary}"}, b"".join(parts)


@dataclass(frozen=True)
class Submission:
    """One ``POST /runs`` as the client saw it, with the AWS calls it made."""

    status: int
    run_id: str
    seconds: float
    calls: Counter[str]
    failed: Counter[str]
    aws_seconds: float

    def as_dict(self) -> Result:
        return {
            "status": self.status,
            "ms": _ms(self.seconds),
            "calls": sum(self.calls.values()),
            "calls_by_operation": dict(sorted(self.calls.items())),
            "failed_calls": dict(sorted(self.failed.items())),
        }


def _post_run(client: Any, calls: AwsCalls, idempotency_key: str | None = None) -> Submission:
    """Submit examples/hello.wdl as an attachment through the app's route, timed and counted."""
    headers, body = multipart(
        {
            "workflow_url": "hello.wdl",
            "workflow_type": "WDL",
            "workflow_type_version": "1.1",
            "workflow_params": json.dumps({"hello.names": ["Ada", "Grace"]}),
            "tags": json.dumps({"bench": "submit"}),
        },
        {"hello.wdl": HELLO_WDL.read_bytes()},
    )
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    calls.take()
    started = time.perf_counter()
    response = client.http.post(f"{BASE}/runs", headers=headers, body=body)
    seconds = time.perf_counter() - started
    counts, failed, aws_seconds = calls.take()
    run_id = (response.json_body or {}).get("run_id", "") if response.status_code == 200 else ""
    if response.status_code != 200:
        _note(f"submit: HTTP {response.status_code}: {response.body[:300]!r}")
    return Submission(response.status_code, run_id, seconds, counts, failed, aws_seconds)


def _per_submission(samples: list[Submission]) -> dict[str, float]:
    """Mean calls per submission by operation (whole numbers when every submission agrees)."""
    total: Counter[str] = Counter()
    for sample in samples:
        total.update(sample.calls)
    return {op: round(n / len(samples), 2) for op, n in sorted(total.items())}


def _idempotent_repeats(client: Any, stack: Stack) -> Result:
    """A submission with an Idempotency-Key, its repeat while the orchestrator has not reported
    in yet (moto never runs it), and a repeat after its RUNNING event named its task."""
    from chalicelib.deployment import control_plane_from_environment
    from chalicelib.ecs_events import ROLE_ORCHESTRATOR
    from chalicelib.status import handle_ecs_event

    key = f"bench-{uuid.uuid4().hex}"
    first = _post_run(client, stack.calls, key)
    repeat = _post_run(client, stack.calls, key)
    ecs = stack.setup.client("ecs")
    for task_arn in _task_arns(ecs, startedBy=_started_by(first.run_id))[:1]:
        event = _ecs_event(task_arn, first.run_id, 2, "RUNNING", role=ROLE_ORCHESTRATOR)
        handle_ecs_event(event, control_plane_from_environment())
    stack.calls.take()  # the event's own calls are the events scenario's business
    repeat_after = _post_run(client, stack.calls, key)
    same = first.run_id and first.run_id == repeat.run_id == repeat_after.run_id
    launched = _task_arns(ecs, startedBy=_started_by(first.run_id))
    return {
        "first": first.as_dict(),
        "repeat_before_orchestrator_running": repeat.as_dict(),
        "repeat_after_orchestrator_running": repeat_after.as_dict(),
        "same_run_id": bool(same),
        # moto ignores RunTask's clientToken; ECS would start one task for the three
        "orchestrator_tasks_started_on_moto": len(launched),
    }


def _task_arns(ecs: Any, **filters: str) -> list[str]:
    """The cluster's tasks on moto (every page), e.g. ``startedBy=...``."""
    pages = ecs.get_paginator("list_tasks").paginate(cluster=CLUSTER, **filters)
    return [arn for page in pages for arn in page["taskArns"]]


def _started_by(run_id: str) -> str:
    from chalicelib.ecs_events import ROLE_ORCHESTRATOR, started_by

    return started_by(ROLE_ORCHESTRATOR, run_id)


def submit_scenario() -> Result:
    """The WES submit path as the Lambda runs it: ``POST /runs`` through Chalice's test client
    against moto. One warm-up (miniwdl's import and grammar build land on a Lambda's first
    submission too), then timed submissions; the target is at most 4 AWS calls each."""
    count = _env_int("BENCH_SUBMISSIONS", 50)
    with mocked_stack() as stack:
        from chalice.test import Client

        import app

        with Client(app.app, project_dir=str(REPO)) as client:
            warm_up = _post_run(client, stack.calls)
            with FullCollections() as collections:
                samples = [_post_run(client, stack.calls) for _ in range(count)]
            idempotency = _idempotent_repeats(client, stack)
        launched = _task_arns(stack.setup.client("ecs"))
    ok = [s for s in samples if s.status == 200 and s.run_id]
    failures = count - len(ok) + (warm_up.status != 200)
    times = [s.seconds for s in ok] or [0.0]
    own = [s.seconds - s.aws_seconds for s in ok] or [0.0]
    most = max((sum(s.calls.values()) for s in ok), default=0)
    return {
        "scenario": "submit",
        "submissions": count,
        "first_submission_ms": _ms(warm_up.seconds),
        "first_submission_calls": dict(sorted(warm_up.calls.items())),
        "p50_ms": _ms(statistics.median(times)),
        "p99_ms": _ms(_percentile(times, 99)),
        "p50_ms_without_aws_calls": _ms(statistics.median(own)),
        "max_ms": _ms(max(times)),
        "full_gc_pauses_ms": collections.pauses_ms,
        "calls_per_submission": _per_submission(ok) if ok else {},
        "max_calls_per_submission": most,
        "target_max_calls": SUBMIT_MAX_CALLS,
        "meets_target": bool(ok) and most <= SUBMIT_MAX_CALLS,
        "idempotency_key": idempotency,
        "orchestrator_tasks_on_moto": len(launched),
        "failures": failures,
    }


# ---- events ------------------------------------------------------------------------------------

# The lastStatus values a task's events walk through, with the exit code of the last.
TASK_LIFECYCLE: tuple[tuple[str, int | None], ...] = (
    ("PROVISIONING", None),
    ("PENDING", None),
    ("RUNNING", None),
    ("STOPPED", 0),
)
DUPLICATE_SHARE = 0.10  # of each wave of events, re-delivered (same version)
STALE_SHARE = 0.05  # of the previous wave, delivered again after a newer version
EVENTS_RUN_ID = "20250101-000000-bench0001"
TASK_FAMILY = "bench-task"


def _ecs_event(
    task_arn: str,
    run_id: str,
    version: int,
    last_status: str,
    *,
    role: str = "",
    call_id: str = "",
    exit_code: int | None = None,
) -> dict[str, Any]:
    """An ECS "Task State Change" event as EventBridge delivers it, tagged the way this
    project's launcher tags its tasks (``startedBy`` and the identity environment)."""
    from chalicelib import ecs_events

    role = role or ecs_events.ROLE_TASK
    environment = {ecs_events.ENV_RUN_ID: run_id}
    if role == ecs_events.ROLE_TASK:
        environment |= {ecs_events.ENV_CALL_ID: call_id, ecs_events.ENV_ATTEMPT: "1"}
    timestamps = {"createdAt": "2025-01-01T00:00:00.000Z"}
    if last_status in ("RUNNING", "STOPPED"):
        timestamps["startedAt"] = "2025-01-01T00:00:30.000Z"
    if last_status == "STOPPED":
        timestamps["stoppedAt"] = "2025-01-01T00:01:30.000Z"
    family = ORCHESTRATOR_FAMILY if role == ecs_events.ROLE_ORCHESTRATOR else TASK_FAMILY
    return ecs_events.task_state_change(
        task_arn=task_arn,
        cluster_arn=f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{CLUSTER}",
        task_definition_arn=f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{family}:1",
        started_by_value=ecs_events.started_by(role, run_id),
        group=f"family:{family}",
        version=version,
        last_status=last_status,
        desired_status="STOPPED" if last_status == "STOPPED" else "RUNNING",
        container_name="main",
        environment=environment,
        exit_code=exit_code,
        timestamps=timestamps,
        region=REGION,
        account=ACCOUNT,
        event_id=str(uuid.uuid4()),
    )


def _task_arn(name: str) -> str:
    return f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{CLUSTER}/{name}"


ORCHESTRATOR_ARN = _task_arn("orchestrator")


def _event_plan(tasks: int, rng: random.Random) -> list[dict[str, Any]]:
    """The deliveries before the run ends, in order: the orchestrator starting, then one wave
    per lifecycle step (every task's event for it, plus re-deliveries of some of that wave and
    stale deliveries from the previous one, shuffled together)."""
    from chalicelib.ecs_events import ROLE_ORCHESTRATOR

    plan = [
        _ecs_event(ORCHESTRATOR_ARN, EVENTS_RUN_ID, v, s, role=ROLE_ORCHESTRATOR)
        for v, s in ((1, "PROVISIONING"), (2, "RUNNING"))
    ]
    previous: list[dict[str, Any]] = []
    for version, (status, exit_code) in enumerate(TASK_LIFECYCLE, start=1):
        wave = [
            _ecs_event(
                _task_arn(f"{i:032x}"),
                EVENTS_RUN_ID,
                version,
                status,
                call_id=f"call-scatter-0-{i}",
                exit_code=exit_code,
            )
            for i in range(tasks)
        ]
        segment = wave + rng.sample(wave, int(len(wave) * DUPLICATE_SHARE))
        segment += rng.sample(previous, int(len(previous) * STALE_SHARE))
        rng.shuffle(segment)
        plan += segment
        previous = wave
    return plan


@dataclass
class EventStats:
    """What one kind of delivery (fresh, duplicate, stale, orchestrator) cost."""

    events: int = 0
    seconds: list[float] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    writes: int = 0
    max_writes: int = 0
    max_calls: int = 0

    def add(self, seconds: float, calls: Counter[str], failed: Counter[str]) -> None:
        self.events += 1
        self.seconds.append(seconds)
        self.calls.update(calls)
        self.failed.update(failed)
        writes = _writes(calls)
        self.writes += writes
        self.max_writes = max(self.max_writes, writes)
        self.max_calls = max(self.max_calls, sum(calls.values()))

    def as_dict(self) -> Result:
        per_event = {op: round(n / self.events, 3) for op, n in sorted(self.calls.items())}
        return {
            "events": self.events,
            "calls_per_event": round(sum(self.calls.values()) / self.events, 3),
            "calls_per_event_by_operation": per_event,
            "max_calls_per_event": self.max_calls,
            "writes_per_event": round(self.writes / self.events, 3),
            "max_writes_per_event": self.max_writes,
            "failed_calls": dict(sorted(self.failed.items())),
            "p50_ms": _ms(statistics.median(self.seconds)),
            "max_ms": _ms(max(self.seconds)),
            **({"ms_each": [_ms(s) for s in self.seconds]} if self.events <= 5 else {}),
        }


def _kind(event: Mapping[str, Any], seen: dict[str, int]) -> str:
    """fresh, duplicate or stale (by the highest version delivered so far for its task), or
    orchestrator; records the delivery in ``seen``."""
    from chalicelib.ecs_events import ROLE_ORCHESTRATOR

    detail = event["detail"]
    if f"/{ROLE_ORCHESTRATOR}/" in detail["startedBy"]:
        return "orchestrator"
    arn, version = detail["taskArn"], detail["version"]
    last = seen.get(arn, 0)
    seen[arn] = max(last, version)
    return "fresh" if version > last else "duplicate" if version == last else "stale"


def _create_events_run(stack: Stack) -> None:
    """The run the events belong to, QUEUED as the submit path leaves it (setup, not counted)."""
    from chalicelib.dynamodb_store import DynamoDbStore
    from chalicelib.records import RunRecord
    from chalicelib.states import State

    now = "2025-01-01T00:00:00.000Z"
    run = RunRecord(
        run_id=EVENTS_RUN_ID,
        state=State.QUEUED,
        created_at=now,
        updated_at=now,
        workflow_name="scatter",
        workflow_key="k",
        inputs_key="k",
    )
    DynamoDbStore(stack.setup.client("dynamodb"), TABLE).create_run(run)


def _final_states(stack: Stack) -> tuple[Counter[str], str]:
    """The run's tasks by state and the run's state, read back (not counted)."""
    from chalicelib.dynamodb_store import DynamoDbStore

    store = DynamoDbStore(stack.setup.client("dynamodb"), TABLE)
    states = Counter(t.state.value for t in store.list_tasks(EVENTS_RUN_ID))
    run = store.get_run(EVENTS_RUN_ID)
    return states, run.state.value if run else "missing"


def events_scenario() -> Result:
    """The status Lambda's handler (``on_ecs_task_state_change`` through Chalice's test client)
    fed a run's ECS events against moto, sequentially: calls and conditional writes per event,
    events per second; re-delivered and stale events must cost no write."""
    fresh = _env_int("BENCH_EVENTS", 2000)
    tasks = max(1, fresh // len(TASK_LIFECYCLE))
    with mocked_stack() as stack:
        from chalice.test import Client

        import app

        _create_events_run(stack)
        plan = _event_plan(tasks, random.Random(20250101))
        with Client(app.app, project_dir=str(REPO)) as client:
            handler = Deliveries(client, stack.calls)
            for event in plan:
                handler.deliver(event)
            # The orchestrator reports the outcome itself (not an event), then its task stops:
            # that STOPPED event adds the orchestrator's cost to the ended run.
            _report_complete(stack)
            handler.deliver(_orchestrator_stopped())
        task_states, run_state = _final_states(stack)
    first = handler.stats["orchestrator"].seconds[0]
    return _events_result(tasks, handler.stats, task_states, run_state, handler.errors, first)


class Deliveries:
    """Delivers events to the status Lambda's handler one at a time, each timed and its AWS
    calls counted under its kind."""

    def __init__(self, client: Any, calls: AwsCalls) -> None:
        self.client = client
        self.calls = calls
        self.stats: dict[str, EventStats] = {}
        self.seen: dict[str, int] = {}
        self.errors = 0

    def deliver(self, event: dict[str, Any]) -> None:
        kind = _kind(event, self.seen)
        self.calls.take()
        started = time.perf_counter()
        try:
            self.client.lambda_.invoke("on_ecs_task_state_change", event)
        except Exception as exn:  # noqa: BLE001 (a report, not a test: count, go on)
            self.errors += 1
            _note(f"events: {type(exn).__name__}: {exn}")
        seconds = time.perf_counter() - started
        calls, failed, _aws_seconds = self.calls.take()
        self.stats.setdefault(kind, EventStats()).add(seconds, calls, failed)


def _orchestrator_stopped() -> dict[str, Any]:
    from chalicelib.ecs_events import ROLE_ORCHESTRATOR

    return _ecs_event(
        ORCHESTRATOR_ARN, EVENTS_RUN_ID, 3, "STOPPED", role=ROLE_ORCHESTRATOR, exit_code=0
    )


def _report_complete(stack: Stack) -> None:
    """The orchestrator's own report that the run is COMPLETE (setup, not counted)."""
    from chalicelib.dynamodb_store import DynamoDbStore
    from chalicelib.records import utc_now
    from chalicelib.states import State
    from chalicelib.store import update_run
    from chalicelib.transitions import report_outcome

    store = DynamoDbStore(stack.setup.client("dynamodb"), TABLE)
    update_run(
        store,
        EVENTS_RUN_ID,
        lambda r: report_outcome(r, State.COMPLETE, utc_now(), outputs={}, exit_code=0),
    )


def _events_result(
    tasks: int,
    stats: Mapping[str, EventStats],
    task_states: Counter[str],
    run_state: str,
    errors: int,
    first_seconds: float,
) -> Result:
    """The events scenario's JSON line from its per-kind statistics."""
    task_kinds = [stats[k] for k in ("fresh", "duplicate", "stale") if k in stats]
    task_seconds = [s for kind in task_kinds for s in kind.seconds]
    total_events = sum(k.events for k in stats.values())
    total_seconds = sum(sum(k.seconds) for k in stats.values())
    max_writes = max(k.max_writes for k in stats.values())
    wasted = sum(stats[k].writes for k in ("duplicate", "stale") if k in stats)
    complete = task_states.get("COMPLETE", 0)
    return {
        "scenario": "events",
        "tasks": tasks,
        "events": total_events,
        "events_per_s": round(total_events / total_seconds, 1),
        # the first event of a fresh Lambda container builds its boto3 clients
        "first_event_ms": _ms(first_seconds),
        "task_event_p50_ms": _ms(statistics.median(task_seconds)),
        "task_event_p99_ms": _ms(_percentile(task_seconds, 99)),
        "max_writes_per_event": max_writes,
        "duplicate_and_stale_writes": wasted,
        "by_kind": {kind: s.as_dict() for kind, s in stats.items()},
        "target_max_writes_per_event": EVENT_MAX_WRITES,
        "meets_target": max_writes <= EVENT_MAX_WRITES and wasted == 0,
        "tasks_by_state": dict(task_states),
        "run_state": run_state,
        "failures": errors + (complete != tasks) + (run_state != "COMPLETE"),
    }


# ---- cold import -------------------------------------------------------------------------------

_IMPORTTIME = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( +)(\S+)")


@dataclass(frozen=True)
class Imported:
    """One line of ``python -X importtime``: a module, its own and its cumulative time."""

    module: str
    self_us: int
    cumulative_us: int
    depth: int


def _fresh_env() -> dict[str, str]:
    """The environment of a fresh interpreter: no ``MINIWDL*`` settings, as a Lambda's app
    import sees none that matter."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MINIWDL")}


def _importtime(code: str) -> list[Imported]:
    """The modules ``python -X importtime -c CODE`` imports, in a fresh interpreter at the
    repository's root (where the Lambda's package root is)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        cwd=REPO,
        env=_fresh_env(),
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
        check=True,
    )
    found = []
    for line in proc.stderr.splitlines():
        match = _IMPORTTIME.match(line)
        if match:
            self_us, cumulative_us, indent, module = match.groups()
            found.append(Imported(module, int(self_us), int(cumulative_us), (len(indent) - 1) // 2))
    return found


def _cumulative_ms(lines: list[Imported], module: str) -> float:
    """The cumulative import time of ``module`` where it was imported (0 if it was not)."""
    return next((line.cumulative_us / 1000 for line in lines if line.module == module), 0.0)


def _median_run(runs: list[list[Imported]], module: str) -> list[Imported]:
    """Of several importtime runs, the one with the median cumulative time of ``module``."""
    ordered = sorted(runs, key=lambda lines: _cumulative_ms(lines, module))
    return ordered[len(ordered) // 2]


def _top(lines: list[Imported], key: Callable[[Imported], int], skip: str) -> list[Result]:
    """The five slowest modules by ``key`` (``skip`` aside), with their nesting depth."""
    ranked = sorted((line for line in lines if line.module != skip), key=key, reverse=True)
    return [
        {"module": line.module, "ms": round(key(line) / 1000, 1), "depth": line.depth}
        for line in ranked[:5]
    ]


def _wall_ms(code: str) -> float:
    """Median wall time of ``python -c CODE`` in a fresh interpreter over REPETITIONS runs."""
    times = []
    for _ in range(REPETITIONS):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO,
            env=_fresh_env(),
            check=True,
            timeout=SUBPROCESS_TIMEOUT_S,
        )
        times.append(time.perf_counter() - started)
    return _ms(statistics.median(times))


def cold_import_scenario() -> Result:
    """A Lambda's cold start cost in this code: ``import app`` in fresh interpreters (median of
    REPETITIONS), its slowest modules, and what the submit path adds on its first submission by
    importing ``chalicelib.validation`` (miniwdl). Target: app imported in under 500 ms."""
    _wall_ms("import app")  # untimed: the first run after an edit may write bytecode
    app_runs = [_importtime("import app") for _ in range(REPETITIONS)]
    app_lines = _median_run(app_runs, "app")
    app_ms = _cumulative_ms(app_lines, "app")
    submit_code = "import app; import chalicelib.validation"
    submit_runs = [_importtime(submit_code) for _ in range(REPETITIONS)]
    submit_lines = _median_run(submit_runs, "chalicelib.validation")
    return {
        "scenario": "cold_import",
        "repetitions": REPETITIONS,
        "app_import_ms": round(app_ms, 1),
        "app_import_ms_runs": sorted(round(_cumulative_ms(r, "app"), 1) for r in app_runs),
        "app_modules_imported": len(app_lines),
        "top_cumulative": _top(app_lines, lambda line: line.cumulative_us, skip="app"),
        "top_self": _top(app_lines, lambda line: line.self_us, skip=""),
        "validation_import_after_app_ms": round(
            _cumulative_ms(submit_lines, "chalicelib.validation"), 1
        ),
        "validation_top_cumulative": _top(
            [line for line in submit_lines if line.module not in {i.module for i in app_lines}],
            lambda line: line.cumulative_us,
            skip="chalicelib.validation",
        ),
        "wall_ms_import_app": _wall_ms("import app"),
        "wall_ms_interpreter_only": _wall_ms("pass"),
        "target_app_import_ms": COLD_IMPORT_MAX_MS,
        "meets_target": 0 < app_ms < COLD_IMPORT_MAX_MS,
        "failures": 0 if app_ms else 1,
    }


# ---- package size ------------------------------------------------------------------------------

PACKAGE_TIMEOUT_S = 300  # a first build downloads Lambda-platform wheels from PyPI


def _skipped(reason: str) -> Result:
    return {"scenario": "package_size", "skipped": True, "reason": reason, "failures": 0}


def _has_make_target(name: str) -> bool:
    makefile = REPO / "Makefile"
    if not makefile.exists():
        return False
    return re.search(rf"^{re.escape(name)}:", makefile.read_text(), re.MULTILINE) is not None


def _zip_sizes(path: Path) -> Result:
    """A zip's size, its unzipped size, and its five largest top-level packages unzipped."""
    by_package: Counter[str] = Counter()
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            parts = info.filename.split("/")
            # the layer keeps packages under python/lib/python3.X/site-packages/
            top = parts[4] if parts[0] == "python" and len(parts) > 5 else parts[0]
            by_package[top] += info.file_size
    return {
        "zipped_bytes": path.stat().st_size,
        "unzipped_bytes": sum(by_package.values()),
        "largest_unzipped": dict(by_package.most_common(5)),
    }


def package_size_scenario() -> Result:
    """The Lambda package (``make package``'s ``chalice package``, into a temporary directory)
    against Lambda's limits: 50 MB zipped per zip, 250 MB unzipped for the function and its
    layers together. Skipped, saying why, where it cannot be built (e.g. no PyPI)."""
    if not _has_make_target("package"):
        return _skipped("the Makefile has no package target")
    chalice = BIN_DIR / "chalice"
    if not chalice.exists():
        return _skipped(f"no {chalice}")
    env = _fresh_env() | {"AWS_DEFAULT_REGION": REGION, "MINIWDL_FARGATE_API_AUTH": "iam"}
    with tempfile.TemporaryDirectory(prefix="bench-package-") as out:
        # --merge-template only changes the template; the zips are the same without it
        argv = [str(chalice), "package", "--pkg-format", "cloudformation", out]
        started = time.perf_counter()
        try:
            proc = subprocess.run(
                argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=PACKAGE_TIMEOUT_S
            )
        except subprocess.TimeoutExpired:
            return _skipped(f"chalice package took over {PACKAGE_TIMEOUT_S} s")
        seconds = time.perf_counter() - started
        if proc.returncode != 0:
            tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
            return _skipped(f"chalice package failed (exit {proc.returncode}): {tail}")
        zips = {p.name: _zip_sizes(p) for p in sorted(Path(out).glob("*.zip"))}
    zipped = max((z["zipped_bytes"] for z in zips.values()), default=0)
    unzipped = sum(z["unzipped_bytes"] for z in zips.values())
    return {
        "scenario": "package_size",
        "skipped": False,
        "package_s": round(seconds, 1),
        "reused_chalice_cache": "Reusing existing" in proc.stdout + proc.stderr,
        "zips": zips,
        "largest_zipped_bytes": zipped,
        "total_unzipped_bytes": unzipped,
        "limit_zipped_bytes": LAMBDA_ZIPPED_MAX_BYTES,
        "limit_unzipped_bytes": LAMBDA_UNZIPPED_MAX_BYTES,
        "meets_target": bool(zips)
        and zipped <= LAMBDA_ZIPPED_MAX_BYTES
        and unzipped <= LAMBDA_UNZIPPED_MAX_BYTES,
        "failures": 0,
    }


# ---- main --------------------------------------------------------------------------------------

SCENARIOS: dict[str, Callable[[], Result]] = {
    "submit": submit_scenario,
    "events": events_scenario,
    "cold_import": cold_import_scenario,
    "package_size": package_size_scenario,
}


def _result_stream() -> TextIO:
    """A stream to the real stdout for the result line; stdout itself (file descriptor 1, where
    the app's Powertools logger and EMF metrics write) goes to /dev/null from now on."""
    sys.stdout.flush()
    result = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    return result


def main(argv: list[str]) -> int:
    """Run the scenario named by ``argv[0]``; print its JSON line; 1 if a run failed."""
    if len(argv) != 1 or argv[0] not in SCENARIOS:
        raise SystemExit(f"usage: control_plane.py {{{','.join(SCENARIOS)}}}")
    out = _result_stream()
    sys.path.insert(0, str(REPO))
    started = time.perf_counter()
    result = SCENARIOS[argv[0]]()
    _note(f"{argv[0]}: {time.perf_counter() - started:.1f}s")
    print(json.dumps(result), file=out, flush=True)
    return 1 if result.get("failures") else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
