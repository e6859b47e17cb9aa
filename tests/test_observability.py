"""Run metrics (EMF) and the Lambdas' log correlation."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools import Metrics
from chalice.test import Client
from events import ecs_event

from chalicelib import ecs_events
from chalicelib.metrics import MeteredNotifier, run_metric
from chalicelib.notifications import RUN_DETAIL_TYPE, TASK_DETAIL_TYPE, Notification
from chalicelib.observability import logger

REPO = Path(__file__).resolve().parent.parent


class Kept:
    def __init__(self) -> None:
        self.sent: list[Notification] = []

    def publish(self, notifications: Sequence[Notification]) -> None:
        self.sent.extend(notifications)


def emf_lines(out: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [line for line in lines if "_aws" in line]


@pytest.mark.parametrize(
    "state,metric",
    [
        ("QUEUED", "RunsSubmitted"),
        ("COMPLETE", "RunsCompleted"),
        ("EXECUTOR_ERROR", "RunsFailed"),
        ("SYSTEM_ERROR", "RunsFailed"),
        ("CANCELED", "RunsCanceled"),
        ("RUNNING", None),
    ],
)
def test_run_metric(state: str, metric: str | None) -> None:
    assert run_metric(Notification(RUN_DETAIL_TYPE, {"state": state})) == metric
    assert run_metric(Notification(TASK_DETAIL_TYPE, {"state": state})) is None


def test_a_metered_notifier_passes_notifications_on_and_emits_emf(
    capsys: pytest.CaptureFixture[str],
) -> None:
    kept = Kept()
    notifier = MeteredNotifier(kept, Metrics(namespace="miniwdl-fargate", service="test"))
    notes = [
        Notification(RUN_DETAIL_TYPE, {"run_id": "r1", "state": "QUEUED"}),
        Notification(TASK_DETAIL_TYPE, {"run_id": "r1", "state": "COMPLETE"}),
        Notification(RUN_DETAIL_TYPE, {"run_id": "r1", "state": "SYSTEM_ERROR"}),
    ]
    notifier.publish(notes)
    assert kept.sent == notes
    (emf,) = emf_lines(capsys.readouterr().out)
    assert emf["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "miniwdl-fargate"
    assert emf["RunsSubmitted"] == [1.0] and emf["RunsFailed"] == [1.0]
    notifier.publish([Notification(RUN_DETAIL_TYPE, {"run_id": "r1", "state": "RUNNING"})])
    assert emf_lines(capsys.readouterr().out) == []


def test_lambda_log_lines_carry_the_run_id_of_their_invocation_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", out)
    monkeypatch.delenv("MINIWDL_FARGATE_TABLE", raising=False)
    monkeypatch.setenv("MINIWDL_FARGATE_HOME", str(tmp_path))
    import app

    orchestrator = {"role": ecs_events.ROLE_ORCHESTRATOR}
    with Client(app.app, project_dir=str(REPO)) as client:
        # an event for a run nobody recorded: the handler warns, with the run's id
        client.lambda_.invoke(
            "on_ecs_task_state_change",
            ecs_event("arn:t/1", 1, "RUNNING", run_id="ghost", **orchestrator),
        )
        client.lambda_.invoke(
            "on_ecs_task_state_change",
            ecs_event("arn:t/2", 1, "RUNNING", run_id="other", **orchestrator),
        )
    lines = [json.loads(x) for x in out.getvalue().splitlines() if x.startswith("{")]
    warnings = [line for line in lines if line.get("level") == "WARNING"]
    assert [w["run_id"] for w in warnings] == ["ghost", "other"]
    assert all(w["correlation_id"] == w["run_id"] and w["request_id"] for w in warnings)
    # nothing stays behind for the container's next invocation
    assert "run_id" not in logger.get_current_keys()
    assert logger.get_correlation_id() is None
