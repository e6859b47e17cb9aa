"""EventBridgeNotifier on moto: a custom bus, a rule on our source, and an SQS queue target."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.eventbridge import MAX_ENTRY_BYTES, EventBridgeNotifier, NotificationError
from chalicelib.notifications import RUN_DETAIL_TYPE, SOURCE, TASK_DETAIL_TYPE, Notification

BUS = "wdl-runs"
REGION = "us-east-1"


@dataclass
class Bus:
    events: Any
    sqs: Any
    queue_url: str
    calls: list[list[dict[str, Any]]] = field(default_factory=list)  # Entries of each PutEvents

    def notifier(self, **kwargs: Any) -> EventBridgeNotifier:
        return EventBridgeNotifier(self.events, BUS, backoff_seconds=0.001, **kwargs)

    def received(self, expected: int, tries: int = 10) -> list[dict[str, Any]]:
        """The events the rule delivered to the queue (waits for ``expected``, boundedly)."""
        events: list[dict[str, Any]] = []
        for _ in range(tries):
            response = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            )
            for message in response.get("Messages", []):
                events.append(json.loads(message["Body"]))
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
            if len(events) >= expected:
                break
        return events


def _fast_moto_rule_targets(monkeypatch) -> None:
    """moto renders each event for each rule target with jsonpath_ng (installed by moto[events]),
    parsing the same 8 paths again for every event: about 0.15 s an event. Cache the parses."""
    import jsonpath_ng.ext

    monkeypatch.setattr(jsonpath_ng.ext, "parse", functools.lru_cache(jsonpath_ng.ext.parse))


@pytest.fixture
def bus(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    _fast_moto_rule_targets(monkeypatch)
    with mock_aws():
        events = boto3.client("events", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        events.create_event_bus(Name=BUS)
        queue_url = sqs.create_queue(QueueName="wdl-notifications")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        rule_arn = events.put_rule(
            Name="wdl-state-changes",
            EventBusName=BUS,
            EventPattern=json.dumps({"source": [SOURCE]}),
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
        sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
        events.put_targets(
            Rule="wdl-state-changes",
            EventBusName=BUS,
            Targets=[{"Id": "queue", "Arn": queue_arn}],
        )
        result = Bus(events, sqs, queue_url)

        def record(params, **kwargs):
            result.calls.append(json.loads(params["body"])["Entries"])

        events.meta.events.register("before-call.events.PutEvents", record)
        yield result


def make_notifications(count: int) -> list[Notification]:
    return [
        Notification(
            RUN_DETAIL_TYPE if i % 3 == 0 else TASK_DETAIL_TYPE,
            {"run_id": "run1", "task_id": f"t{i}", "n": i, "state": "RUNNING", "tags": {"k": "v"}},
        )
        for i in range(count)
    ]


def throttle(bus: Bus, failing: set[int], times: int | None = 1) -> None:
    """Make PutEvents responses report the entries of notifications ``failing`` (their detail's
    ``n``) as throttled, in the first ``times`` calls (None: every call). moto has accepted them
    all regardless."""
    seen = {"calls": 0}

    def rewrite(parsed, **kwargs):
        seen["calls"] += 1
        if times is not None and seen["calls"] > times:
            return
        request = bus.calls[-1]  # recorded by the before-call hook
        for i, entry in enumerate(request):
            if json.loads(entry["Detail"])["n"] in failing:
                parsed["Entries"][i] = {
                    "ErrorCode": "ThrottlingException",
                    "ErrorMessage": "Rate exceeded",
                }
        parsed["FailedEntryCount"] = sum("ErrorCode" in e for e in parsed["Entries"])

    bus.events.meta.events.register("after-call.events.PutEvents", rewrite)


def test_publish_sends_every_notification_in_batches_of_ten(bus) -> None:
    notifications = make_notifications(23)
    bus.notifier().publish(notifications)

    assert [len(call) for call in bus.calls] == [10, 10, 3]
    sent = [entry for call in bus.calls for entry in call]
    assert [json.loads(e["Detail"])["n"] for e in sent] == list(range(23))  # in order
    assert {e["EventBusName"] for e in sent} == {BUS}

    received = bus.received(23)
    assert len(received) == 23
    by_n = {event["detail"]["n"]: event for event in received}
    assert sorted(by_n) == list(range(23))
    for notification in notifications:
        event = by_n[notification.detail["n"]]
        assert event["source"] == SOURCE
        assert event["detail-type"] == notification.detail_type
        assert event["detail"] == notification.detail
    assert bus.received(1, tries=1) == []  # nothing more, and nothing twice


def test_custom_source_is_used(bus) -> None:
    bus.notifier(source="other-source").publish(make_notifications(2))
    assert [e["Source"] for e in bus.calls[0]] == ["other-source", "other-source"]
    assert bus.received(1, tries=2) == []  # the rule matches only our own source


def test_failed_entries_alone_are_resent(bus) -> None:
    throttle(bus, failing={2, 7})
    notifications = make_notifications(12)
    bus.notifier().publish(notifications)

    assert [len(call) for call in bus.calls] == [10, 2, 2]
    assert bus.calls[1] == [bus.calls[0][2], bus.calls[0][7]]
    assert [json.loads(e["Detail"])["n"] for e in bus.calls[2]] == [10, 11]
    # moto accepted the "failed" entries the first time too: at least once, like EventBridge
    received = bus.received(14)
    assert len(received) == 14
    assert sorted({event["detail"]["n"] for event in received}) == list(range(12))


def test_entries_failing_every_time_raise_notification_error(bus) -> None:
    throttle(bus, failing={0, 4}, times=None)
    notifier = bus.notifier(max_retries=3)
    with pytest.raises(NotificationError, match="ThrottlingException") as raised:
        notifier.publish(make_notifications(5))

    assert raised.value.error_codes == ("ThrottlingException",)
    assert "2 notification(s)" in str(raised.value)
    assert [len(call) for call in bus.calls] == [5, 2, 2, 2]  # 1 try + 3 retries of the 2
    assert all(call == [bus.calls[0][0], bus.calls[0][4]] for call in bus.calls[1:])


def test_retries_back_off(bus) -> None:
    throttle(bus, failing={0}, times=None)
    sleeps: list[float] = []
    notifier = EventBridgeNotifier(bus.events, BUS, backoff_seconds=0.5, sleep=sleeps.append)
    with pytest.raises(NotificationError):
        notifier.publish(make_notifications(1))
    assert sleeps == [0.5, 1.0, 2.0]
    assert len(bus.calls) == 4


def test_empty_publish_makes_no_call(bus) -> None:
    bus.notifier().publish([])
    assert bus.calls == []


def test_oversized_entry_is_refused_before_any_call(bus) -> None:
    small = make_notifications(11)
    big = Notification(TASK_DETAIL_TYPE, {"log": "x" * MAX_ENTRY_BYTES})
    with pytest.raises(ValueError, match="EventBridge accepts at most"):
        bus.notifier().publish([*small, big])
    assert bus.calls == []


def test_entry_just_under_the_limit_is_sent_alone(bus) -> None:
    overhead = len(SOURCE) + len(TASK_DETAIL_TYPE) + len(json.dumps({"log": ""}))
    near_limit = Notification(TASK_DETAIL_TYPE, {"log": "x" * (MAX_ENTRY_BYTES - overhead)})
    small = make_notifications(2)
    bus.notifier().publish([small[0], near_limit, small[1]])
    assert [len(call) for call in bus.calls] == [1, 1, 1]  # a call stays under the size limit
    assert len(bus.received(3)) == 3
