"""The fake Fargate's simulated containers (``FakeFargate(simulate=...)``), which ``make bench``'s
``fargate_scale`` plays 10,000 trivial tasks with: the real backend and status handler see the
same events and files as from a process, and any other task still runs as one."""

from __future__ import annotations

from pathlib import Path

from fargate_env import FargateEnv
from fargate_harness import trivial_command_seconds

from chalicelib.states import State

SCALE_WDL = Path(__file__).resolve().parent.parent / "bench" / "scale.wdl"


def test_trivial_tasks_are_played_without_a_process(fargate: FargateEnv) -> None:
    fargate.harness.simulate = trivial_command_seconds
    code, result = fargate.run(SCALE_WDL, "n=4", "seconds=1")
    assert code == 0 and result["outputs"]["scale.out"] == [0, 1, 2, 3]
    assert fargate.harness.simulated == 4
    assert all(t.proc is None for t in fargate.harness.tasks.values())
    tasks = fargate.tasks()
    assert [t.state for t in tasks] == [State.COMPLETE] * 4 and {t.exit_code for t in tasks} == {0}
    for task in tasks:  # what the container's redirects and finalisation leave, read-only
        assert task.stdout is not None and Path(task.stdout).exists()
        assert not Path(task.stdout).stat().st_mode & 0o222
    assert fargate.backend_launcher.counters.describe_tasks == 0


def test_a_task_that_does_something_still_runs_as_a_process(
    fargate: FargateEnv, tmp_path: Path
) -> None:
    wdl = tmp_path / "echo.wdl"
    wdl.write_text(
        "version 1.0\ntask echo {\n  command <<< echo hi >>>\n"
        "  output { String out = read_string(stdout()) }\n}\n"
    )
    fargate.harness.simulate = trivial_command_seconds
    code, result = fargate.run(wdl)
    assert code == 0 and result["outputs"]["echo.out"] == "hi"
    assert fargate.harness.simulated == 0
    assert [t.proc is not None for t in fargate.harness.tasks.values()] == [True]
