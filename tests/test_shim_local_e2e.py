"""The shim under the local backend, end to end: a task that really allocates 160 MiB and burns
1 s of CPU runs through ``miniwdl-fargate run``; its figures reach the task record, the
notifications and the run's report."""

from __future__ import annotations

import json
from pathlib import Path

from local_mode import LocalMode

from chalicelib.states import State

WDL = """
version 1.1
task burn {
  command <<<
    python3 - <<'PY'
    import time
    block = bytearray(160 * 1024 * 1024)
    for i in range(0, len(block), 4096):
        block[i] = 1
    start = time.process_time()
    while time.process_time() - start < 1.0:
        pass
    time.sleep(0.3)
    PY
    echo done
  >>>
  output { String out = read_string(stdout()) }
  runtime { cpu: 1  memory: "1 GiB" }
}
"""


def test_a_local_tasks_usage_reaches_its_record_notifications_and_report(tmp_path: Path) -> None:
    local = LocalMode(tmp_path)
    wdl = tmp_path / "burn.wdl"
    wdl.write_text(WDL)
    done = local.cli("run", str(wdl))
    assert done.code == 0, done.err
    run_id = done.json()["run_id"]
    store = local.store()
    (task,) = store.list_tasks(run_id)
    assert task.state == State.COMPLETE and task.usage is not None, task
    usage = task.usage
    assert usage["memory_source"] == "proc" and usage["cpu_source"] == "times"
    assert 160 <= usage["peak_memory_mib"] <= 260
    assert 0.9 <= usage["cpu_seconds"] <= 1.8
    assert usage["exit_code"] == 0 and usage["seconds"] >= 1.2
    notes = [
        json.loads(line)
        for line in Path(local.home.notifications_path).read_text().splitlines()
        if '"WDL Task Usage"' in line
    ]
    assert [n["detail"]["usage"] for n in notes] == [usage]
    report = Path(local.home.objects_root) / "results" / run_id / "report.html"
    page = report.read_text()
    assert 'class="attempt succeeded"' in page and task.call_id in page
