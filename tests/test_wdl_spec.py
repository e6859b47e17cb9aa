"""The WDL specification's own examples (WDL 1.1 and 1.2) as an outside conformance suite.

Every pinned example (``tests/wdl_spec/1.1``, ``tests/wdl_spec/1.2``) runs through
``miniwdl-fargate run`` in the local mode, and a sample of them through the ``aws_fargate`` backend
under the fake Fargate harness. An example listed in ``tests/wdl_spec/expected_failures.json`` is
an xfail with the reason recorded there; one that passes although it is listed fails the test,
asking for the entry to be removed; any other failure fails the test with the run's error.

The local-mode runs start once per session, in a background pool (``WDL_SPEC_WORKERS``, default 2)
that takes the examples selected in this session in test order; each example's test waits for its
own outcome and judges it. Under pytest-xdist, ``--dist loadfile`` (pyproject.toml) hands this
whole module to one worker, whose pool starts them all the same way. With ``WDL_SPEC_OUTCOMES=FILE``
the outcomes are also written to FILE as JSON at the end of the session.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from fargate_env import FargateEnv
from wdl_spec.runner import (
    ALL_RUNNERS,
    EXPECTED_FAILURES,
    Case,
    Outcome,
    expected_to_fail,
    judge,
    load_cases,
    load_expected_failures,
    prepare,
    run_case,
)

pytestmark = pytest.mark.e2e

CASES = {case.id: case for case in load_cases()}
EXPECTED = load_expected_failures()
WORKERS = int(os.environ.get("WDL_SPEC_WORKERS", "2"))
CATEGORIES = {"miniwdl", "host", "example", "ours"}

# Examples also run through the aws_fargate backend: Files passed between tasks (main.wdl hands
# a task's stdout() File to another task and to a subworkflow; hello.wdl and other.wdl take File
# inputs; change_extension reads back a File output), File outputs, globs, compound values,
# imports, subworkflows, scatters, conditionals, return codes and a failing command.
FARGATE_SAMPLE = [
    "1.2/hello.wdl",
    "1.2/main.wdl",
    "1.2/other.wdl",
    "1.2/call_example.wdl",
    "1.2/test_after.wdl",
    "1.2/test_range.wdl",
    "1.2/test_conditional.wdl",
    "1.2/task_outputs.wdl",
    "1.2/member_access.wdl",
    "1.2/change_extension_task.wdl",
    "1.2/glob_task.wdl",
    "1.2/outputs_task.wdl",
    "1.2/optional_output_task.wdl",
    "1.2/file_output_task.wdl",
    "1.2/serde_array_lines_task.wdl",
    "1.2/serialize_map.wdl",
    "1.2/single_return_code_task.wdl",
    "1.2/multi_return_code_fail_task.wdl",
    "1.2/read_string_task.wdl",
    "1.2/test_scatter.wdl",
    "1.1/hello.wdl",
    "1.1/input_ref_call.wdl",
    "1.1/serde_homogeneous_pair.wdl",
    "1.1/test_conditional.wdl",
]


def _selected_case_ids(session: pytest.Session) -> list[str]:
    """The example ids of this module's local-mode tests selected in this session."""
    ids = []
    for item in session.items:
        callspec = getattr(item, "callspec", None)
        if item.name.startswith("test_spec_example_in_local_mode") and callspec is not None:
            ids.append(callspec.params["case_id"])
    return ids


class _Outcomes:
    """The outcomes of the examples, run in the background by a small pool in test order, so
    that each test waits only for its own example (and per-test timeouts stay meaningful)."""

    def __init__(self, root: Path, workers: int) -> None:
        self.root = root
        self.pool = ThreadPoolExecutor(max_workers=workers)
        self.futures: dict[str, Future[Outcome]] = {}

    def submit(self, case_ids: list[str]) -> None:
        for case_id in case_ids:
            if case_id not in self.futures:
                self.futures[case_id] = self.pool.submit(
                    run_case, CASES[case_id], "miniwdl-fargate", self.root
                )

    def __getitem__(self, case_id: str) -> Outcome:
        self.submit([case_id])
        return self.futures[case_id].result()

    def close(self) -> list[Outcome]:
        """Stop the runs not started yet; the outcomes of those that finished."""
        self.pool.shutdown(wait=True, cancel_futures=True)
        return [f.result() for f in self.futures.values() if f.done() and not f.cancelled()]


@pytest.fixture(scope="session")
def local_outcomes(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[_Outcomes]:
    """Start the selected examples, in test order, through ``miniwdl-fargate run``. An xdist
    worker collects every item but runs only those it is handed: it starts them all only when
    the module is handed out whole (``--dist loadfile``; the ``dist`` that tests/conftest.py
    passes on), else each example when its test asks for it."""
    outcomes = _Outcomes(tmp_path_factory.mktemp("wdl-spec"), WORKERS)
    workerinput = getattr(request.config, "workerinput", None)
    if workerinput is None or workerinput.get("dist") in ("loadfile", "loadscope"):
        outcomes.submit(_selected_case_ids(request.session))
    start = time.monotonic()
    yield outcomes
    ran = outcomes.close()
    seconds = time.monotonic() - start
    print(f"\nwdl spec: {len(ran)} examples in {seconds:.0f}s with {WORKERS} workers")
    if os.environ.get("WDL_SPEC_OUTCOMES"):  # keep the outcomes, e.g. to compare runners
        Path(os.environ["WDL_SPEC_OUTCOMES"]).write_text(
            json.dumps([asdict(o) for o in ran], indent=2)
        )


def _verdict(case_id: str, runner: str, passed: bool, reason: str, detail: str = "") -> None:
    """Pass, xfail or fail one example's outcome against the expected-failures list."""
    entry = EXPECTED.get(case_id)
    if expected_to_fail(entry, runner):
        assert entry is not None
        if passed:
            pytest.fail(
                f"{case_id} now passes with {runner} but is listed in {EXPECTED_FAILURES.name} "
                f"({entry['category']}: {entry['reason']}); move it off the list"
            )
        pytest.xfail(f"{entry['category']}: {entry['reason']} (this run: {reason})")
    assert passed, f"{case_id} failed with {runner}: {reason}\n{detail}"


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_spec_example_in_local_mode(case_id: str, local_outcomes: _Outcomes) -> None:
    outcome = local_outcomes[case_id]
    _verdict(case_id, "miniwdl-fargate", outcome.passed, outcome.reason, outcome.stderr_tail)


@pytest.mark.parametrize("case_id", FARGATE_SAMPLE)
def test_spec_example_on_fake_fargate(
    case_id: str, fargate: FargateEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = CASES[case_id]
    workdir = tmp_path / "example"
    inputs = prepare(case, workdir)
    monkeypatch.chdir(workdir)  # relative input paths resolve here, as in the local mode
    task = ["--task", str(case.config["target"])] if case.config.get("type") == "task" else []
    code, result = fargate.run(case.wdl, "-i", str(inputs), *task)
    exit_codes = [t.exit_code for t in fargate.tasks() if t.exit_code is not None]
    error = json.dumps(result.get("cause") or result.get("error") or result)[:600]
    passed, reason = judge(
        case, code, result.get("outputs") if code == 0 else None, exit_codes, error
    )
    _verdict(case_id, "aws_fargate", passed, reason)


def test_fargate_sample_covers_files_between_tasks() -> None:
    """The sample has at least 20 examples, all pinned, including Files passed between tasks."""
    assert len(FARGATE_SAMPLE) >= 20 and set(FARGATE_SAMPLE) <= set(CASES)
    assert {"1.2/hello.wdl", "1.2/main.wdl", "1.2/other.wdl"} <= set(FARGATE_SAMPLE)


def test_expected_failures_are_well_formed() -> None:
    """Every listed example exists, says why it fails and which runners it fails with."""
    raw: dict[str, Any] = json.loads(EXPECTED_FAILURES.read_text())["expected_failures"]
    for case_id, entry in raw.items():
        assert case_id in CASES, f"{case_id} is listed but is not a pinned example"
        assert entry.get("category") in CATEGORIES, f"{case_id}: unknown category"
        assert len(entry.get("reason", "")) > 10, f"{case_id}: give a reason someone can check"
        assert set(entry.get("runners", ALL_RUNNERS)) <= set(ALL_RUNNERS), case_id


def test_an_expected_failure_that_passes_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check itself: a listed example whose run passes fails, naming the list."""
    case_id = "1.2/hello.wdl"
    monkeypatch.setitem(
        EXPECTED, case_id, {"category": "example", "reason": "pretend it is broken"}
    )
    with pytest.raises(pytest.fail.Exception, match="move it off the list"):
        _verdict(case_id, "miniwdl-fargate", True, "outputs match")
    with pytest.raises(pytest.xfail.Exception, match="pretend it is broken"):
        _verdict(case_id, "miniwdl-fargate", False, "run failed")
    monkeypatch.delitem(EXPECTED, case_id)
    with pytest.raises(AssertionError, match="failed with miniwdl-fargate"):
        _verdict(case_id, "miniwdl-fargate", False, "run failed")


def test_case_judgement_follows_the_spec_tests_rules() -> None:
    """Paths by basename, numbers within 1e-6, exclude_output, fail and return_code."""
    case = Case(
        "1.2",
        "x_task.wdl",
        Path("x_task.wdl"),
        {},
        {"x.f": "/a/b/out.txt", "x.n": 0.1, "x.skip": 1},
        {"fail": False, "exclude_output": ["skip"], "return_code": 3},
    )
    outputs = {"x.f": "/elsewhere/out.txt", "x.n": 0.1 + 1e-9, "x.skip": 2, "x.extra": 0}
    assert judge(case, 0, outputs, [3], "") == (True, "outputs match")
    assert not judge(case, 0, outputs, [0], "")[0]
    assert not judge(case, 0, {**outputs, "x.n": 0.2}, [3], "")[0]
    failing = Case(
        "1.2", "y_fail.wdl", Path("y_fail.wdl"), {}, {}, {"fail": True, "return_code": "*"}
    )
    assert judge(failing, 2, None, [], "boom")[0]
    assert not judge(failing, 0, {}, [], "")[0]
