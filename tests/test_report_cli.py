"""``miniwdl-fargate report RUN [-o FILE]`` through both run services (the local home and the
WES API that ``serve`` serves), and the API's ``GET /runs/{run_id}/report`` route it uses."""

from __future__ import annotations

import dataclasses
import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from local_mode import REPO, leftover_processes
from test_cli_modes import HELLO, Modes

from chalicelib.local_mode import LocalHome

BASE = "/ga4gh/wes/v1"


@pytest.fixture(scope="module")
def modes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Modes]:
    m = Modes(tmp_path_factory.mktemp("report-modes"))
    yield m
    assert m.served.stop() == 0
    for home in (str(m.local_home), str(m.served.home)):
        assert not leftover_processes(home)


def attempts(page: str) -> int:
    return page.count('<g class="attempt')


def test_report_writes_beside_the_results_locally_and_here_through_the_api(
    modes: Modes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # where the API mode writes ./RUN-report.html
    local, api = modes.both("run", HELLO)
    assert (local.code, api.code) == (0, 0), (local.err, api.err)
    runs = {"local": local.json()["run_id"], "api": api.json()["run_id"]}

    done = modes.cli("local", "report", runs["local"][:17])  # a unique prefix will do
    assert done.code == 0, done.err
    expected = modes.local_home / "objects" / "results" / runs["local"] / "report.html"
    assert done.out == f"{expected}\n"
    page = expected.read_text()
    store = LocalHome(str(modes.local_home)).control_plane().store
    tasks = store.list_tasks(runs["local"])
    assert page.startswith("<!DOCTYPE html>") and attempts(page) == len(tasks) == 4
    # every local attempt records when it was asked for: its queued phase is drawn
    assert all(t.requested_at and t.requested_at <= (t.created_at or "") for t in tasks), tasks
    assert page.count('class="phase queued"') >= len(tasks)

    remote = modes.cli("api", "report", runs["api"])
    assert remote.code == 0, remote.err
    assert remote.out == f"{tmp_path / (runs['api'] + '-report.html')}\n"
    served = (tmp_path / f"{runs['api']}-report.html").read_text()
    assert attempts(served) == 4 and f"Run {runs['api']}: hello" in served

    for mode in ("local", "api"):
        chosen = tmp_path / f"{mode}.html"
        written = modes.cli(mode, "report", runs[mode], "-o", str(chosen))
        assert written.code == 0 and written.out == f"{chosen}\n", written.err
        assert attempts(chosen.read_text()) == 4
        shown = modes.cli(mode, "report", runs[mode], "-o", "-")
        assert shown.code == 0 and shown.out.startswith("<!DOCTYPE html>")
        assert attempts(shown.out) == 4


def test_the_api_serves_the_report_as_html_and_404s_an_unknown_run(modes: Modes) -> None:
    ended = [r["run_id"] for r in modes.served.client().iter_runs() if r["state"] == "COMPLETE"]
    if not ended:
        pytest.skip("needs the run of the first test")
    run_id = ended[0]
    with urllib.request.urlopen(f"{modes.served.url}{BASE}/runs/{run_id}/report") as answer:
        body = answer.read().decode()
        assert answer.status == 200
        assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
        assert "default-src 'none'" in answer.headers["Content-Security-Policy"]
    assert body.startswith("<!DOCTYPE html>") and f"Run {run_id}" in body
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"{modes.served.url}{BASE}/runs/nope/report")
    assert missing.value.code == 404
    assert json.loads(missing.value.read()) == {"msg": "no run 'nope'", "status_code": 404}


def test_report_errors_are_one_line_and_the_same_in_both_modes(
    modes: Modes, tmp_path: Path
) -> None:
    unknown = modes.both("report", "no-such-run")
    assert [r.code for r in unknown] == [2, 2]
    assert [r.err for r in unknown] == ["miniwdl-fargate: error: no run 'no-such-run'\n"] * 2

    for mode, home in (("local", modes.local_home), ("api", modes.served.home)):
        store = LocalHome(str(home)).control_plane().store
        run_id = store.list_runs(page_size=1)[0][0].run_id
        unwritable = modes.cli(mode, "report", run_id, "-o", str(tmp_path / "no" / "x.html"))
        assert unwritable.code == 2 and unwritable.out == ""
        assert unwritable.err == (
            f"miniwdl-fargate: error: -o: cannot write {tmp_path}/no/x.html:"
            " No such file or directory\n"
        )
        # a run whose records cannot be drawn: the usage is not figures
        (task, *_) = store.list_tasks(run_id)
        broken = dataclasses.replace(
            task,
            task_id=f"{task.task_id}-x",
            version=0,
            revision=0,
            usage={"peak_memory_mib": "lots"},
        )
        assert store.put_task(broken, None)
        failed = modes.cli(mode, "report", run_id)
        assert failed.code == 2, failed.err
        assert failed.err.count("\n") == 1
        assert f"the report of run {run_id} could not be built: ValueError" in failed.err


def test_the_report_route_has_the_same_authorizer_as_the_wes_routes() -> None:
    import app

    routes = app.app.routes
    report = routes[f"{BASE}/runs/{{run_id}}"]["GET"].authorizer
    assert routes[f"{BASE}/runs/{{run_id}}/report"]["GET"].authorizer is report
    assert report is app.authorizer


def test_the_makefiles_demo_prints_the_report_through_the_cli() -> None:
    demo = (REPO / "Makefile").read_text().split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    assert re.search(r"miniwdl-fargate report \$\$run", demo), demo
    assert "chalicelib.report" not in demo
