"""The run report: one self-contained HTML page per run (no network, no script, every asset inline).

It answers "where did the time go?" and "what did this cost, and why?": a timeline with one bar
per task attempt (provisioning, image pull and running in distinct colours; retries and call-cache
hits marked), a table per call (shards aggregated: requested against used CPU and memory,
duration, cost), the cost split (``cost.cost_split``), the rightsizing suggestions
(``rightsizing``), and the run's status and errors with their stderr tails.

``render`` is pure (records in, HTML out); ``collect`` reads what it needs (the store, the run's
``workflow.log``, stderr tails) and ``write_report`` puts the page beside the run's outputs
(``results/RUN/report.html``: a directory locally, S3 on AWS), as the orchestrator does when the
run ends. ``current_page`` is the page as the CLI's ``report`` command and the API's
``GET /ga4gh/wes/v1/runs/{run_id}/report`` (``api_page``) give it.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .cost import (
    SPOT_PRICES,
    CacheHit,
    Cost,
    CostSplit,
    attempt_outcome,
    cost_split,
    from_dict,
    record_cost,
    tasks_cost,
)
from .fargate import X86_PRICES, Prices
from .objects import ObjectStore, result_key
from .records import RunRecord, TaskRecord, utc_now
from .report_timeline import duration, esc, seconds_between, short, timeline, usd
from .rightsizing import Suggestion, call_name, suggest
from .states import State, is_terminal
from .store import Store

if TYPE_CHECKING:
    from .deployment import Submitter

REPORT_OBJECT = "report.html"
STDERR_TAIL_LINES = 20
STDERR_TAIL_BYTES = 4096
MAX_ERROR_TAILS = 20
# The most the API answers inline (a Lambda's answer is at most 6 MB); a page of 1,000 attempts
# is about 0.5 MB.
MAX_API_PAGE_BYTES = 5 * 1024 * 1024
# The orchestrator's size where the report must estimate its share (the stack's default).
ORCHESTRATOR_CPU = 1024
ORCHESTRATOR_MEMORY_MIB = 4096


@dataclass(frozen=True)
class ReportData:
    """Everything the page shows, read once (``collect``)."""

    run: RunRecord
    tasks: Sequence[TaskRecord]
    cache_hits: Sequence[CacheHit] = ()
    stderr_tails: Mapping[str, str] = field(default_factory=dict)
    orchestrator: Cost = field(default_factory=Cost)
    orchestrator_estimated: bool = False
    prices: Prices = X86_PRICES
    spot_prices: Prices = SPOT_PRICES


def render(data: ReportData, now: str) -> str:
    """The report's HTML (pure)."""
    run = data.run
    split = cost_split(
        data.tasks,
        cache_hits=data.cache_hits,
        orchestrator=data.orchestrator,
        prices=data.prices,
        spot_prices=data.spot_prices,
    )
    suggestions = suggest(data.tasks, prices=data.prices)
    title = f"Run {run.run_id}: {run.workflow_name}"
    body = "\n".join(
        [
            f"<h1>{esc(title)}</h1>",
            _summary(run, data.tasks, data.cache_hits, split, now),
            _errors(run, data.tasks, data.stderr_tails),
            "<h2>Timeline</h2>",
            timeline(data.tasks, data.cache_hits, now, run),
            "<h2>Calls</h2>",
            _calls(data.tasks, data),
            "<h2>Cost</h2>",
            _cost(split, data.orchestrator_estimated),
            "<h2>Rightsizing</h2>",
            _rightsizing(suggestions),
            f'<p class="foot">Written {esc(now)} by miniwdl-fargate. Costs are estimates from'
            " configurable prices (us-east-1 quotes by default), not a bill.</p>",
        ]
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        # nothing may be fetched: styles inline, no scripts, no images from anywhere
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\';'
        " style-src 'unsafe-inline'; img-src data:\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{_CSS}</style></head>\n<body>{body}</body></html>\n"
    )


_CSS = """
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222}
h1{font-size:20px}h2{font-size:16px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0}td,th{padding:3px 10px;border-bottom:1px solid #eee;
text-align:right}td:first-child,th:first-child{text-align:left}th{background:#f6f6f6}
.state{font-weight:bold;padding:2px 8px;border-radius:4px;color:#fff}
.COMPLETE{background:#2e8b57}.EXECUTOR_ERROR,.SYSTEM_ERROR{background:#d9534f}
.CANCELED,.CANCELING{background:#888}.RUNNING,.QUEUED,.INITIALIZING{background:#3b82c4}
pre{background:#f6f6f6;padding:8px;overflow:auto;max-height:300px;font-size:12px}
.legend span{display:inline-block;margin-right:14px}.legend i{display:inline-block;width:12px;
height:12px;margin-right:4px;vertical-align:middle}.foot{color:#777;font-size:12px}
svg text{font-size:11px;fill:#333}.muted{color:#777}
"""


def _summary(
    run: RunRecord,
    tasks: Sequence[TaskRecord],
    hits: Sequence[CacheHit],
    split: CostSplit,
    now: str,
) -> str:
    outcomes: dict[str, int] = {}
    for task in tasks:
        outcome = attempt_outcome(task)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    counts = ", ".join(f"{n} {k.replace('_', '-')}" for k, n in sorted(outcomes.items()))
    rows = [
        ("State", f'<span class="state {esc(run.state.value)}">{esc(run.state.value)}</span>'),
        ("Submitted", esc(run.created_at)),
        ("Started", esc(run.start_time or "")),
        ("Ended", esc(run.end_time or "")),
        ("Duration", esc(duration(run.start_time or run.created_at, run.end_time or now))),
        ("Task attempts", esc(f"{len(tasks)} ({counts})" if tasks else "0")),
        ("Call-cache hits", str(len(hits)) if hits else ""),
        ("Estimated cost", esc(usd(split.total.usd))),
    ]
    if run.tags:
        rows.append(("Tags", esc(", ".join(f"{k}={v}" for k, v in sorted(run.tags.items())))))
    rows = [r for r in rows if r[1]]
    return _table(["", ""], rows, header=False)


def _errors(run: RunRecord, tasks: Sequence[TaskRecord], tails: Mapping[str, str]) -> str:
    parts = []
    if run.error:
        message = str(run.error.get("message") or run.error)
        parts.append(f"<h2>Errors</h2><p>{esc(message)}</p>")
    failed = [t for t in tasks if attempt_outcome(t) not in ("succeeded", "unfinished")]
    for task in failed[:MAX_ERROR_TAILS]:
        if not parts:
            parts.append("<h2>Errors</h2>")
        why = task.stopped_reason or ""
        head = f"{task.call_id or task.task_id} (attempt {task.attempt}): {attempt_outcome(task)}"
        if task.exit_code is not None:
            head += f", exit code {task.exit_code}"
        parts.append(f"<h3>{esc(head)}</h3>" + (f"<p>{esc(why)}</p>" if why else ""))
        tail = tails.get(task.task_id)
        if tail:
            parts.append(f"<pre>{esc(tail)}</pre>")
    if len(failed) > MAX_ERROR_TAILS:
        parts.append(f"<p class=muted>and {len(failed) - MAX_ERROR_TAILS} more failed attempts</p>")
    return "\n".join(parts)


def _calls(tasks: Sequence[TaskRecord], data: ReportData) -> str:
    """One row per call, its shards and attempts together."""
    calls: dict[str, list[TaskRecord]] = {}
    for task in tasks:
        calls.setdefault(call_name(task.call_id or task.task_id), []).append(task)
    rows = []
    for call, group in sorted(calls.items()):
        shards = {t.call_id for t in group}
        usages = [t.usage or {} for t in group]
        peaks = [u["peak_memory_mib"] for u in usages if "peak_memory_mib" in u]
        cores = [
            u["cpu_seconds"] / u["seconds"]
            for u in usages
            if "cpu_seconds" in u and u.get("seconds")
        ]
        cpus = sorted({t.cpu for t in group if t.cpu})
        memories = sorted({t.memory for t in group if t.memory})
        seconds = [
            d for d in (seconds_between(t.started_at, t.stopped_at) for t in group) if d is not None
        ]
        cost = tasks_cost(group, data.prices, data.spot_prices)
        rows.append(
            (
                esc(call),
                str(len(shards)),
                str(len(group)),
                esc(", ".join(_vcpu(c) for c in cpus)),
                esc(f"{max(cores):.2f}" if cores else "-"),
                esc(", ".join(memories)),
                esc(f"{max(peaks):.0f}" if peaks else "-"),
                esc(short(max(seconds)) if seconds else "-"),
                esc(short(sum(seconds)) if seconds else "-"),
                esc(usd(cost.usd)),
            )
        )
    header = [
        "call",
        "shards",
        "attempts",
        "vCPU asked",
        "cores used (max)",
        "MiB asked",
        "peak MiB (max)",
        "longest",
        "total time",
        "cost",
    ]
    return _table(header, rows) if rows else "<p class=muted>No task ran.</p>"


def _cost(split: CostSplit, estimated: bool) -> str:
    rows = [
        ("Succeeded attempts", usd(split.succeeded.usd)),
        *(
            (f"Wasted: {kind.replace('_', '-')} attempts", usd(cost.usd))
            for kind, cost in split.wasted.items()
            if cost.usd
        ),
        ("Unfinished attempts", usd(split.unfinished.usd) if split.unfinished.usd else ""),
        (
            "Orchestrator" + (" (estimate so far)" if estimated else ""),
            usd(split.orchestrator.usd),
        ),
        ("Total", usd(split.total.usd)),
        ("Avoided by call-cache hits", usd(split.avoided.usd)),
        ("Tasks, had every attempt run on Spot", usd(split.all_spot.usd)),
    ]
    return _table(["", "USD"], [(esc(k), esc(v)) for k, v in rows if v])


def _rightsizing(suggestions: Sequence[Suggestion]) -> str:
    if not suggestions:
        return "<p class=muted>No recorded usage to size from.</p>"
    rows = []
    for s in suggestions:
        then = (
            f"{s.suggested.vcpu:g} vCPU, {s.suggested.memory_mib} MiB"
            if s.suggested
            else "EC2 capacity"
        )
        rows.append(
            (
                esc(s.call),
                esc(f"{s.requested.vcpu:g} vCPU, {s.requested.memory_mib} MiB"),
                esc(f"{s.cores_used:.2f} cores, {s.peak_memory_mib:.0f} MiB"),
                esc(then if s.changes or not s.suggested else "keep"),
                esc(usd(s.saved_usd)),
                esc(s.reason),
            )
        )
    return _table(["call", "asked", "used (max)", "suggested", "would have saved", "why"], rows)


def _table(columns: Sequence[str], rows: Iterable[Sequence[str]], *, header: bool = True) -> str:
    """A table of already-escaped cells."""
    head = "<tr>" + "".join(f"<th>{esc(c)}</th>" for c in columns) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


def _vcpu(cpu_units: str) -> str:
    return f"{int(cpu_units) / 1024:g}" if cpu_units.isdigit() else cpu_units


# ---- Reading what the page shows, and writing it -------------------------------------------

_CALL_CACHE_HIT = re.compile(
    r"(call-[^\s:]+)\s+NOTICE\s+call cache hit\b.*?run_dir:\s*\"([^\"]*)\""
)
_RUN_CACHED = re.compile(r"\sNOTICE\s+done \(cached\)")


def cache_hit_sources(log_text: str) -> list[tuple[str, str]]:
    """(call, the original call's directory) for each call-cache hit in a ``workflow.log``
    (pure); a whole workflow answered from the cache is ``("workflow", "")``."""
    hits = [(m.group(1), m.group(2)) for m in _CALL_CACHE_HIT.finditer(log_text)]
    if not hits and _RUN_CACHED.search(log_text):
        hits.append(("workflow", ""))
    return hits


def collect(
    store: Store,
    run_id: str,
    *,
    work_root: str | None = None,
    prices: Prices = X86_PRICES,
    spot_prices: Prices = SPOT_PRICES,
    now: str | None = None,
) -> ReportData:
    """Read what the report of ``run_id`` shows. Raises ``KeyError`` for an unknown run."""
    run = store.get_run(run_id)
    if run is None:
        raise KeyError(run_id)
    tasks = store.list_tasks(run_id)
    hits = _cache_hits(store, run, work_root, prices, spot_prices)
    tails = {
        t.task_id: _tail(t.stderr)
        for t in tasks
        if t.stderr and attempt_outcome(t) not in ("succeeded", "unfinished")
    }
    own = tasks_cost(tasks, prices, spot_prices)
    recorded = from_dict(run.cost)
    # Once the orchestrator stopped, the run's recorded cost includes its own share.
    if run.cost is not None and recorded.usd > own.usd + 1e-9:
        orchestrator = Cost(
            max(recorded.vcpu_seconds - own.vcpu_seconds, 0.0),
            max(recorded.gb_seconds - own.gb_seconds, 0.0),
            recorded.usd - own.usd,
        )
        estimated = False
    else:  # the orchestrator is still running (it writes the report itself): so far
        orchestrator = record_cost(
            cpu=str(ORCHESTRATOR_CPU),
            memory=str(ORCHESTRATOR_MEMORY_MIB),
            started_at=run.start_time or run.created_at,
            stopped_at=run.end_time or now or utc_now(),
            prices=prices,
        )
        estimated = True
    return ReportData(
        run=run,
        tasks=tasks,
        cache_hits=hits,
        stderr_tails={k: v for k, v in tails.items() if v},
        orchestrator=orchestrator,
        orchestrator_estimated=estimated,
        prices=prices,
        spot_prices=spot_prices,
    )


def _cache_hits(
    store: Store, run: RunRecord, work_root: str | None, prices: Prices, spot_prices: Prices
) -> list[CacheHit]:
    """The run's call-cache hits, each with what its original attempt cost (found by its
    directory among the original run's tasks); a hit whose original is unknown costs 0."""
    if not run.run_dir:
        return []
    try:
        with open(
            os.path.join(run.run_dir, "workflow.log"), encoding="utf-8", errors="replace"
        ) as f:
            text = f.read(16 * 1024 * 1024)
    except OSError:
        return []
    hits = []
    for call, source in cache_hit_sources(text):
        original = _original_run(run, source, work_root)
        tasks = [
            t
            for t in (store.list_tasks(original) if original else [])
            if t.state == State.COMPLETE
            and (not source or (t.stdout or "").startswith(source.rstrip("/") + "/"))
        ]
        cost = tasks_cost(tasks, prices, spot_prices)
        hits.append(CacheHit(call, cost))
    return hits


def _original_run(run: RunRecord, source: str, work_root: str | None) -> str | None:
    """The run a cached call (its directory ``source``) came from: the first part of its path
    under the work root; for a whole cached workflow, the run its outputs point into."""
    root = work_root or (os.path.dirname(run.run_dir) if run.run_dir else "")
    if not root:
        return None
    paths = [source] if source else _output_paths(run)
    for path in paths:
        relative = os.path.relpath(path, root)
        first = relative.split(os.sep)[0]
        if first and first not in (".", "..", run.run_id) and not first.startswith("_"):
            return first
    return None


def _output_paths(run: RunRecord) -> list[str]:
    """Paths in the run's miniwdl outputs (``outputs.json`` in its directory)."""
    import json

    try:
        with open(os.path.join(str(run.run_dir), "outputs.json"), encoding="utf-8") as f:
            values = json.load(f)
    except (OSError, ValueError):
        return []
    found: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, str) and os.path.isabs(value):
            found.append(os.path.realpath(value))
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(values)
    return found


def _tail(path: str | None) -> str:
    """The last lines of a task's stderr file (where it is readable here)."""
    if not path:
        return ""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - STDERR_TAIL_BYTES))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-STDERR_TAIL_LINES:])


class ReportError(Exception):
    """The run's records cannot be drawn as a report; the message says which run and why."""


def build_page(
    store: Store,
    run_id: str,
    *,
    work_root: str | None = None,
    prices: Prices = X86_PRICES,
    spot_prices: Prices = SPOT_PRICES,
) -> str:
    """The report of ``run_id`` built now from its records. ``KeyError`` for an unknown run,
    ``ReportError`` for records that cannot be drawn (the store's own errors pass through)."""
    now = utc_now()
    data = collect(
        store, run_id, work_root=work_root, prices=prices, spot_prices=spot_prices, now=now
    )
    try:
        return render(data, now)
    except Exception as exn:  # a malformed record: say which run, not a traceback
        raise ReportError(
            f"the report of run {run_id} could not be built: {type(exn).__name__}: {exn}"
        ) from exn


def current_page(
    store: Store,
    objects: ObjectStore,
    run_id: str,
    *,
    work_root: str | None = None,
    prices: Prices = X86_PRICES,
    spot_prices: Prices = SPOT_PRICES,
) -> bytes:
    """The run's report as it is best shown here: built now from its records, unless the run
    has ended and its directory is not on this machine (the API's Lambda does not mount EFS; a
    run whose ``delete_after`` removed it), where the page the orchestrator wrote with the
    outputs has what a page built here would lack (stderr tails, call-cache savings). Raises
    as ``build_page`` does."""
    run = store.get_run(run_id)
    if run is None:
        raise KeyError(run_id)
    if is_terminal(run.state) and not (run.run_dir and os.path.isdir(run.run_dir)):
        try:
            return objects.get_bytes(result_key(run_id, REPORT_OBJECT))
        except FileNotFoundError:
            pass  # never written (its orchestrator died first): built from the records
    page = build_page(store, run_id, work_root=work_root, prices=prices, spot_prices=spot_prices)
    return page.encode("utf-8")


def api_page(submitter: Submitter, run_id: str) -> bytes:
    """``GET /runs/{run_id}/report``: the run's page (``current_page``), or an ``ApiError``: 404
    for an unknown run, 500 for records that cannot be drawn, 413 for a page over what the API
    can answer (it is in the run's results)."""
    from .cost import spot_prices_from_environment
    from .wes import ApiError

    plane = submitter.plane
    try:
        page = current_page(  # the work root: the run directory's parent (``collect``)
            plane.store,
            submitter.objects,
            run_id,
            prices=plane.prices,
            spot_prices=spot_prices_from_environment(),
        )
    except KeyError:
        raise ApiError(404, f"no run {run_id!r}") from None
    except ReportError as exn:
        raise ApiError(500, str(exn)) from None
    if len(page) > MAX_API_PAGE_BYTES:
        where = submitter.objects.location(result_key(run_id, REPORT_OBJECT))
        raise ApiError(
            413,
            f"the report of run {run_id} is {len(page) / 1e6:.1f} MB, over what the API answers;"
            f" it is at {where}",
        )
    return page


def write_report(
    store: Store,
    objects: ObjectStore,
    run_id: str,
    *,
    work_root: str | None = None,
    prices: Prices = X86_PRICES,
    spot_prices: Prices = SPOT_PRICES,
) -> str:
    """Write the run's report to ``results/RUN/report.html``; returns its location."""
    page = build_page(store, run_id, work_root=work_root, prices=prices, spot_prices=spot_prices)
    return objects.put_bytes(result_key(run_id, REPORT_OBJECT), page.encode("utf-8"))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m chalicelib.report RUN [-o FILE]``: write a recorded run's report (to
    ``results/RUN/report.html`` of this home or deployment, or to FILE) and print where."""
    parser = argparse.ArgumentParser(prog="python -m chalicelib.report")
    parser.add_argument("run_id")
    parser.add_argument("-o", "--output", help="write the page here instead")
    args = parser.parse_args(argv)
    from .cost import prices_from_environment, spot_prices_from_environment
    from .deployment import AwsDeployment, aws_control_plane, aws_objects
    from .local_mode import LocalHome, default_home

    prices, spot = prices_from_environment(), spot_prices_from_environment()
    deployment = AwsDeployment.from_environment()
    if deployment is not None:
        store: Store = aws_control_plane(deployment).store
        objects: ObjectStore = aws_objects(deployment.bucket)
        work_root: str | None = deployment.work_root
    else:
        home = LocalHome(default_home())
        store, objects, work_root = home.control_plane().store, home.objects(), home.work_root
    try:
        if args.output:
            now = utc_now()
            data = collect(store, args.run_id, work_root=work_root, prices=prices, now=now)
            with open(args.output, "w", encoding="utf-8") as out:
                out.write(render(data, now))
            location = os.path.abspath(args.output)
        else:
            location = write_report(
                store, objects, args.run_id, work_root=work_root, prices=prices, spot_prices=spot
            )
    except KeyError:
        print(f"no run {args.run_id}", file=sys.stderr)
        return 2
    print(location)
    return 0


if __name__ == "__main__":
    sys.exit(main())
