"""Every value and file reaches the next task intact, and no task can damage an input (issue 9),
through both backends: the local mode's CLI, and ``aws_fargate`` under the fake Fargate harness
(whose tasks run as the EFS access point's non-root user would, see ``fargate_harness``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from fargate_env import FargateEnv
from local_mode import WDL_DIR, LocalMode

from chalicelib.ecs_events import ENV_ATTEMPT, ENV_CALL_ID, ENV_RUN_ID
from chalicelib.states import State

pytestmark = pytest.mark.e2e

FILES = WDL_DIR / "files_between.wdl"


@pytest.fixture
def local(tmp_path: Path) -> LocalMode:
    return LocalMode(tmp_path)


@pytest.fixture
def user_input(tmp_path: Path) -> Path:
    """A user's input given as a relative symlink, as ``ln -s`` makes them."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "real user.txt").write_text("user bytes\n")
    (data / "user.txt").symlink_to("real user.txt")
    return data / "user.txt"


def _mode_bits(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_files_reach_the_next_task_intact_in_the_local_mode(
    local: LocalMode, user_input: Path
) -> None:
    before = _mode_bits(user_input)
    result = local.cli("run", str(FILES), f"user_file={user_input}")
    assert result.code == 0, result.err
    outputs = result.json()["outputs"]
    assert outputs["files_between.checked"] == 11
    results = Path(local.home.objects_root)
    # Every File and Directory is published, wherever it sits in the value...
    for key in ("plain", "passed_through", "tree"):
        assert Path(outputs[f"files_between.{key}"]).is_relative_to(results), key
    assert all(Path(p).is_relative_to(results) for p in outputs["files_between.many"])
    ((key_file, value_file),) = outputs["files_between.pairs"].items()
    assert Path(key_file).is_relative_to(results) and Path(value_file).is_relative_to(results)
    assert Path(outputs["files_between.paired"]["left"]).is_relative_to(results)
    assert outputs["files_between.paired"]["right"] == "right"
    assert Path(outputs["files_between.bundle"]["data"]).read_text() == "plain bytes\n"
    assert Path(outputs["files_between.passed_through"]).read_text() == "user bytes\n"
    assert (Path(outputs["files_between.tree"]) / "sub" / "leaf.txt").read_text() == "tree bytes\n"
    # ... and a String stays the string the task wrote, even when it names a file.
    path_string = outputs["files_between.looks_like_a_path"]
    assert "_miniwdl_inputs" in path_string and not Path(path_string).is_relative_to(results)
    # The user's file keeps its bytes and its mode; the upstream output its bytes.
    assert user_input.resolve().read_text() == "user bytes\n"
    assert _mode_bits(user_input) == before
    (run,) = local.store().list_runs()[0]
    made = Path(run.run_dir or "") / "call-make" / "work" / "plain.txt"
    assert made.read_text() == "plain bytes\n"
    # Upstream outputs are read-only and placed by hard link: no byte is copied.
    assert _mode_bits(made) & 0o222 == 0
    placed = list((Path(run.run_dir or "") / "call-check" / "work").glob("_miniwdl_inputs/*/*"))
    plain = [p for p in placed if p.name == "plain.txt"]
    assert plain and all(p.stat().st_ino == made.stat().st_ino for p in plain)
    user_copy = next(p for p in placed if p.name == "user.txt")
    assert user_copy.stat().st_ino != user_input.resolve().stat().st_ino  # never the user's inode


def test_files_reach_the_next_task_intact_on_fargate(fargate: FargateEnv, user_input: Path) -> None:
    code, result = fargate.run(FILES, f"user_file={user_input}")
    assert code == 0, result
    assert result["outputs"]["files_between.checked"] == 11
    assert user_input.resolve().read_text() == "user bytes\n"
    assert all(t.state == State.COMPLETE for t in fargate.tasks())


@pytest.mark.parametrize("upstream", [False, True], ids=["user-input", "upstream-output"])
def test_a_task_cannot_write_to_its_input_in_the_local_mode(
    local: LocalMode, tmp_path: Path, upstream: bool
) -> None:
    original = tmp_path / "original.txt"
    original.write_text("original bytes\n")
    result = local.cli(
        "run",
        str(WDL_DIR / "write_to_input.wdl"),
        f"f={original}",
        f"upstream={str(upstream).lower()}",
    )
    assert result.code != 0, "the write to an input succeeded"
    assert "Permission denied" in result.err
    assert original.read_text() == "original bytes\n"
    if upstream:
        (run,) = local.store().list_runs()[0]
        made = Path(run.run_dir or "") / "call-make" / "work" / "out.txt"
        assert made.read_text() == "upstream bytes\n"


@pytest.mark.parametrize("upstream", [False, True], ids=["user-input", "upstream-output"])
def test_a_task_cannot_write_to_its_input_on_fargate(
    fargate: FargateEnv, tmp_path: Path, upstream: bool
) -> None:
    original = tmp_path / "original.txt"
    original.write_text("original bytes\n")
    code, result = fargate.run(
        WDL_DIR / "write_to_input.wdl", f"f={original}", f"upstream={str(upstream).lower()}"
    )
    assert code != 0 and result["cause"]["error"] == "CommandFailed"
    assert "Permission denied" in Path(result["cause"]["stderr_file"]).read_text()
    assert original.read_text() == "original bytes\n"
    if upstream:
        made = next(fargate.efs_root.glob("runs/*/call-make/work/out.txt"))
        assert made.read_text() == "upstream bytes\n"


def _environment(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


LEAKS = ("PYTHONPATH", "MINIWDL_FARGATE_HOME", "MINIWDL__TASK_RUNTIME__ENV", "SECRET_OF_THE_HOST")


def _check_task_environment(env: dict[str, str], run_id: str) -> None:
    assert env["GREETING"] == "hi"  # the WDL 1.2 env declaration
    assert env["FROM_CFG"] == "yes"  # [task_runtime] env
    assert env[ENV_RUN_ID] == run_id and env[ENV_CALL_ID] == "task_env" and env[ENV_ATTEMPT] == "1"
    assert env["PATH"] and env["HOME"]
    leaked = [k for k in env if k in LEAKS or k.startswith("MINIWDL__")]
    assert not leaked, leaked


def test_a_task_gets_a_defined_environment_in_the_local_mode(local: LocalMode) -> None:
    result = local.cli(
        "run",
        str(WDL_DIR / "task_env.wdl"),
        MINIWDL__TASK_RUNTIME__ENV='{"FROM_CFG": "yes"}',
        SECRET_OF_THE_HOST="leaked",
    )
    assert result.code == 0, result.err
    body = result.json()
    env = _environment(Path(body["outputs"]["task_env.listing"]).read_text())
    _check_task_environment(env, body["run_id"])


def test_a_task_gets_a_defined_environment_on_fargate(
    fargate: FargateEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRET_OF_THE_HOST", "leaked")
    monkeypatch.setenv("PYTHONPATH", os.environ.get("PYTHONPATH") or "/the/orchestrators")
    code, result = fargate.run(
        WDL_DIR / "task_env.wdl", MINIWDL__TASK_RUNTIME__ENV='{"FROM_CFG": "yes"}'
    )
    assert code == 0, result
    env = _environment(Path(result["outputs"]["task_env.listing"]).read_text())
    _check_task_environment(env, fargate.run_id)


def test_wdl_1_1_file_literal_is_relative_to_the_working_directory(
    local: LocalMode, tmp_path: Path
) -> None:
    wdl = tmp_path / "lit.wdl"
    wdl.write_text(
        "version 1.1\n"
        'workflow lit {\n  File f = "lit.txt"\n  call show { input: f = f }\n'
        "  output { String got = show.got }\n}\n"
        "task show {\n  input { File f }\n  command <<< cat '~{f}' >>>\n"
        "  output { String got = read_string(stdout()) }\n}\n"
    )
    (local.root / "lit.txt").write_text("literal bytes\n")  # the CLI runs in local.root
    result = local.cli("run", str(wdl), MINIWDL__FILE_IO__ALLOW_ANY_INPUT="true")
    assert result.code == 0, result.err
    assert result.json()["outputs"] == {"lit.got": "literal bytes"}


def test_a_failed_download_is_the_workflows_error_with_the_url_and_reason(
    local: LocalMode, tmp_path: Path
) -> None:
    url = "https://example.invalid/missing.txt"
    wdl = tmp_path / "dl.wdl"
    wdl.write_text(
        "version 1.1\n"
        "workflow dl {\n  input { File f }\n  call show { input: f = f }\n}\n"
        "task show {\n  input { File f }\n  command <<< cat '~{f}' >>>\n}\n"
    )
    result = local.cli("run", str(wdl), f"f={url}")
    assert result.code != 0
    (run,) = local.store().list_runs()[0]
    assert run.state == State.EXECUTOR_ERROR
    message = str((run.error or {}).get("message"))
    assert url in message
    reason = message.split(url, 1)[1]
    assert reason.startswith(": ") and len(reason) > 4, message
    assert json.dumps(run.error)  # recorded whole
