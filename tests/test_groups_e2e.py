"""Run groups on the emulated stack, end to end: the API creates a group of one run at a time,
two runs submitted into it, the second waits QUEUED with its reason until the first's
orchestrator stops, then the status Lambda admits and launches it. Every task container took a
lease from the shared launch budget before its RunTask and gave it back on STOPPED."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from aws_stack import REPO, Stack
from local_mode import WDL_DIR, LocalMode
from wes_forms import post_run

pytestmark = pytest.mark.e2e

BASE = "/ga4gh/wes/v1"
HELLO = (REPO / "examples" / "hello.wdl").read_bytes()


def test_a_group_of_one_runs_its_runs_one_after_the_other(stack: Stack) -> None:
    created = stack.client.http.post(
        f"{BASE}/groups",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"name": "lab-a", "max_runs": 1, "max_vcpus": 2}).encode(),
    )
    assert created.status_code == 200, created.body
    ids = []
    for who in ("Ada", "Alan"):
        response = post_run(
            stack.client,
            {
                "workflow_url": "hello.wdl",
                "workflow_params": json.dumps({"hello.names": [who]}),
                "tags": json.dumps({"group": "lab-a"}),
            },
            {"hello.wdl": HELLO},
        )
        assert response.status_code == 200, response.body
        ids.append(response.json_body["run_id"])
    second = stack.run(ids[1])
    assert second.state.value == "QUEUED"
    assert second.waiting == "waiting: group lab-a has 1 of 1 runs"
    assert len(stack.harness.tasks) == 1  # one orchestrator launched, the other waits
    first = stack.wait(ids[0])
    assert first.state.value == "COMPLETE", first.error
    done = stack.wait(ids[1])
    assert done.state.value == "COMPLETE", done.error
    assert done.admitted_at is not None and done.admitted_at >= str(first.end_time)
    assert len(stack.harness.tasks) == 2
    group = stack.client.http.get(f"{BASE}/groups/lab-a").json_body
    assert group["runs_admitted"] in (0, 1) and group["runs_waiting"] == 0
    budget = stack.store.get_budget("account")
    tasks = [t for run_id in ids for t in stack.store.list_tasks(run_id)]
    assert tasks and all(t.lease for t in tasks)
    assert budget is not None and budget.leases == 0 and budget.groups == {}
    assert stack.store.list_leases("account") == {}
    assert budget.revision >= 2 * len(tasks)  # one conditional write to take, one to give back


ONE_VCPU_EACH = b"""version 1.1
workflow three {
  scatter (i in [1, 2, 3]) {
    call nap { input: i = i }
  }
  output { Array[Int] done = nap.out }
}
task nap {
  input { Int i }
  command <<< sleep 1; echo ~{i} >>>
  runtime { cpu: 1 }
  output { Int out = read_int(stdout()) }
}
"""


FULL_VCPUS = "waiting: group lab-b has 1 of 1 vCPUs in flight"


def test_tasks_over_the_groups_vcpus_wait_pending_in_the_runs_tasks(stack: Stack) -> None:
    """A group of 1 vCPU and a scatter of three 1-vCPU tasks: one runs at a time, and the
    others show among the run's tasks (store and WES) as QUEUED with why they wait, until
    they launch; none is left when the run ends."""
    created = stack.client.http.post(
        f"{BASE}/groups",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"name": "lab-b", "max_vcpus": 1}).encode(),
    )
    assert created.status_code == 200, created.body
    response = post_run(
        stack.client,
        {"workflow_url": "three.wdl", "tags": json.dumps({"group": "lab-b"})},
        {"three.wdl": ONE_VCPU_EACH},
    )
    assert response.status_code == 200, response.body
    run_id = response.json_body["run_id"]
    seen: dict[str, str] = {}
    logs: list[str] = []
    deadline = time.monotonic() + 90
    while stack.run(run_id).state.value not in ("COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR"):
        assert time.monotonic() < deadline, "the run did not finish"
        for task in stack.store.list_tasks(run_id):
            if task.waiting:
                seen[task.task_id] = task.waiting
                assert task.state.value == "QUEUED" and not task.task_arn and task.call_id
        if seen and FULL_VCPUS not in logs:
            listed = stack.client.http.get(f"{BASE}/runs/{run_id}/tasks").json_body
            logs = [x for t in listed["task_logs"] for x in t.get("system_logs", [])]
        time.sleep(0.1)
    done = stack.wait(run_id)
    assert done.state.value == "COMPLETE", done.error
    assert seen and set(seen.values()) == {FULL_VCPUS}
    assert FULL_VCPUS in logs  # WES's task list shows it too
    tasks = stack.store.list_tasks(run_id)
    assert len(tasks) == 3 and all(t.task_arn and not t.waiting for t in tasks)
    assert not set(seen) & {t.task_id for t in tasks}


def test_run_groups_in_the_local_mode(tmp_path: Path) -> None:
    """The CLI's group commands over the local home: a run over its group's limit waits QUEUED
    with its reason, a waiting run is canceled without anything launched, and a run's end
    admits the next."""
    local = LocalMode(tmp_path)
    assert local.cli("group", "create", "lab-a", "--max-runs", "1").code == 0
    slow = local.cli("submit", str(WDL_DIR / "slow.wdl"), "--tag", "group=lab-a").out.strip()
    second = local.cli("submit", str(REPO / "examples/hello.wdl"), "--tag", "group=lab-a")
    third = local.cli("submit", str(REPO / "examples/hello.wdl"), "--tag", "group=lab-a")
    store = local.store()
    waiting = store.get_run(second.out.strip())
    assert waiting.state.value == "QUEUED" and waiting.orchestrator_arn is None
    assert (waiting.waiting or "").startswith("waiting: group lab-a has 1 of 1 runs")
    canceled = local.cli("cancel", third.out.strip())
    assert canceled.out.strip() == f"run {third.out.strip()} CANCELED", canceled.err
    assert store.get_run(third.out.strip()).orchestrator_arn is None  # never launched
    local.cli("cancel", slow)
    local.wait_for(
        lambda: store.get_run(second.out.strip()).state.value == "COMPLETE",
        timeout=60,
        what="the waiting run admitted and finished",
    )
    listed = local.cli("group", "list", "--json").json()
    lab = next(g for g in listed if g["name"] == "lab-a")
    assert lab["runs_admitted"] == 0 and lab["runs_waiting"] == 0
