"""chalicelib.ecs_events: reading ECS task state changes, and building them."""

from __future__ import annotations

import copy
from typing import Any

import botocore.session
import pytest
from events import graft, sample, sample_names

from chalicelib import ecs_events
from chalicelib.ecs_events import EventError, TaskEvent, parse_task_event, task_state
from chalicelib.states import State

TASK_ARN = "arn:aws:ecs:us-east-1:123456789012:task/cluster/0123456789abcdef"
CLUSTER_ARN = "arn:aws:ecs:us-east-1:123456789012:cluster/cluster"
TASKDEF_ARN = "arn:aws:ecs:us-east-1:123456789012:task-definition/miniwdl-fargate-task:1"


def make_event(
    *,
    role: str = ecs_events.ROLE_TASK,
    run_id: str = "run1",
    version: int = 1,
    last_status: str = "RUNNING",
    environment: dict[str, str] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    env = (
        {
            ecs_events.ENV_RUN_ID: run_id,
            ecs_events.ENV_CALL_ID: "call-hello",
            ecs_events.ENV_ATTEMPT: "2",
        }
        if environment is None
        else environment
    )
    return ecs_events.task_state_change(
        task_arn=TASK_ARN,
        cluster_arn=CLUSTER_ARN,
        task_definition_arn=TASKDEF_ARN,
        started_by_value=ecs_events.started_by(role, run_id),
        group="family:miniwdl-fargate-task",
        version=version,
        last_status=last_status,
        desired_status="STOPPED" if last_status == "STOPPED" else "RUNNING",
        container_name="main",
        environment=env,
        **kwargs,
    )


def parsed(**kwargs: Any) -> TaskEvent:
    event = parse_task_event(make_event(**kwargs))
    assert event is not None
    return event


# building and parsing back


def test_round_trip_running_task() -> None:
    event = parsed(
        version=2,
        last_status="RUNNING",
        environment={
            ecs_events.ENV_RUN_ID: "run1",
            ecs_events.ENV_CALL_ID: "call-hello",
            ecs_events.ENV_ATTEMPT: "2",
            ecs_events.ENV_RETURN_CODES: "0,3",
            ecs_events.ENV_STDOUT: "s3://b/stdout.txt",
            ecs_events.ENV_STDERR: "s3://b/stderr.txt",
        },
        cpu="512",
        memory="1024",
        timestamps={"createdAt": "2024-01-01T00:00:00.000Z", "startedAt": "2024-01-01T00:00:05Z"},
    )
    assert event.task_arn == TASK_ARN
    assert event.task_id == "0123456789abcdef"
    assert event.run_id == "run1"
    assert event.role == ecs_events.ROLE_TASK
    assert event.version == 2
    assert event.last_status == "RUNNING"
    assert event.desired_status == "RUNNING"
    assert event.call_id == "call-hello"
    assert event.attempt == 2
    assert event.exit_code is None
    assert event.stop_code is None
    assert event.return_codes == "0,3"
    assert event.stdout == "s3://b/stdout.txt"
    assert event.stderr == "s3://b/stderr.txt"
    assert event.cpu == "512"
    assert event.memory == "1024"
    assert event.created_at == "2024-01-01T00:00:00.000Z"
    assert event.started_at == "2024-01-01T00:00:05Z"
    assert event.stopped_at is None
    assert not event.stopped


def test_round_trip_stopped_task() -> None:
    event = parsed(
        version=5,
        last_status="STOPPED",
        exit_code=7,
        stop_code="EssentialContainerExited",
        stopped_reason="Essential container in task exited",
        timestamps={"stoppedAt": "2024-01-01T00:01:00Z"},
    )
    assert event.stopped
    assert event.version == 5
    assert event.exit_code == 7
    assert event.stop_code == "EssentialContainerExited"
    assert event.stopped_reason == "Essential container in task exited"
    assert event.stopped_at == "2024-01-01T00:01:00Z"
    assert event.desired_status == "STOPPED"


def test_round_trip_orchestrator() -> None:
    event = parsed(role=ecs_events.ROLE_ORCHESTRATOR, run_id="abc-123", environment={})
    assert event.role == ecs_events.ROLE_ORCHESTRATOR
    assert event.run_id == "abc-123"
    assert event.call_id == ""
    assert event.attempt == 1
    assert event.return_codes == "0"


def test_built_event_envelope() -> None:
    event = make_event()
    assert event["source"] == "aws.ecs"
    assert event["detail-type"] == "ECS Task State Change"
    assert event["resources"] == [TASK_ARN]
    assert event["detail"]["startedBy"] == "miniwdl-fargate/task/run1"


def test_exit_code_zero_is_kept() -> None:
    assert parsed(last_status="STOPPED", exit_code=0).exit_code == 0


def test_non_integer_attempt_defaults_to_one() -> None:
    event = parsed(environment={ecs_events.ENV_CALL_ID: "c", ecs_events.ENV_ATTEMPT: "x"})
    assert event.attempt == 1


def test_started_by_and_task_id_helpers() -> None:
    assert ecs_events.started_by("orchestrator", "r") == "miniwdl-fargate/orchestrator/r"
    assert ecs_events.task_id_of("arn:aws:ecs:r:1:task/c/abc") == "abc"
    assert ecs_events.task_id_of("plain") == "plain"


@pytest.mark.parametrize("envelope_version", ["0", 0])
def test_envelope_version_string_or_int(envelope_version: Any) -> None:
    event = make_event()
    event["version"] = envelope_version
    result = parse_task_event(event)
    assert result is not None
    assert result.task_arn == TASK_ARN


def test_unknown_extra_fields_are_tolerated() -> None:
    event = make_event(version=3)
    event["detail"]["someNewField"] = {"nested": [1, 2, 3]}
    event["detail"]["attachments"] = [{"type": "eni", "status": "ATTACHED"}]
    event["detail"]["containers"][0]["networkInterfaces"] = []
    event["newTopLevel"] = True
    result = parse_task_event(event)
    assert result is not None
    assert result.version == 3


def test_odd_overrides_are_tolerated() -> None:
    event = make_event()
    event["detail"]["overrides"] = {
        "containerOverrides": [
            "not a mapping",
            {"name": "sidecar"},
            {"environment": [{"value": "no name"}, {"name": ecs_events.ENV_CALL_ID}]},
        ]
    }
    result = parse_task_event(event)
    assert result is not None
    assert result.call_id == ""


# foreign events: None


def test_other_source_is_foreign() -> None:
    event = make_event()
    event["source"] = "aws.batch"
    assert parse_task_event(event) is None


def test_other_detail_type_is_foreign() -> None:
    event = make_event()
    event["detail-type"] = "ECS Container Instance State Change"
    assert parse_task_event(event) is None


@pytest.mark.parametrize(
    "owner", [None, "", "ecs-svc/1234", "someone-else/task/run1", "miniwdl-fargatex/task/r", 42]
)
def test_started_by_not_ours_is_foreign(owner: Any) -> None:
    event = make_event()
    if owner is None:
        del event["detail"]["startedBy"]
    else:
        event["detail"]["startedBy"] = owner
    assert parse_task_event(event) is None


@pytest.mark.parametrize("detail", ["missing", None, "a string", ["a", "list"]])
def test_missing_detail_is_foreign(detail: Any) -> None:
    event = make_event()
    if detail == "missing":
        del event["detail"]
    else:
        event["detail"] = detail
    assert parse_task_event(event) is None


@pytest.mark.parametrize("event", [{}, None, [], "an event", 42])
def test_empty_or_non_object_event_is_foreign(event: Any) -> None:
    assert parse_task_event(event) is None
    assert ecs_events.run_id_of(event) == ""


# ours but malformed: EventError


@pytest.mark.parametrize(
    "version", [0, -1, "3", True, False, 1.0, None, "missing", 2**31, 2**63, 2**70]
)
def test_bad_detail_version_raises(version: Any) -> None:
    event = make_event()
    if version == "missing":
        del event["detail"]["version"]
    else:
        event["detail"]["version"] = version
    with pytest.raises(EventError, match="version"):
        parse_task_event(event)


def test_the_largest_version_is_accepted() -> None:
    assert parsed(version=ecs_events.MAX_VERSION).version == 2**31 - 1


@pytest.mark.parametrize("value", ["missing", "", None, 12])
def test_missing_task_arn_raises(value: Any) -> None:
    event = make_event()
    if value == "missing":
        del event["detail"]["taskArn"]
    else:
        event["detail"]["taskArn"] = value
    with pytest.raises(EventError, match="taskArn"):
        parse_task_event(event)


@pytest.mark.parametrize("value", ["missing", "", None])
def test_missing_last_status_raises(value: Any) -> None:
    event = make_event()
    if value == "missing":
        del event["detail"]["lastStatus"]
    else:
        event["detail"]["lastStatus"] = value
    with pytest.raises(EventError, match="lastStatus"):
        parse_task_event(event)


@pytest.mark.parametrize(
    "owner",
    [
        "miniwdl-fargate/task",
        "miniwdl-fargate/task/",
        "miniwdl-fargate/worker/run1",
        "miniwdl-fargate/task/run1/extra",
    ],
)
def test_malformed_started_by_of_ours_raises(owner: str) -> None:
    event = make_event()
    event["detail"]["startedBy"] = owner
    with pytest.raises(EventError, match="startedBy"):
        parse_task_event(event)


def test_event_error_is_a_value_error() -> None:
    assert issubclass(EventError, ValueError)


def test_parse_does_not_modify_the_event() -> None:
    event = make_event(last_status="STOPPED", exit_code=1)
    before = copy.deepcopy(event)
    parse_task_event(event)
    assert event == before


# task_state


@pytest.mark.parametrize(
    ("last_status", "expected"),
    [
        ("PROVISIONING", State.INITIALIZING),
        ("PENDING", State.INITIALIZING),
        ("ACTIVATING", State.INITIALIZING),
        ("RUNNING", State.RUNNING),
        ("DEACTIVATING", None),
        ("STOPPING", None),
        ("DEPROVISIONING", None),
        ("SOMETHING_NEW", None),
    ],
)
def test_task_state_of_non_stopped_statuses(last_status: str, expected: State | None) -> None:
    assert task_state(parsed(last_status=last_status)) == expected


@pytest.mark.parametrize(
    ("stop_code", "exit_code", "return_codes", "expected"),
    [
        ("TerminationNotice", None, "0", State.PREEMPTED),
        ("SpotInterruption", None, "0", State.PREEMPTED),
        ("SpotInterruption", 137, "0", State.PREEMPTED),
        ("TerminationNotice", 0, "0", State.PREEMPTED),
        ("UserInitiated", None, "0", State.CANCELED),
        ("UserInitiated", 143, "0", State.CANCELED),
        (None, None, "0", State.SYSTEM_ERROR),
        ("TaskFailedToStart", None, "0", State.SYSTEM_ERROR),
        ("EssentialContainerExited", 0, "0", State.COMPLETE),
        (None, 0, "0", State.COMPLETE),
        ("EssentialContainerExited", 3, "0", State.EXECUTOR_ERROR),
        ("EssentialContainerExited", 1, "0", State.EXECUTOR_ERROR),
        ("EssentialContainerExited", 3, "0,3", State.COMPLETE),
        ("EssentialContainerExited", 3, "*", State.COMPLETE),
        ("EssentialContainerExited", 255, "*", State.COMPLETE),
        ("EssentialContainerExited", 0, "1,3", State.EXECUTOR_ERROR),
        ("EssentialContainerExited", 3, "3", State.COMPLETE),
        ("EssentialContainerExited", 0, "", State.COMPLETE),
        # Fargate maintenance or retirement kills the container: an interruption, not a failure
        ("ServiceSchedulerInitiated", 137, "0", State.PREEMPTED),
        ("ServiceSchedulerInitiated", None, "0", State.PREEMPTED),
        ("InfrastructureHealth", 137, "0", State.PREEMPTED),
        ("TaskFailedToStart", 0, "0", State.SYSTEM_ERROR),
        # a stop code ECS adds later: the exit code decides, as for EssentialContainerExited
        ("SomethingNew", 0, "0", State.COMPLETE),
        ("SomethingNew", 1, "0", State.EXECUTOR_ERROR),
    ],
)
def test_task_state_of_stopped(
    stop_code: str | None, exit_code: int | None, return_codes: str, expected: State
) -> None:
    event = parsed(
        last_status="STOPPED",
        exit_code=exit_code,
        stop_code=stop_code,
        environment={
            ecs_events.ENV_CALL_ID: "c",
            ecs_events.ENV_RETURN_CODES: return_codes,
        },
    )
    assert task_state(event) == expected


def test_every_stop_code_ecs_documents_is_mapped_deliberately() -> None:
    model = botocore.session.get_session().get_service_model("ecs")
    documented = set(model.shape_for("TaskStopCode").enum)
    assert documented <= set(ecs_events.STOP_CODE_STATES)
    assert {"ServiceSchedulerInitiated", "SpotInterruption", "TerminationNotice"} <= (
        ecs_events.PREEMPTION_STOP_CODES
    )


@pytest.mark.parametrize(
    ("exit_code", "spec", "accepted"),
    [
        (0, "0", True),
        (1, "0", False),
        (3, "0,3", True),
        (3, " 0 , 3 ", True),
        (2, "0,3", False),
        (99, "*", True),
        (99, " * ", True),
        (0, "", True),
        (0, "garbage", True),
        (1, "garbage", False),
        (-1, "-1", True),
    ],
)
def test_exit_code_accepted(exit_code: int, spec: str, accepted: bool) -> None:
    assert ecs_events.exit_code_accepted(exit_code, spec) is accepted


@pytest.mark.parametrize(
    ("value", "encoded"),
    [("*", "*"), ([0, 3], "0,3"), ([], ""), (5, "5"), (None, "0"), ("0", "0")],
)
def test_encode_return_codes(value: Any, encoded: str) -> None:
    assert ecs_events.encode_return_codes(value) == encoded


# which container is the task's


def test_exit_code_is_the_named_container_not_a_sidecar_listed_first() -> None:
    event = make_event(last_status="STOPPED", exit_code=3)
    sidecar = {"name": "log_router", "lastStatus": "STOPPED", "exitCode": 0}
    event["detail"]["containers"].insert(0, sidecar)
    result = parse_task_event(event)
    assert result is not None
    assert result.exit_code == 3
    assert task_state(result) == State.EXECUTOR_ERROR


def test_without_an_override_of_ours_only_a_lone_container_is_read() -> None:
    lone = make_event(role=ecs_events.ROLE_ORCHESTRATOR, environment={}, exit_code=4)
    result = parse_task_event(lone)
    assert result is not None and result.exit_code == 4
    lone["detail"]["containers"].append({"name": "sidecar", "exitCode": 0})
    result = parse_task_event(lone)
    assert result is not None
    assert result.exit_code is None


# timestamps

STAMPS = {
    "createdAt": "2016-12-06T16:41:05.702Z",
    "startedAt": "2016-12-06T16:41:06.8Z",
    "stoppedAt": "2024-11-13T21:23:11.984+00:00",
}


@pytest.mark.parametrize("key", sorted(STAMPS))
@pytest.mark.parametrize(
    "bad", ["not a time", "2024-13-01T00:00:00Z", "2024-01-01T00:00:00", "2024-01-01", 1700000000]
)
def test_a_malformed_timestamp_is_dropped_and_named(key: str, bad: Any) -> None:
    event = make_event(last_status="STOPPED", exit_code=0, timestamps={**STAMPS, key: bad})
    result = parse_task_event(event)
    assert result is not None
    read = {"createdAt": result.created_at, "startedAt": result.started_at}
    read["stoppedAt"] = result.stopped_at
    assert read == {**STAMPS, key: None}
    assert result.dropped == (f"detail.{key}={bad!r}",)
    assert result.exit_code == 0 and result.version == 1


def test_well_formed_timestamps_drop_nothing() -> None:
    result = parsed(last_status="STOPPED", timestamps=STAMPS)
    assert (result.created_at, result.started_at, result.stopped_at) == tuple(STAMPS.values())
    assert result.dropped == ()


# AWS's own events (tests/ecs_event_samples)


@pytest.mark.parametrize("name", sample_names())
def test_aws_samples_of_other_peoples_tasks_are_foreign(name: str) -> None:
    assert parse_task_event(sample(name)) is None


def test_fargate_running_sample() -> None:
    event = parse_task_event(graft(sample("fargate_running"), container="FargateApp"))
    assert event is not None
    assert event.task_id == "c13b4cb40f1f4fe4a2971f76ae5a47ad"
    assert (event.version, event.last_status, event.desired_status) == (4, "RUNNING", "RUNNING")
    assert (event.cpu, event.memory) == ("256", "512")
    assert event.created_at == "2020-01-23T17:57:34.402Z"
    assert event.started_at == "2020-01-23T17:57:58.103Z"
    assert event.call_id == "call-hello" and event.exit_code is None and event.dropped == ()
    assert task_state(event) == State.RUNNING


def test_ec2_sample_whose_first_container_is_a_stopped_sidecar() -> None:
    raw = sample("ec2_sidecar_stopped_running")
    assert raw["detail"]["containers"][0]["exitCode"] == 0
    ours = parse_task_event(graft(raw, container="task"))
    assert ours is not None
    assert ours.exit_code is None  # the X-Ray daemon's exit code is not our container's
    assert ours.started_at == "2016-12-06T16:41:06.8Z"
    assert task_state(ours) == State.RUNNING
    named = parse_task_event(graft(raw, container="xray"))
    assert named is not None and named.exit_code == 0


def test_spot_termination_notice_sample_is_a_warning_not_the_stop() -> None:
    # the published snippet elides detail.version
    event = parse_task_event(
        graft(sample("fargate_spot_termination_notice"), container="t", version=2)
    )
    assert event is not None
    assert event.stop_code == "TerminationNotice"
    assert event.stopped_reason == "Your Spot Task was interrupted."
    assert task_state(event) == State.RUNNING


@pytest.mark.parametrize(
    ("name", "container", "state", "exit_code"),
    [
        ("fargate_deprovisioning", "voterintake", None, 0),
        ("fargate_user_initiated_stopped", "Example", State.CANCELED, 0),
        ("constructed_fargate_maintenance_stopped", "Example", State.PREEMPTED, 137),
        ("constructed_fargate_task_failed_to_start", "FargateApp", State.SYSTEM_ERROR, None),
        ("constructed_fargate_out_of_memory_stopped", "Example", State.EXECUTOR_ERROR, 137),
    ],
)
def test_stopping_samples(
    name: str, container: str, state: State | None, exit_code: int | None
) -> None:
    raw = sample(name)
    event = parse_task_event(graft(raw, container=container))
    assert event is not None
    assert event.exit_code == exit_code
    assert event.stop_code == raw["detail"]["stopCode"]
    assert event.stopped_reason == raw["detail"]["stoppedReason"]
    assert event.stopped_at == raw["detail"].get("stoppedAt")
    assert event.dropped == ()
    assert task_state(event) == state
