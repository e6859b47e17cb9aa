"""``miniwdl run``'s flags on ``run``/``submit``: every one is taken or refused in one line, and
the engine parameters they become are checked and turned back into ``miniwdl run`` arguments
by pure functions (no run needed)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pytest
from WDL import CLI as wdl_cli

from chalicelib import cli
from chalicelib.cli_run_flags import REFUSED, submission, task_environment
from chalicelib.run_service import CliError
from chalicelib.wes_engine_parameters import (
    EngineParameterError,
    check_engine_parameter,
    miniwdl_run_args,
    requested_run_dir,
)


def _miniwdl_run_options() -> dict[str, argparse.Action]:
    """Every option ``miniwdl run --help`` shows, by its option strings."""
    parser = wdl_cli.create_arg_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    run = subparsers.choices["run"]
    return {
        "/".join(a.option_strings): a
        for a in run._actions
        if a.option_strings and a.help != argparse.SUPPRESS
    }


# A value to give each option that takes one, for the table below.
VALUES = {
    "-i": "inputs.json",
    "--empty": "x",
    "--none": "x",
    "--task": "t",
    "-d": "sub",
    "-o": "out.json",
    "--cfg": "my.cfg",
    "--runtime-defaults": "{}",
    "--env": "A=1",
    "--copy-input-files-for": "t",
    "-p": "lib",
}


@pytest.mark.parametrize("options", sorted(_miniwdl_run_options()))
def test_every_miniwdl_run_option_is_taken_or_refused_in_one_line(options: str) -> None:
    action = _miniwdl_run_options()[options]
    flag = action.option_strings[0]
    if flag == "-h":
        return  # argparse's own
    argv = ["run", "x.wdl", flag]
    if action.nargs != 0:
        argv.append(VALUES[flag])
    args = cli._parser().parse_args(argv)  # an unknown flag would exit 2 here
    refused = [o for o in action.option_strings if o in REFUSED]
    if not refused:
        assert args.refused is None, options
        return
    with pytest.raises(CliError, match=f"^{flag} is not supported here: .+") as caught:
        submission(args)
    assert "\n" not in str(caught.value)


def test_refused_options_exit_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    for option in ("--as-me", "--no-quant-check", "--debug", "-j"):
        with pytest.raises(SystemExit) as exit_:
            cli.main(["run", "x.wdl", option])
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{option} is not supported here: " in err


def test_the_hidden_runtime_limits_are_taken_too() -> None:
    args = cli._parser().parse_args(
        ["run", "x.wdl", "--runtime-cpu-max", "2", "--runtime-memory-max", "4G"]
    )
    assert dict(submission(args).options) == {"runtime_cpu_max": "2", "runtime_memory_max": "4G"}


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("no_cache", "1", "must be 'true' or 'false'"),
        ("dir", "/abs", "outside the work filesystem's root"),
        ("dir", "a/../../b", "outside the work filesystem's root"),
        ("dir", "..", "outside"),
        ("cfg", "no section", "not a miniwdl configuration file"),
        ("cfg", "[scheduler]\ncontainer_backend = docker\n", "[scheduler] container_backend"),
        ("cfg", "[FILE_IO]\nRoot = /\n", "the work filesystem's root"),
        ("cfg", "[call_cache]\ndir = /x\n", "call cache"),
        ("cfg", "[a]\nb = " + "x" * 70_000 + "\n", "larger than 64 KiB"),
        ("runtime_defaults", "[1]", "must be a JSON object"),
        ("runtime_defaults", "{", "not valid JSON"),
        ("env", '{"A": 1}', "env must map variable names to strings"),
        ("env", '{"A-B": "x"}', "env must map variable names"),
        ("copy_input_files_for", '"t"', "JSON list of task names"),
        ("runtime_cpu_max", "-1", "whole number >= 1"),
        ("runtime_cpu_max", "1.5", "whole number >= 1"),
        ("runtime_memory_max", "0G", "a size such as"),
        ("runtime_memory_max", "4Q", "a size such as"),
        ("path", '["../x"]', "outside the request's files"),
        ("path", "[1]", "JSON list of the request's directories"),
    ],
)
def test_engine_parameters_refused_with_what_they_take(key: str, value: str, message: str) -> None:
    with pytest.raises(EngineParameterError, match=message.replace("[", r"\[").replace("]", r"\]")):
        check_engine_parameter(key, value)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("no_cache", "true"),
        ("dir", "a/b"),
        ("dir", "a/."),
        ("cfg", "[task_runtime]\ndefaults = {}\n"),
        ("runtime_defaults", '{"maxRetries": 2}'),
        ("env", '{"A_1": "x=y"}'),
        ("runtime_cpu_max", "4"),
        ("runtime_memory_max", "1.5 GiB"),
        ("path", '["lib", "a/b"]'),
    ],
)
def test_engine_parameters_taken(key: str, value: str) -> None:
    check_engine_parameter(key, value)


def test_miniwdl_run_args_from_the_options() -> None:
    options = {
        "no_cache": "true",
        "verbose": "false",
        "log_json": "true",
        "cfg": "[x]\n",
        "runtime_defaults": '{"a": 1}',
        "runtime_cpu_max": "2",
        "runtime_memory_max": "1G",
        "env": json.dumps({"B": "2", "A": "x y"}),
        "copy_input_files_for": '["t1", "t2"]',
        "dir": "ignored here",
        "path": '["ignored: the bundle has the imports"]',
    }
    assert miniwdl_run_args(options, "/w/run.cfg") == [
        "--no-cache",
        "--log-json",
        "--cfg",
        "/w/run.cfg",
        "--runtime-defaults",
        '{"a": 1}',
        "--runtime-cpu-max",
        "2",
        "--runtime-memory-max",
        "1G",
        "--env",
        "A=x y",
        "--env",
        "B=2",
        "--copy-input-files-for",
        "t1",
        "--copy-input-files-for",
        "t2",
    ]
    assert miniwdl_run_args({}) == [] and miniwdl_run_args({"cfg": "x"}) == []


def test_requested_run_dir_stays_under_the_root(tmp_path: Path) -> None:
    root = tmp_path / "work"
    root.mkdir()
    assert requested_run_dir(str(root), "R", {}) is None
    assert requested_run_dir(str(root), "R", {"dir": "a/b"}) == str(root / "a" / "b" / "R")
    assert requested_run_dir(str(root), "R", {"dir": "a/b/."}) == str(root / "a" / "b")
    (root / "escape").symlink_to(tmp_path)
    with pytest.raises(EngineParameterError, match="leads outside"):
        requested_run_dir(str(root), "R", {"dir": "escape/x"})
    with pytest.raises(EngineParameterError, match="root itself"):
        requested_run_dir(str(root), "R", {"dir": "."})
    with pytest.raises(EngineParameterError, match="outside"):
        requested_run_dir(str(root), "R", {"dir": "../x"})


def test_env_names_alone_take_this_shells_value() -> None:
    assert task_environment(["A=1", "B", "C="], {"B": "from shell"}) == {
        "A": "1",
        "B": "from shell",
        "C": "",
    }
    with pytest.raises(CliError, match="D is not set in this shell"):
        task_environment(["D"], {})


def test_an_absolute_dir_under_the_local_work_root_is_made_relative(tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "mine").mkdir(parents=True)
    parse = cli._parser().parse_args
    inside = submission(parse(["run", "x.wdl", "-d", str(work / "mine") + "/."]), str(work))
    assert inside.options["dir"] == "mine/."
    with pytest.raises(CliError, match="dir '/etc' is outside"):
        submission(parse(["run", "x.wdl", "-d", "/etc"]), str(work))
    relative = submission(parse(["run", "x.wdl", "-d", "runs"]), None)
    assert relative.options["dir"] == "runs"


def test_runtime_defaults_from_a_file_and_cfg_that_cannot_be_read(tmp_path: Path) -> None:
    (tmp_path / "rd.json").write_text('{"maxRetries": 3}')
    parse = cli._parser().parse_args
    got = submission(parse(["run", "x.wdl", "--runtime-defaults", str(tmp_path / "rd.json")]))
    assert got.options["runtime_defaults"] == '{"maxRetries": 3}'
    with pytest.raises(CliError, match="--runtime-defaults: cannot read"):
        submission(parse(["run", "x.wdl", "--runtime-defaults", str(tmp_path / "none")]))


def test_a_log_is_read_from_an_offset_as_it_grows(tmp_path: Path) -> None:
    from chalicelib.wes_locations import read_location, stream_location

    log = tmp_path / "log"
    log.write_bytes(b"one\ntwo\n")
    assert read_location(str(log)) == b"one\ntwo\n"
    assert b"".join(stream_location(str(log), offset=4)) == b"two\n"
    assert b"".join(stream_location(str(log), offset=100)) == b""
    with pytest.raises(ValueError, match="offset or tail_bytes"):
        b"".join(stream_location(str(log), offset=1, tail_bytes=1))


def test_seconds_since_a_records_timestamp() -> None:
    from datetime import UTC, datetime

    from chalicelib.cli_follow import seconds_since

    now = datetime(2026, 1, 2, 3, 4, 10, tzinfo=UTC)
    assert seconds_since("2026-01-02T03:04:05.500Z", now) == 4.5
    assert seconds_since("2026-01-02T03:04:05", now) == 5.0
    assert seconds_since(None, now) is None and seconds_since("yesterday", now) is None


def test_the_shells_miniwdl_settings_travel_but_not_the_deployments() -> None:
    from chalicelib.cli_run_flags import shell_settings

    shell = {
        "MINIWDL__TASK_RUNTIME__DEFAULTS": '{"maxRetries": 1}',
        "MINIWDL__SCHEDULER__CONTAINER_BACKEND": "docker",
        "MINIWDL__FILE_IO__ROOT": "/",
        "MINIWDL__AWS_FARGATE__CLUSTER": "other",
        "MINIWDL__MINIWDL_FARGATE__TABLE": "other",
        "MINIWDL_FARGATE_API": "not a setting",
        "HOME": "/root",
    }
    assert shell_settings(shell) == {"MINIWDL__TASK_RUNTIME__DEFAULTS": '{"maxRetries": 1}'}
    parse = cli._parser().parse_args
    os_env = dict(os.environ)
    try:
        os.environ["MINIWDL__SCHEDULER__TASK_CONCURRENCY"] = "1"
        taken = submission(parse(["run", "x.wdl"]))
        assert json.loads(taken.options["miniwdl_env"]) == {
            "MINIWDL__SCHEDULER__TASK_CONCURRENCY": "1"
        }
        assert "miniwdl_env" not in submission(parse(["run", "x.wdl", "--no-env"])).options
    finally:
        os.environ.clear()
        os.environ.update(os_env)
    for name in ("MINIWDL__SCHEDULER__CONTAINER_BACKEND", "MINIWDL__AWS_FARGATE__X", "PATH"):
        with pytest.raises(EngineParameterError, match="miniwdl_env may not set"):
            check_engine_parameter("miniwdl_env", json.dumps({name: "x"}))
