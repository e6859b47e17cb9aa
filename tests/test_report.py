"""The run report without a browser: what it reads (store, workflow.log, stderr) and shows."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from chalicelib.cost import Cost
from chalicelib.memory_store import MemoryStore
from chalicelib.objects import DirectoryObjects
from chalicelib.records import RunRecord, TaskRecord
from chalicelib.report import ReportData, cache_hit_sources, collect, render, write_report
from chalicelib.states import State

HIT = (
    "2024-05-01 12:00:01.2 wdl.w:wf.t:call-align-1 NOTICE call cache hit :: run_dir:"
    ' "/work/OLD/call-align-1", cache_file: "/work/_cache/call/x.json"\n'
)


def test_cache_hits_are_read_from_the_workflow_log() -> None:
    log = "2024-05-01 12:00:00.0 wdl.w:wf INFO starting\n" + HIT
    assert cache_hit_sources(log) == [("call-align-1", "/work/OLD/call-align-1")]
    cached = "2024-05-01 12:00:01.0 wdl.w:wf NOTICE done (cached)\n"
    assert cache_hit_sources(cached) == [("workflow", "")]
    assert cache_hit_sources("nothing cached here\n") == []


def run_record(run_id: str, run_dir: Path, **fields: object) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        state=State.EXECUTOR_ERROR,
        created_at="2024-05-01T12:00:00Z",
        updated_at="2024-05-01T12:01:00Z",
        workflow_name="wf",
        workflow_key="k",
        inputs_key="i",
        run_dir=str(run_dir),
        start_time="2024-05-01T12:00:00Z",
        end_time="2024-05-01T12:01:00Z",
        **fields,  # type: ignore[arg-type]
    )


def task(task_id: str, run_id: str, state: State, stderr: str | None = None) -> TaskRecord:
    return TaskRecord(
        task_id=task_id,
        run_id=run_id,
        state=state,
        updated_at="2024-05-01T12:01:00Z",
        call_id=f"call-{task_id}",
        cpu="1024",
        memory="2048",
        started_at="2024-05-01T12:00:00Z",
        stopped_at="2024-05-01T12:10:00Z",
        stderr=stderr,
        exit_code=0 if state == State.COMPLETE else 1,
    )


def test_collect_finds_cache_savings_stderr_tails_and_the_orchestrators_share(
    tmp_path: Path,
) -> None:
    work = tmp_path / "work"
    old_dir, new_dir = work / "OLD", work / "NEW"
    (old_dir / "call-align-1").mkdir(parents=True)
    new_dir.mkdir()
    (new_dir / "workflow.log").write_text(HIT.replace("/work/", f"{work}/"))
    stderr = tmp_path / "stderr.txt"
    stderr.write_text("".join(f"line {i}\n" for i in range(100)) + "Traceback: boom\n")
    store = MemoryStore()
    store.create_run(run_record("OLD", old_dir))
    store.create_run(run_record("NEW", new_dir))
    original = task("align-1", "OLD", State.COMPLETE)
    original = dataclasses.replace(original, stdout=f"{old_dir}/call-align-1/stdout.txt")
    for record in (original, task("sort", "NEW", State.EXECUTOR_ERROR, str(stderr))):
        assert store.put_task(record, None)

    data = collect(store, "NEW", work_root=str(work), now="2024-05-01T12:01:00Z")
    ten_minutes = 600 / 3600 * (0.04048 + 2 * 0.004445)
    (hit,) = data.cache_hits
    assert hit.call_id == "call-align-1" and hit.cost.usd == pytest.approx(ten_minutes)
    tail = data.stderr_tails["sort"]
    assert tail.endswith("Traceback: boom") and len(tail.splitlines()) == 20
    # the orchestrator is still running: its share so far is estimated (1 minute, 1 vCPU 4 GiB)
    assert data.orchestrator_estimated
    assert data.orchestrator.usd == pytest.approx(60 / 3600 * (0.04048 + 4 * 0.004445))
    # once it stopped, the run's cost includes its share: that is used
    recorded = Cost(usd=ten_minutes + 0.05).as_dict()
    later = collect(
        _with_run(store, dataclasses.replace(store.get_run("NEW"), cost=recorded)),  # type: ignore[arg-type]
        "NEW",
        work_root=str(work),
    )
    assert not later.orchestrator_estimated
    assert later.orchestrator.usd == pytest.approx(0.05, abs=1e-6)

    page = render(data, "2024-05-01T12:01:00Z")
    assert page.count('<g class="attempt') == 1 and page.count('class="cache-hit"') == 1
    assert "Traceback: boom" in page
    with pytest.raises(KeyError):
        collect(store, "MISSING")


def _with_run(store: MemoryStore, run: RunRecord) -> MemoryStore:
    fresh = MemoryStore()
    fresh.create_run(run)
    for record in store.list_tasks(run.run_id):
        fresh.put_task(record, None)
    return fresh


def test_the_page_is_self_contained_and_escapes_what_users_wrote(tmp_path: Path) -> None:
    run = run_record("R", tmp_path, tags={"<b>": '"quoted"'})
    run = dataclasses.replace(run, workflow_name="<img src=x onerror=alert(1)>")
    sneaky = dataclasses.replace(task("x", "R", State.EXECUTOR_ERROR), call_id="call-<script>")
    page = render(ReportData(run=run, tasks=[sneaky]), "2024-05-01T12:01:00Z")
    assert "<script>" not in page and "<img src=x" not in page
    assert "&lt;script&gt;" in page and "&lt;img src=x" in page
    # nothing that would fetch: no src/href to anywhere, no script at all
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page)
    assert "<script" not in page.lower()
    assert "Content-Security-Policy" in page and "default-src 'none'" in page


def test_write_report_puts_it_beside_the_outputs(tmp_path: Path) -> None:
    store = MemoryStore()
    store.create_run(run_record("R", tmp_path))
    store.put_task(task("a", "R", State.COMPLETE), None)
    objects = DirectoryObjects(str(tmp_path / "objects"))
    location = write_report(store, objects, "R")
    assert location == str(tmp_path / "objects" / "results" / "R" / "report.html")
    assert Path(location).read_text().startswith("<!DOCTYPE html>")
