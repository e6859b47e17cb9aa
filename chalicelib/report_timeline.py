"""The run report's timeline: an SVG Gantt chart drawn by our own code, and the page's formatting.

One ``g.attempt`` per task attempt (its class names its outcome, and ``retry`` past the first
attempt), with its queued (``requested_at`` to ``created_at``: waiting for host resources or
the launch budget), provisioning, image-pull and running phases as rectangles in distinct
colours (running coloured by outcome), a native tooltip (``title``) each; a diamond per
call-cache hit. A first row (``g.run``) is the run's own: queued in its group (``created_at``
to ``admitted_at``), its orchestrator starting, and running. Pure: records in, markup out,
every text escaped.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from .cost import CacheHit, attempt_outcome
from .records import RunRecord, TaskRecord
from .states import State

_WIDTH = 960  # pixels
_LABEL = 260  # the labels' column
_ROW = 16
_PHASE_COLOURS = {
    "queued": "#c9ced6",
    "provisioning": "#f2b134",
    "pull": "#9b7fd1",
    "running": "#3b82c4",
}
_RUN_OUTCOMES = {
    State.COMPLETE: "succeeded",
    State.EXECUTOR_ERROR: "failed",
    State.SYSTEM_ERROR: "failed",
    State.CANCELED: "canceled",
}
_OUTCOME_COLOURS = {
    "succeeded": "#3b82c4",
    "failed": "#d9534f",
    "oom_killed": "#a4161a",
    "preempted": "#e07b00",
    "canceled": "#888888",
    "unfinished": "#5bc0de",
}


def timeline(
    tasks: Sequence[TaskRecord],
    hits: Sequence[CacheHit],
    now: str,
    run: RunRecord | None = None,
) -> str:
    """An SVG Gantt chart: the run's own row (when ``run`` is given), one ``g.attempt`` per
    attempt, a diamond per call-cache hit."""
    rows = sorted(
        tasks,
        key=lambda t: (t.requested_at or t.created_at or t.started_at or "", t.call_id, t.attempt),
    )
    run_stamps = (
        (run.created_at, run.admitted_at, run.start_time, run.end_time) if run is not None else ()
    )
    stamps = [
        *(epoch(s) for s in run_stamps),
        *(
            epoch(s)
            for t in rows
            for s in (t.requested_at, t.created_at, t.pull_started_at, t.started_at, t.stopped_at)
        ),
    ]
    start = min((s for s in stamps if s is not None), default=epoch(now) or 0.0)
    end = max([*(s for s in stamps if s is not None), start + 1.0])
    if run is not None and not run.end_time:  # still going: the chart runs until now
        end = max(end, epoch(now) or end)
    span = end - start
    plot = _WIDTH - _LABEL - 30
    first = 1 if run is not None else 0  # the run's own row
    height = (first + len(rows) + len(hits)) * _ROW + 30

    def x(stamp: str | None, fallback: float) -> float:
        value = epoch(stamp)
        return _LABEL + plot * (((value if value is not None else fallback) - start) / span)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}"'
        f' viewBox="0 0 {_WIDTH} {height}" role="img" aria-label="timeline">'
    ]
    for i in range(6):  # the time axis
        at = _LABEL + plot * i / 5
        out.append(
            f'<line x1="{at:.1f}" y1="0" x2="{at:.1f}" y2="{height - 18}" stroke="#eee"/>'
            f'<text x="{at:.1f}" y="{height - 4}" text-anchor="middle">'
            f"{esc(short(span * i / 5))}</text>"
        )
    if run is not None:
        out.append(_run_row(run, x, epoch(now) or end))
    for row, task in enumerate(rows, start=first):
        y = row * _ROW + 2
        stop = epoch(task.stopped_at) or epoch(now) or end
        outcome = attempt_outcome(task)
        label = f"{task.call_id or task.task_id}"
        retry = task.attempt > 1
        if retry:
            label += f" (attempt {task.attempt})"
        phases = [
            ("queued", task.requested_at, task.created_at or task.started_at),
            ("provisioning", task.created_at, task.pull_started_at or task.started_at),
            ("pull", task.pull_started_at, task.started_at),
            ("running", task.started_at, task.stopped_at),
        ]
        tip = (
            f"{label}: {outcome}, {task.cpu or '?'} cpu units, {task.memory or '?'} MiB"
            f", {duration(task.started_at, task.stopped_at)} running"
        )
        if task.requested_at:
            tip += f", {duration(task.requested_at, task.created_at)} queued"
        out.append(
            f'<g class="attempt {outcome}{" retry" if retry else ""}"'
            f' data-task="{esc(task.task_id)}"><title>{esc(tip)}</title>'
            f'<text x="{_LABEL - 6}" y="{y + 11}" text-anchor="end">{esc(_clip(label, 40))}</text>'
        )
        for phase, begin, finish in phases:
            if epoch(begin) is None:
                continue
            x0 = x(begin, stop)
            x1 = x(finish, stop)
            colour = _PHASE_COLOURS[phase]
            if phase == "running":
                colour = _OUTCOME_COLOURS.get(outcome, colour)
            out.append(
                f'<rect class="phase {phase}" x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 1.5):.1f}"'
                f' height="{_ROW - 4}" fill="{colour}"/>'
            )
        if retry:
            out.append(
                f'<text x="{x(task.created_at or task.started_at, stop) - 3:.1f}" y="{y + 11}"'
                ' text-anchor="end" fill="#e07b00">&#8635;</text>'
            )
        out.append("</g>")
    for i, hit in enumerate(hits):
        y = (first + len(rows) + i) * _ROW + 2
        cx = _LABEL + 6
        out.append(
            f'<g class="cache-hit"><title>{esc(hit.call_id)}: call-cache hit, saved'
            f" {esc(usd(hit.cost.usd))}</title>"
            f'<text x="{_LABEL - 6}" y="{y + 11}" text-anchor="end">'
            f"{esc(_clip(hit.call_id, 40))}</text>"
            f'<polygon points="{cx},{y} {cx + 6},{y + 6} {cx},{y + 12} {cx - 6},{y + 6}"'
            ' fill="#2e8b57"/>'
            f'<text x="{cx + 10}" y="{y + 11}">cache hit</text></g>'
        )
    out.append("</svg>")
    legend = "".join(
        f'<span><i style="background:{c}"></i>{esc(n)}</span>'
        for n, c in [
            ("queued", _PHASE_COLOURS["queued"]),
            ("provisioning", _PHASE_COLOURS["provisioning"]),
            ("image pull", _PHASE_COLOURS["pull"]),
            *((f"running: {k.replace('_', '-')}", v) for k, v in _OUTCOME_COLOURS.items()),
            ("call-cache hit", "#2e8b57"),
        ]
    )
    return f'<div class="legend">{legend} <span>&#8635; retry</span></div>' + "".join(out)


def _run_row(run: RunRecord, x: Callable[[str | None, float], float], now: float) -> str:
    """The run's own row: queued in its group until admitted, its orchestrator starting, and
    running until its end (or now)."""
    admitted = run.admitted_at or run.created_at
    phases = [
        ("queued", run.created_at if run.admitted_at else None, run.admitted_at),
        ("provisioning", admitted, run.start_time or run.end_time),
        ("running", run.start_time, run.end_time),
    ]
    tip = f"run {run.run_id}: {run.state.value}"
    if run.admitted_at:
        tip += f", {duration(run.created_at, run.admitted_at)} queued in group {run.group}"
    tip += f", {duration(admitted, run.start_time)} starting"
    tip += f", {duration(run.start_time, run.end_time)} running" if run.start_time else ""
    out = [
        f'<g class="run {esc(run.state.value)}"><title>{esc(tip)}</title>'
        f'<text x="{_LABEL - 6}" y="13" text-anchor="end" font-weight="bold">run</text>'
    ]
    for phase, begin, finish in phases:
        if epoch(begin) is None:
            continue
        x0, x1 = x(begin, now), x(finish, now)
        colour = _PHASE_COLOURS[phase]
        if phase == "running":  # coloured by the run's outcome, as an attempt's is
            colour = _OUTCOME_COLOURS[_RUN_OUTCOMES.get(run.state, "unfinished")]
        out.append(
            f'<rect class="phase {phase}" x="{x0:.1f}" y="2" width="{max(x1 - x0, 1.5):.1f}"'
            f' height="{_ROW - 4}" fill="{colour}"/>'
        )
    out.append("</g>")
    return "".join(out)


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def usd(value: float) -> str:
    return f"${value:,.4f}" if abs(value) < 100 else f"${value:,.2f}"


def epoch(stamp: str | None) -> float | None:
    if not stamp:
        return None
    try:
        parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def seconds_between(begin: str | None, end: str | None) -> float | None:
    a, b = epoch(begin), epoch(end)
    return b - a if a is not None and b is not None and b >= a else None


def duration(begin: str | None, end: str | None) -> str:
    seconds = seconds_between(begin, end)
    return short(seconds) if seconds is not None else "-"


def short(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02}s"
    return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02}m"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "\u2026"
