"""The local agent: runs one detached task (the orchestrator) and reports its events.

Started by ``LocalLauncher(detach=True)`` as ``python -m chalicelib.local_agent STATE_DIR TASK_ID``,
in a session of its own, so the run goes on after the CLI that submitted it exits. It plays the
part ECS plays on AWS: it starts the container, watches it, and sends its state changes.
"""

from __future__ import annotations

import sys

from .ecs_events import ENV_RUN_ID
from .launcher import LaunchError
from .local_launcher import LocalLauncher
from .local_mode import ENV_HOME, LocalHome
from .status import handle_ecs_event


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
    launcher = LocalLauncher(state_dir, lambda event: handle_ecs_event(event, plane))
    exit_code = launcher.run_in_foreground(task_id, spec)
    return 125 if exit_code is None else exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
