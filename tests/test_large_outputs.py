"""A workflow's outputs grow with it; a run record must not (issue 17: a DynamoDB item holds at
most 400 KB, and 3,500 output files made a 377 KB record that failed after all the compute)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from local_mode import LocalMode

from chalicelib.objects import DirectoryObjects, result_key
from chalicelib.outputs import (
    MAX_RECORDED_OUTPUTS_BYTES,
    OUTPUTS_OBJECT,
    outputs_record,
    recorded_outputs,
)
from chalicelib.records import RunRecord, utc_now
from chalicelib.states import State

MANY_FILES = """version 1.1
workflow many_files {
  call make
  output { Array[File] files = make.files }
}
task make {
  command <<<
    for i in $(seq 3500); do echo "$i" > "output_file_number_$i.txt"; done
  >>>
  output { Array[File] files = glob("output_file_number_*.txt") }
}
"""


def _run(outputs: dict[str, object] | None) -> RunRecord:
    now = utc_now()
    return RunRecord(
        run_id="run-1",
        state=State.COMPLETE,
        created_at=now,
        updated_at=now,
        workflow_name="w",
        workflow_key="k",
        inputs_key="k",
        outputs=outputs,
    )


def test_small_outputs_stay_on_the_record_large_ones_only_in_the_objects(tmp_path: Path) -> None:
    small = {"w.n": 1}
    assert outputs_record(small, "loc", "dir")["values"] == small
    large = {"w.files": ["x" * 100] * (MAX_RECORDED_OUTPUTS_BYTES // 100)}
    record = outputs_record(large, "loc", "dir")
    assert "values" not in record and record["values_bytes"] > MAX_RECORDED_OUTPUTS_BYTES
    objects = DirectoryObjects(str(tmp_path))
    location = objects.put_bytes(result_key("run-1", OUTPUTS_OBJECT), json.dumps(large).encode())
    assert recorded_outputs(_run(outputs_record(large, location, "dir")), objects) == large
    assert recorded_outputs(_run(outputs_record(small, location, "dir")), objects) == small


@pytest.mark.e2e
def test_a_run_with_3500_output_files_completes_with_a_small_record(tmp_path: Path) -> None:
    local = LocalMode(tmp_path)
    wdl = tmp_path / "many.wdl"
    wdl.write_text(MANY_FILES)
    result = local.cli("run", str(wdl), timeout=300)
    assert result.code == 0, result.err
    files = result.json()["outputs"]["many_files.files"]
    assert len(files) == 3500 and all(Path(f).is_file() for f in files[:10])
    (run,) = local.store().list_runs()[0]
    assert run.state == State.COMPLETE
    assert len(json.dumps(run.to_item())) < 100_000  # far under DynamoDB's 400 KB
    shown = local.cli("outputs", run.run_id)
    assert shown.code == 0 and len(shown.json()["many_files.files"]) == 3500


def test_the_run_log_serves_outputs_too_large_for_the_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib import api
    from chalicelib.deployment import submitter_from_environment

    monkeypatch.setenv("MINIWDL_FARGATE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MINIWDL_FARGATE_TABLE", raising=False)
    submitter = submitter_from_environment()
    large = {"w.files": [f"/results/file-{i}.txt" for i in range(5000)]}
    location = submitter.objects.put_bytes(
        result_key("run-1", OUTPUTS_OBJECT), json.dumps(large).encode()
    )
    submitter.plane.store.create_run(_run(outputs_record(large, location, "dir")))
    log = api.run_log(submitter, "run-1", "http://127.0.0.1:8080/ga4gh/wes/v1")
    assert log["outputs"] == large and log["outputs_location"] == location
