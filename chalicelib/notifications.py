"""Notifications out: the project's own "WDL Run State Change" / "WDL Task State Change" events.

``run_notification`` and ``task_notification`` (pure) decide what to say about a change; a
``Notifier`` adapter sends it: EventBridge PutEvents on AWS, a JSON-lines file locally.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .cost import record_cost
from .fargate import X86_PRICES, Prices
from .records import RunRecord, TaskRecord, utc_now
from .states import is_terminal

SOURCE = "miniwdl-fargate"
RUN_DETAIL_TYPE = "WDL Run State Change"
TASK_DETAIL_TYPE = "WDL Task State Change"
TASK_USAGE_DETAIL_TYPE = "WDL Task Usage"


@dataclass(frozen=True)
class Notification:
    """One event to publish: EventBridge's ``DetailType`` and ``Detail``."""

    detail_type: str
    detail: dict[str, Any] = field(default_factory=dict)


class Notifier(Protocol):
    """Publishes notifications; must not lose one silently (raise if it cannot send)."""

    def publish(self, notifications: Sequence[Notification]) -> None:
        """Send the notifications, in order."""


def run_notification(old: RunRecord | None, new: RunRecord) -> Notification | None:
    """What to announce about a run write; None if its state did not change."""
    if old is not None and old.state == new.state:
        return None
    detail: dict[str, Any] = {
        "run_id": new.run_id,
        "state": new.state.value,
        "previous_state": old.state.value if old is not None else None,
        "workflow_name": new.workflow_name,
        "tags": new.tags,
    }
    if new.outputs is not None:
        detail["outputs_location"] = new.outputs.get("location")
    if new.error is not None:
        detail["error"] = str(new.error.get("message", ""))[:1000]
    if new.cost is not None:
        detail["cost"] = new.cost
    return Notification(RUN_DETAIL_TYPE, detail)


def task_notification(
    old: TaskRecord | None, new: TaskRecord, prices: Prices = X86_PRICES
) -> Notification | None:
    """What to announce about a task write; None if its state did not change."""
    if old is not None and old.state == new.state:
        return None
    detail: dict[str, Any] = {
        "run_id": new.run_id,
        "task_id": new.task_id,
        "call_id": new.call_id,
        "attempt": new.attempt,
        "state": new.state.value,
        "previous_state": old.state.value if old is not None else None,
    }
    if new.exit_code is not None:
        detail["exit_code"] = new.exit_code
    if new.stop_code:
        detail["stop_code"] = new.stop_code
    if is_terminal(new.state):
        detail["cost"] = record_cost(new, prices=prices).as_dict()
    if new.usage is not None:
        detail["usage"] = new.usage
    return Notification(TASK_DETAIL_TYPE, detail)


def usage_notification(task: TaskRecord) -> Notification:
    """What the platform shim measured of a finished attempt ("WDL Task Usage"): attached after
    the attempt's final state change was announced, so it has an event of its own."""
    detail: dict[str, Any] = {
        "run_id": task.run_id,
        "task_id": task.task_id,
        "call_id": task.call_id,
        "attempt": task.attempt,
        "state": task.state.value,
        "usage": task.usage,
    }
    return Notification(TASK_USAGE_DETAIL_TYPE, detail)


# One encoder for every line: ``json.dumps`` with options builds a new one each call.
_ENCODER = json.JSONEncoder(separators=(",", ":"))


class JsonLinesNotifier:
    """Local adapter: appends one EventBridge-shaped JSON object per line to a file.

    An exclusive ``flock`` keeps lines whole when several processes publish at once.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)

    def publish(self, notifications: Sequence[Notification]) -> None:
        if not notifications:
            return
        now = utc_now()
        lines = "".join(
            _ENCODER.encode(
                {"time": now, "source": SOURCE, "detail-type": n.detail_type, "detail": n.detail}
            )
            + "\n"
            for n in notifications
        )
        with open(self.path, "a", encoding="utf-8") as out:
            fcntl.flock(out, fcntl.LOCK_EX)
            out.write(lines)


class LogNotifier:
    """Adapter for plain ``miniwdl run``: notifications go to the log, at debug level."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger

    def publish(self, notifications: Sequence[Notification]) -> None:
        for n in notifications:
            self.logger.debug("%s %s", n.detail_type, json.dumps(n.detail))
