"""Every CLI command through both run services, the local home and the WES API (``serve``):
the same exit codes and the same output, once run ids and paths are set aside.

The CLI runs in this process (``cli.main``) so the table stays fast; ``serve`` is a real server
over its own home, and both homes run real orchestrators and tasks.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from local_mode import REPO, WDL_DIR, Result, leftover_processes
from test_serve import ServedApi

from chalicelib import cli
from chalicelib.wes_client import TERMINAL_STATES, RunRequest, WesError

HELLO = str(REPO / "examples" / "hello.wdl")
RUN_ID = re.compile(r"\b(req-[0-9a-f]{28}|\d{8}-\d{6}-[0-9a-f]{8})\b")

FLAGS_MAIN = """version 1.1
import "lib.wdl" as lib
workflow flags {
  input {
    Array[String] xs
    String? s = "default"
  }
  call lib.show { input: n = length(xs), s_defined = defined(s) }
  output {
    String env = show.env
    Int n = show.count
    Boolean s_defined = show.defined_s
  }
}
"""
FLAGS_LIB = """version 1.1
task show {
  input {
    Int n
    Boolean s_defined
  }
  command <<<
    echo "${FOO:-unset}"
  >>>
  output {
    String env = read_string(stdout())
    Int count = n
    Boolean defined_s = s_defined
  }
}
"""


class Modes:
    """One local home and one ``serve`` (over another home); ``cli(mode, ...)`` runs the CLI
    against one of them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.local_home = root / "local-home"
        (root / "served").mkdir()
        self.served = ServedApi(root / "served")
        self.runs: dict[str, dict[str, str]] = {"local": {}, "api": {}}
        (root / "wf").mkdir()
        (root / "wf" / "main.wdl").write_text(FLAGS_MAIN)
        (root / "libdir").mkdir()
        (root / "libdir" / "lib.wdl").write_text(FLAGS_LIB)
        # longer than a tag may be: a cfg travels whole as an engine parameter
        comment = "# " + "a long comment " * 30 + "\n"
        (root / "ok.cfg").write_text(comment + '[task_runtime]\ndefaults = {"maxRetries": 1}\n')
        (root / "bad.cfg").write_text("[scheduler]\ncontainer_backend = docker\n")

    def cli(self, mode: str, *args: str, **shell: str) -> Result:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MINIWDL")}
        env.update(shell)
        env["MINIWDL_FARGATE_HOME"] = str(self.local_home)
        if mode == "api":
            env["MINIWDL_FARGATE_API"] = self.served.url
        out, err = io.StringIO(), io.StringIO()
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(env)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    code = cli.main(list(args))
                except SystemExit as exit_:
                    code = exit_.code if isinstance(exit_.code, int) else 1
        finally:
            os.environ.clear()
            os.environ.update(saved)
        return Result(code, out.getvalue(), err.getvalue())

    def both(self, *args: str, **shell: str) -> tuple[Result, Result]:
        """The command in each mode, ``{name}`` in it replaced by that mode's run of that name;
        ``shell``: more variables in the submitting shell's environment."""
        results = []
        for mode in ("local", "api"):
            filled = [a.format(**self.runs[mode], root=self.root) for a in args]
            results.append(self.cli(mode, *filled, **shell))
        return results[0], results[1]


@pytest.fixture(scope="module")
def modes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Modes]:
    m = Modes(tmp_path_factory.mktemp("modes"))
    yield m
    client = m.served.client()
    deadline = time.monotonic() + 30
    while any(r["state"] not in TERMINAL_STATES for r in client.iter_runs()):
        assert time.monotonic() < deadline, "runs still going"
        time.sleep(0.1)
    assert m.served.stop() == 0
    for home in (str(m.local_home), str(m.served.home)):
        while leftover_processes(home):
            assert time.monotonic() < deadline, leftover_processes(home)
            time.sleep(0.1)


def normal(text: str, modes: Modes) -> str:
    """``text`` with run ids, the homes and the API's URL set aside."""
    text = RUN_ID.sub("RUN", text)
    for path in (str(modes.served.home), str(modes.local_home)):
        text = text.replace(path, "HOME")
    return text.replace(modes.served.url + "/ga4gh/wes/v1", "API")


def same_json_shape(a: Any, b: Any) -> None:
    assert type(a) is type(b)
    if isinstance(a, dict):
        assert sorted(a) == sorted(b)
        for key in a:
            same_json_shape(a[key], b[key])


# The runs the table reads, made first (in both modes).


def test_run_hello_in_both_modes(modes: Modes) -> None:
    local, api = modes.both("run", HELLO)
    assert (local.code, api.code) == (0, 0), (local.err, api.err)
    for mode, result in (("local", local), ("api", api)):
        modes.runs[mode]["hello"] = result.json()["run_id"]
    same_json_shape(local.json(), api.json())
    assert local.json()["outputs"]["hello.count"] == api.json()["outputs"]["hello.count"] == 3
    assert sorted(local.json()) == ["dir", "outputs", "run_id"]
    last = [normal(r.err, modes).splitlines()[-1].split("] ", 1)[1] for r in (local, api)]
    assert last[0] == last[1] == "run RUN COMPLETE     tasks: 0 queued, 0 running, 4 done, 0 failed"


def test_run_failing_in_both_modes_with_error_json(modes: Modes) -> None:
    local, api = modes.both("run", str(WDL_DIR / "fails.wdl"), "--error-json")
    assert (local.code, api.code) == (3, 3)
    for mode, result in (("local", local), ("api", api)):
        modes.runs[mode]["fails"] = result.json()["run_id"]
        assert "about to fail on purpose" in result.err
    same_json_shape(local.json(), api.json())
    assert local.json()["state"] == api.json()["state"] == "EXECUTOR_ERROR"
    first = [
        next(line for line in normal(r.err, modes).splitlines() if line.startswith("run RUN E"))
        for r in (local, api)
    ]
    assert first[0] == first[1] and "call-fail failed" in first[0]


def test_miniwdl_run_flags_end_to_end_in_both_modes(modes: Modes) -> None:
    args = [
        "run",
        "{root}/wf/main.wdl",
        "--empty",
        "xs",
        "--none",
        "s",
        "-p",
        "{root}/libdir",
        "--no-outside-imports",
        "--env",
        "FOO=from-env",
        "--cfg",
        "{root}/ok.cfg",
        "--runtime-defaults",
        '{{"maxRetries": 2}}',
        "--runtime-cpu-max",
        "1",
        "--runtime-memory-max",
        "1G",
        "--no-cache",
        "--copy-input-files",
        "-v",
        "--no-color",
        "-d",
        "flagged/runs",
        "--delete-after",
        "success",
    ]
    shell = {
        "MINIWDL__SCHEDULER__TASK_CONCURRENCY": "1",  # passed to the run's miniwdl
        "MINIWDL__AWS_FARGATE__CLUSTER": "elsewhere",  # the deployment's: left behind
    }
    local, api = modes.both(*args, **shell)
    assert (local.code, api.code) == (0, 0), (local.err, api.err)
    assert (
        local.json()["outputs"]
        == api.json()["outputs"]
        == {
            "flags.env": "from-env",
            "flags.n": 0,
            "flags.s_defined": False,
        }
    )
    for mode, result in (("local", local), ("api", api)):
        modes.runs[mode]["flags"] = result.json()["run_id"]
        run_dir = result.json()["dir"]
        assert "/work/flagged/runs/" in run_dir and run_dir.endswith(result.json()["run_id"])
        # --delete-after success: the orchestrator removes it just after recording the outcome
        deadline = time.monotonic() + 10
        while os.path.exists(run_dir) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not os.path.exists(run_dir)
    local_log, api_log = modes.both("logs", "{flags}", "--stdout")
    for log in (local_log, api_log):
        assert log.code == 0
        assert "read configuration file" in log.out  # --cfg, applied in the orchestrator
        assert "task_concurrency: 1" in log.out  # the shell's MINIWDL__ setting
        assert "effective runtime :: maxRetries: 2" in log.out  # --runtime-defaults wins
        # --no-cache overrode the deployment's cache lookups
        unused = next(line for line in log.out.splitlines() if "unused environment" in line)
        assert "MINIWDL__CALL_CACHE__GET" in unused


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["status", "{hello}"], 0, None),
        (["outputs", "{hello}"], 0, None),
        (["logs", "{hello}", "--task", "call-say_hello-1", "--stdout"], 0, "Hello, Grace!"),
        (["logs", "{hello}", "--task", "call-nope"], 2, "has no task 'call-nope'"),
        (["list", "--state", "complete", "--limit", "1"], 0, "RUN"),
        (["list", "--state", "DONE"], 2, "unknown state"),
        (["list", "--limit", "0"], 2, "--limit must be at least 1"),
        (["status", "no-such-run"], 2, "no run 'no-such-run'"),
        (["cancel", "{hello}"], 2, "already ended COMPLETE"),
        (["outputs", "{fails}"], 2, "only a COMPLETE run has outputs"),
        (["submit", str(WDL_DIR / "needs_input.wdl")], 2, "missing required inputs"),
        (["submit", HELLO, "--tag", "novalue"], 2, "--tag takes KEY=VALUE"),
        (["run", HELLO, "--as-me"], 2, "--as-me is not supported here"),
        (["run", HELLO, "-j"], 2, "-j is not supported here"),
        (["run", HELLO, "-d", "../out"], 2, "outside the work filesystem's root"),
        (["run", HELLO, "-d", "/etc"], 2, "-d/--dir"),
        (["run", HELLO, "--env", "MINIWDL_FARGATE_NOT_SET"], 2, "is not set in this shell"),
        (["run", HELLO, "--cfg", "{root}/bad.cfg"], 2, "may not set [scheduler]"),
        (["run", HELLO, "--cfg", "{root}/none.cfg"], 2, "--cfg: cannot read"),
        (["run", HELLO, "--runtime-defaults", "{{"], 2, "runtime_defaults is not valid JSON"),
        (["run", HELLO, "--runtime-cpu-max", "0"], 2, "--runtime-cpu-max"),
        (["run", HELLO, "--runtime-memory-max", "lots"], 2, "a size such as"),
        (["run", "{root}/wf/main.wdl", "--empty", "xs", "--no-outside-imports"], 2, "import"),
        (["run", "{root}/wf/main.wdl", "--empty", "nope", "-p", "{root}/libdir"], 2, "nope"),
    ],
)
def test_each_command_gives_the_same_in_both_modes(
    modes: Modes, args: list[str], code: int, says: str | None
) -> None:
    if not modes.runs["api"]:
        pytest.skip("needs the runs of the tests above")
    local, api = modes.both(*args)
    assert (local.code, api.code) == (code, code), (local.err, api.err)
    if code == 2:
        assert local.err.count("\n") == 1 and local.err.startswith("miniwdl-fargate: error: ")
        assert normal(local.err, modes) == normal(api.err, modes)
        assert local.out == api.out == ""
    elif args[0] == "status":
        a, b = local.json(), api.json()
        a.pop("cost", None), b.pop("cost", None)
        same_json_shape(
            {k: v for k, v in a.items() if k not in ("log", "outputs")},
            {k: v for k, v in b.items() if k not in ("log", "outputs")},
        )
        assert (a["state"], a["tasks"], a["workflow"]) == (b["state"], b["tasks"], b["workflow"])
        assert sorted(a) == sorted(b)
    elif args[0] == "list":
        header = local.out.splitlines()[0].split()
        assert header == ["RUN", "STATE", "SUBMITTED", "TASKS", "WORKFLOW"]
        rows = [normal(r.out, modes).splitlines()[1].split() for r in (local, api)]
        assert rows[0][1] == rows[1][1] == "COMPLETE"
    else:
        assert normal(local.out, modes) == normal(api.out, modes) or args[0] == "outputs"
        if args[0] == "outputs":
            same_json_shape(local.json(), api.json())
    if says:
        assert says in (local.err if code else local.out)


def test_the_api_refuses_bad_engine_parameters_itself(modes: Modes) -> None:
    """Without the CLI's own checks, the API says the same."""
    client = modes.served.client()
    for params, says in (
        ({"dir": "../x"}, "outside the work filesystem's root"),
        ({"no_cache": "yes"}, "must be 'true' or 'false'"),
        ({"cfg": "[file_io]\nroot = /\n"}, "may not set [file_io] root"),
        ({"env": '{"1X": "v"}'}, "env must map variable names"),
        ({"path": '["/abs"]'}, "outside the request's files"),
        ({"bogus": "1"}, "unknown workflow_engine_parameters key"),
    ):
        request = RunRequest(
            workflow_url="https://example.com/x.wdl",
            workflow_params={},
            workflow_type_version="1.0",
            workflow_engine_parameters=params,
        )
        with pytest.raises(WesError, match=re.escape(says)) as caught:
            client.submit_run(request)
        assert caught.value.status_code == 400


def test_follow_streams_the_whole_log_in_order_then_the_outputs(modes: Modes) -> None:
    # --no-cache: its tasks run again; --delete-after: a last line after the run has ended
    local, api = modes.both(
        "run", HELLO, "--follow", "-v", "--no-cache", "--delete-after", "always"
    )
    assert (local.code, api.code) == (0, 0), (local.err, api.err)
    for mode, result in (("local", local), ("api", api)):
        run_id = result.json()["run_id"]
        final = modes.cli(mode, "logs", run_id, "--stdout").out
        assert "workflow start" in final and result.err == final  # every byte once, in order
        assert "delete_after=always: removing" in final.splitlines()[-1]
        assert result.json()["outputs"]["hello.count"] == 3
        modes.runs[mode]["followed"] = run_id
    # --follow on `logs` of an ended run: the log, as without it (one mode each: the reading is
    # the adapters', checked above; the following is written once)
    api_run = modes.runs["api"]["followed"]
    followed = modes.cli("api", "logs", api_run, "--follow")
    assert followed.code == 0 and followed.out == modes.cli("api", "logs", api_run).out
    local_run = modes.runs["local"]["hello"]  # "followed" deleted its run directory
    task = modes.cli(
        "local", "logs", local_run, "--task", "call-say_hello-2", "--follow", "--stdout"
    )
    assert (task.code, task.out) == (0, "Hello, Barbara!\n")


def test_submit_wait_follow_and_a_failure_exit_code(modes: Modes) -> None:
    local, api = (
        modes.cli(
            mode, "submit", str(WDL_DIR / "fails.wdl"), "--wait", "-o", f"{modes.root}/{mode}.json"
        )
        for mode in ("local", "api")
    )
    assert (local.code, api.code) == (3, 3) and local.out == api.out == ""
    errors = [json.loads((modes.root / f"{mode}.json").read_text()) for mode in ("local", "api")]
    same_json_shape(*errors)
    assert errors[0]["state"] == "EXECUTOR_ERROR" and "call-fail failed" in errors[0]["message"]
    assert normal(local.err, modes).splitlines()[0] == "run RUN submitted"
    assert normal(local.err, modes).splitlines()[1] == normal(api.err, modes).splitlines()[1]
    followed = modes.cli("api", "submit", HELLO, "--follow", "--delete-after", "always")
    assert followed.code == 0, followed.err
    final = modes.cli("api", "logs", followed.json()["run_id"], "--stdout").out
    assert followed.err.split("\n", 1)[1] == final and "workflow start" in final


def test_status_watch_and_list_json(modes: Modes) -> None:
    local, api = modes.both("status", "{hello}", "--watch")
    assert (local.code, api.code) == (0, 0)
    assert local.json() == modes.cli("local", "status", modes.runs["local"]["hello"]).json()
    listed = modes.both("list", "--json", "--state", "COMPLETE", "--limit", "2")
    rows = [r.json() for r in listed]
    assert len(rows[0]) == len(rows[1]) == 2
    same_json_shape(rows[0], rows[1])
    assert {r["state"] for r in rows[0] + rows[1]} == {"COMPLETE"}
    assert sorted(rows[0][0]) == ["run_id", "state", "submitted", "tasks", "workflow"]
