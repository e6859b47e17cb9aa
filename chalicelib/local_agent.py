"""The local agent: runs one detached task (the orchestrator) and reports its events.

Started by ``LocalLauncher(detach=True)`` as ``python -m chalicelib.local_agent STATE_DIR TASK_ID``,
in a session of its own, so the run goes on after the CLI that submitted it exits. It plays the
part ECS plays on AWS: it starts the container, watches it, and sends its state changes.

It also plays EventBridge Scheduler's part for the run's deadline (a group's ``max_duration``):
a timer armed at the deadline its admission recorded, which cancels the run through
``deadlines.cancel_past_deadline`` when it fires, and is disarmed when the run's orchestrator
ends. No polling: one timer thread, asleep until the deadline.
"""

from __future__ import annotations

import logging
import sys
import threading
from datetime import UTC, datetime
from typing import Any

from . import deadlines
from .ecs_events import ENV_RUN_ID, ROLE_ORCHESTRATOR
from .launcher import LaunchError, TaskSpec
from .local_launcher import LocalLauncher, task_arn_for
from .local_mode import ENV_HOME, LocalHome
from .status import ControlPlane, handle_ecs_event

log = logging.getLogger(__name__)


def arm_deadline(
    plane: ControlPlane, launcher: LocalLauncher, task_id: str, spec: TaskSpec
) -> threading.Timer | None:
    """A timer that cancels the run at the deadline its admission recorded (None: the task is
    no orchestrator, or its run has no deadline). A run canceled before its orchestrator was
    recorded on it is stopped here, through this agent's own task."""
    run = plane.store.get_run(spec.run_id) if spec.role == ROLE_ORCHESTRATOR else None
    if run is None or not run.deadline:
        return None

    def fire() -> None:
        try:
            canceled = deadlines.cancel_past_deadline(plane, spec.run_id)
            if canceled is not None and not canceled.orchestrator_arn:
                reason = deadlines.deadline_reason(canceled)
                launcher.stop_task(task_arn_for(task_id), reason)
        except Exception:  # the sweep's check remains
            log.exception("run %s: its deadline could not be enforced", spec.run_id)

    timer = threading.Timer(deadlines.seconds_left(run.deadline, datetime.now(UTC)), fire)
    timer.name = f"deadline-{spec.run_id}"
    timer.daemon = True
    timer.start()
    return timer


def main(argv: list[str]) -> int:
    """Run the task; exit with its exit code (or 125 if it could not start)."""
    if len(argv) != 2:
        print("usage: python -m chalicelib.local_agent STATE_DIR TASK_ID", file=sys.stderr)
        return 2
    state_dir, task_id = argv
    bootstrap = LocalLauncher(state_dir, lambda _event: None)
    try:
        spec = bootstrap.read_spec(task_id)
    except LaunchError as exn:
        print(f"local agent: {exn}", file=sys.stderr)
        return 2
    home = spec.environment.get(ENV_HOME)
    if not home or not spec.environment.get(ENV_RUN_ID):
        print(f"local agent: task {task_id} has no {ENV_HOME}/{ENV_RUN_ID}", file=sys.stderr)
        return 2
    plane = LocalHome(home).control_plane()
    timers: list[threading.Timer | None] = []

    def on_event(event: dict[str, Any]) -> None:
        handle_ecs_event(event, plane)
        # Armed once the task runs: its process is forked warm only from a single thread.
        if not timers and (event.get("detail") or {}).get("lastStatus") == "RUNNING":
            timers.append(arm_deadline(plane, launcher, task_id, spec))

    launcher = LocalLauncher(state_dir, on_event)
    try:
        exit_code = launcher.run_in_foreground(task_id, spec)
    finally:
        for timer in timers:
            if timer is not None:
                timer.cancel()  # the run ended: its deadline is disarmed
    return 125 if exit_code is None else exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
