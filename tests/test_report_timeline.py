"""The timeline's phases: each attempt's queued time (from when the backend asked for it, which
reaches the task record through its ECS events), provisioning, image pull and running, in
distinct colours; and the run's own row (queued in its group, starting, running)."""

from __future__ import annotations

import re

from chalicelib import ecs_events
from chalicelib.cost import CacheHit, Cost
from chalicelib.records import RunRecord, TaskRecord
from chalicelib.report import ReportData, render
from chalicelib.report_timeline import timeline
from chalicelib.states import State
from chalicelib.transitions import apply_task_event

T0 = "2024-05-01T12:00:00.000Z"


def at(seconds: int) -> str:
    return f"2024-05-01T12:{seconds // 60:02}:{seconds % 60:02}.000Z"


def attempt(**fields: object) -> TaskRecord:
    values: dict[str, object] = {
        "task_id": "t1",
        "run_id": "R",
        "state": State.COMPLETE,
        "updated_at": at(100),
        "call_id": "call-a",
        "requested_at": at(10),
        "created_at": at(40),
        "pull_started_at": at(50),
        "started_at": at(60),
        "stopped_at": at(100),
        "exit_code": 0,
    }
    values.update(fields)
    return TaskRecord(**values)  # type: ignore[arg-type]


def run_record(**fields: object) -> RunRecord:
    values: dict[str, object] = {
        "run_id": "R",
        "state": State.COMPLETE,
        "created_at": at(0),
        "updated_at": at(110),
        "workflow_name": "wf",
        "workflow_key": "k",
        "inputs_key": "k",
        "group": "lab-a",
        "admitted_at": at(4),
        "start_time": at(8),
        "end_time": at(110),
    }
    values.update(fields)
    return RunRecord(**values)  # type: ignore[arg-type]


def rects(svg: str, group_class: str) -> dict[str, tuple[float, float, str]]:
    """phase -> (x, width, fill) of the first ``<g class="{group_class}...">``'s rectangles."""
    group = re.search(rf'<g class="{group_class}[^"]*".*?</g>', svg, re.S)
    assert group, svg
    found = {}
    for m in re.finditer(
        r'<rect class="phase (\w+)" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"[^>]*fill="([^"]+)"',
        group.group(0),
    ):
        found[m.group(1)] = (float(m.group(2)), float(m.group(3)), m.group(4))
    return found


def test_an_attempt_shows_queued_provisioning_pull_and_running_in_distinct_colours() -> None:
    svg = timeline([attempt()], [], at(120), run_record())
    phases = rects(svg, "attempt")
    assert list(phases) == ["queued", "provisioning", "pull", "running"]
    assert len({fill for _, _, fill in phases.values()}) == 4
    # each phase starts where the one before it ends, in proportion to its time
    (qx, qw, _), (px, pw, _) = phases["queued"], phases["provisioning"]
    assert abs(qx + qw - px) < 0.2 and abs(qw / pw - 30 / 10) < 0.05
    assert "30.0s queued" in svg  # its tooltip says so
    # an attempt recorded before requested_at existed has no queued phase, and no error
    older = rects(timeline([attempt(requested_at=None)], [], at(120)), "attempt")
    assert list(older) == ["provisioning", "pull", "running"]


def test_the_run_has_its_own_row_queued_in_its_group_then_starting_then_running() -> None:
    hits = [CacheHit("call-b", Cost(usd=0.01))]
    retry = attempt(task_id="t2", attempt=2, requested_at=at(101), created_at=at(102))
    page = render(ReportData(run=run_record(), tasks=[attempt(), retry], cache_hits=hits), at(120))
    phases = rects(page, "run")
    assert list(phases) == ["queued", "provisioning", "running"]
    attempt_fills = rects(page, "attempt")
    assert phases["queued"][2] == attempt_fills["queued"][2]  # one legend for both
    assert "queued in group lab-a" in page
    # the run's row is not an attempt: one bar per attempt still, retries and hits marked
    assert page.count('<g class="attempt') == 2
    assert page.count('class="attempt succeeded retry"') == 1
    assert page.count('class="cache-hit"') == 1
    for name in ("queued", "provisioning", "image pull"):
        assert f"</i>{name}</span>" in page
    # a run admitted at once (no group) is only starting before it runs
    alone = rects(timeline([], [], at(120), run_record(group="", admitted_at=None)), "run")
    assert list(alone) == ["provisioning", "running"]


def event(environment: dict[str, str], version: int = 1) -> dict[str, object]:
    return ecs_events.task_state_change(
        task_arn="arn:aws:ecs:us-east-1:1:task/c/abc",
        cluster_arn="arn:aws:ecs:us-east-1:1:cluster/c",
        task_definition_arn="arn:aws:ecs:us-east-1:1:task-definition/f:1",
        started_by_value=ecs_events.started_by(ecs_events.ROLE_TASK, "R"),
        group="family:f",
        version=version,
        last_status="PROVISIONING",
        desired_status="RUNNING",
        container_name="main",
        environment={ecs_events.ENV_RUN_ID: "R", ecs_events.ENV_CALL_ID: "call-a", **environment},
        timestamps={"createdAt": at(40)},
    )


def test_when_the_attempt_was_asked_for_reaches_its_record_through_its_events() -> None:
    asked = {ecs_events.ENV_REQUESTED_AT: at(10)}
    parsed = ecs_events.parse_task_event(event(asked))
    assert parsed is not None and parsed.requested_at == at(10)
    record = apply_task_event(None, parsed, at(41))
    assert record is not None and record.requested_at == at(10)
    # kept from the first event; a later one cannot move it
    later = ecs_events.parse_task_event(event({ecs_events.ENV_REQUESTED_AT: at(30)}, version=2))
    assert later is not None
    again = apply_task_event(record, later, at(42))
    assert again is not None and again.requested_at == at(10)
    # a malformed one is left out (it would break the timeline), not stored
    bad = ecs_events.parse_task_event(event({ecs_events.ENV_REQUESTED_AT: "yesterday"}))
    assert bad is not None and bad.requested_at is None
    # and it survives the store's serialisation
    assert TaskRecord.from_item(record.to_item()).requested_at == at(10)
