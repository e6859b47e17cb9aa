"""chalicelib.ecs_events: reading ECS task state changes, and building them."""

from __future__ import annotations

import copy
from typing import Any

import pytest

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


def test_empty_event_is_foreign() -> None:
    assert parse_task_event({}) is None


# ours but malformed: EventError


@pytest.mark.parametrize("version", [0, -1, "3", True, False, 1.0, None, "missing"])
def test_bad_detail_version_raises(version: Any) -> None:
    event = make_event()
    if version == "missing":
        del event["detail"]["version"]
    else:
        event["detail"]["version"] = version
    with pytest.raises(EventError, match="version"):
        parse_task_event(event)


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
