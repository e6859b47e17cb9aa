"""`make destroy` with a fake `aws` on PATH that records its calls: every task stopped and
waited for (in batches of 100) before the bucket is emptied and the stack deleted."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Answers like the AWS CLI: stack outputs, task ARNs (tab-separated text, as --output text
# prints a list); every call appended to $AWS_CALLS. $RUNNING_ROUNDS holds one line of ARN
# count per list-tasks --desired-status RUNNING call, consumed in order.
FAKE_AWS = r"""#!/bin/sh
echo "$*" >> "$AWS_CALLS"
case "$*" in
  *"describe-stacks"*"'Bucket'"*) echo results-bucket ;;
  *"describe-stacks"*"'Cluster'"*) echo wdl-cluster ;;
  *"list-tasks"*"--desired-status RUNNING"*)
    count=$(head -n 1 "$RUNNING_ROUNDS"); sed -i 1d "$RUNNING_ROUNDS"
    arns=""
    i=0
    while [ "$i" -lt "${count:-0}" ]; do
      arns="$arns$(printf 'arn:aws:ecs:r:1:task/wdl-cluster/%s-%03d\t' "${#count}" "$i")"
      i=$((i + 1))
    done
    printf '%s\n' "$arns" ;;
  *"list-tasks"*"--desired-status STOPPED"*)
    printf 'arn:aws:ecs:r:1:task/wdl-cluster/stopping-1\n' ;;
esac
"""


def destroy(tmp_path: Path, rounds: list[int]) -> list[str]:
    """Run `make destroy` against the fake; the aws calls it made, in order."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    aws = bin_dir / "aws"
    aws.write_text(FAKE_AWS)
    aws.chmod(0o755)
    calls = tmp_path / "calls"
    calls.touch()
    (tmp_path / "rounds").write_text("".join(f"{n}\n" for n in rounds))
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "AWS_CALLS": str(calls),
        "RUNNING_ROUNDS": str(tmp_path / "rounds"),
    }
    result = subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), "destroy", "REGION=eu-west-1", "STACK=s"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return calls.read_text().splitlines()


def _waited(call: str) -> list[str]:
    return call.split("--tasks", 1)[1].split()


def test_destroy_waits_for_every_task_before_emptying_the_bucket(tmp_path: Path) -> None:
    calls = destroy(tmp_path, [150, 0])
    stops = [i for i, c in enumerate(calls) if "ecs stop-task" in c]
    waits = [i for i, c in enumerate(calls) if "ecs wait tasks-stopped" in c]
    (empty,) = [i for i, c in enumerate(calls) if "s3 rm s3://results-bucket --recursive" in c]
    (delete,) = [i for i, c in enumerate(calls) if "cloudformation delete-stack" in c]
    assert len(stops) == 150
    assert all("--cluster wdl-cluster" in calls[i] for i in stops + waits)
    # every stopped task and the one already stopping waited for, 100 ARNs a call at most
    waited = [arn for i in waits for arn in _waited(calls[i])]
    assert max(len(_waited(calls[i])) for i in waits) == 100
    stopped = {calls[i].split("--task ", 1)[1].split()[0] for i in stops}
    assert set(waited) == stopped | {"arn:aws:ecs:r:1:task/wdl-cluster/stopping-1"}
    assert max(stops) < min(waits)
    assert max(waits) < empty < delete  # the bucket is emptied after the wait, then deleted
    assert "cloudformation wait stack-delete-complete" in calls[-1]
    assert all(c.startswith("--region eu-west-1 ") for c in calls)


def test_destroy_stops_tasks_started_while_stopping(tmp_path: Path) -> None:
    # a stopping orchestrator launched 3 more tasks after the first listing
    calls = destroy(tmp_path, [2, 3, 0])
    listed = [i for i, c in enumerate(calls) if "--desired-status RUNNING" in c]
    assert len(listed) == 3
    assert sum("ecs stop-task" in c for c in calls) == 5
    (empty,) = [i for i, c in enumerate(calls) if "s3 rm" in c]
    assert listed[-1] < empty


def test_destroy_with_nothing_running_still_empties_and_deletes(tmp_path: Path) -> None:
    calls = destroy(tmp_path, [0])
    assert not any("stop-task" in c for c in calls)
    waits = [c for c in calls if "wait tasks-stopped" in c]
    assert [_waited(c) for c in waits] == [["arn:aws:ecs:r:1:task/wdl-cluster/stopping-1"]]
    assert any("s3 rm" in c for c in calls) and any("delete-stack" in c for c in calls)


@pytest.mark.parametrize("rounds", [[1] * 12])
def test_destroy_gives_up_when_tasks_keep_starting(tmp_path: Path, rounds: list[int]) -> None:
    with pytest.raises(AssertionError, match="tasks keep starting"):
        destroy(tmp_path, rounds)
