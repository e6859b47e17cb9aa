"""Run metrics (CloudWatch EMF through Powertools): runs submitted, completed, failed, canceled.

They are counted where run state changes are announced, so every writer (the submit and status
Lambdas, the orchestrator) counts the changes it makes, once each, with no extra AWS call: EMF
lines go to the process's log, and CloudWatch turns them into metrics.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from .notifications import RUN_DETAIL_TYPE, Notification, Notifier

NAMESPACE = "miniwdl-fargate"
RUN_METRICS = {
    "QUEUED": "RunsSubmitted",
    "COMPLETE": "RunsCompleted",
    "EXECUTOR_ERROR": "RunsFailed",
    "SYSTEM_ERROR": "RunsFailed",
    "CANCELED": "RunsCanceled",
}


def run_metric(note: Notification) -> str | None:
    """The metric a notification counts toward, if any (pure)."""
    if note.detail_type != RUN_DETAIL_TYPE:
        return None
    return RUN_METRICS.get(str(note.detail.get("state")))


class MeteredNotifier:
    """A ``Notifier`` that counts run outcomes, then passes the notifications on."""

    def __init__(self, inner: Notifier, metrics: Metrics | None = None) -> None:
        self.inner = inner
        self.metrics = metrics or Metrics(namespace=NAMESPACE, service=NAMESPACE)

    def publish(self, notifications: Sequence[Notification]) -> None:
        self.inner.publish(notifications)
        counted = [m for m in map(run_metric, notifications) if m]
        if counted:
            for name in counted:
                self.metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
            self.metrics.flush_metrics()
