"""The orchestrator program: the one container per run that runs miniwdl.

It fetches the run's request, runs ``miniwdl run`` in the run's directory on the work filesystem
(the configured container backend launches each WDL task as its own container), puts outputs and
logs in the objects store, records the outcome on the run, and exits with miniwdl's exit code.

If it dies before recording an outcome, the status handler sees its STOPPED event and makes the
run SYSTEM_ERROR (or CANCELED, if a cancel was asked for).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from typing import Any

from . import efs
from .objects import ObjectStore, result_key
from .records import JSON, utc_now
from .states import State, is_terminal
from .status import ControlPlane, change_run, stop_run_tasks
from .transitions import mark_started, report_outcome

log = logging.getLogger("miniwdl-fargate.orchestrator")

# Errors (miniwdl's class names) that mean the workflow or one of its task commands failed, as
# opposed to the platform failing under it.
_EXECUTOR_ERRORS = frozenset(
    {
        "CommandFailed",
        "OutputError",
        "EvalError",
        "RuntimeError",
        "InputError",
        "ValidationError",
        "MultipleValidationErrors",
        "IncompatibleOperand",
        "OutOfBounds",
        "NullValue",
    }
)


def failure_state(error: Mapping[str, Any], canceling: bool) -> State:
    """The run state for a failed miniwdl run, from its error JSON (pure)."""
    if canceling:
        return State.CANCELED
    kinds = {e.get("error") for e in _cause_chain(error)}
    return State.EXECUTOR_ERROR if kinds & _EXECUTOR_ERRORS else State.SYSTEM_ERROR


def error_summary(error: Mapping[str, Any]) -> JSON:
    """What to record about a failure: a readable message, and the failed call's details."""
    chain = _cause_chain(error)
    innermost = chain[-1]
    kind = str(innermost.get("error") or "Error")
    call = next((str(e["run"]) for e in reversed(chain) if e.get("run")), None)
    message = innermost.get("message")
    if not message and kind == "CommandFailed":
        message = f"{call} failed: its command exited with status {innermost.get('exit_status')}"
    elif not message:
        message = f"{kind} in {call}" if call else kind
    summary: JSON = {"message": str(message), "error": kind}
    if call:
        summary["failed_call"] = call
    for entry in chain:
        for key in ("exit_status", "stderr_file", "stdout_file"):
            if key in entry and key not in summary:
                summary[key] = entry[key]
    failed_dirs = [e["dir"] for e in chain if isinstance(e.get("dir"), str)]
    if failed_dirs:
        summary["failed_dir"] = failed_dirs[-1]
    return summary


def publish_outputs(
    outputs: Mapping[str, Any], run_dir: str, run_id: str, objects: ObjectStore
) -> dict[str, Any]:
    """Put every output file (and every file of an output directory) in the objects store and
    return the outputs with paths replaced by the objects' locations."""
    root = os.path.realpath(run_dir)

    def publish(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: publish(v) for k, v in value.items()}
        if isinstance(value, list):
            return [publish(v) for v in value]
        if not isinstance(value, str) or not os.path.isabs(value):
            return value
        real = os.path.realpath(value)
        if not real.startswith(root + os.sep) or not os.path.exists(real):
            return value
        relative = os.path.relpath(value, run_dir)
        if os.path.isdir(real):
            for parent, _dirs, files in os.walk(real):
                for name in files:
                    path = os.path.join(parent, name)
                    inside = os.path.relpath(path, real)
                    objects.put_file(result_key(run_id, os.path.join(relative, inside)), path)
            return objects.location(result_key(run_id, relative)).rstrip("/") + "/"
        return objects.put_file(result_key(run_id, relative), real)

    return {name: publish(value) for name, value in outputs.items()}


def run(
    run_id: str,
    *,
    plane: ControlPlane,
    objects: ObjectStore,
    work_root: str,
    miniwdl_env: Mapping[str, str],
) -> int:
    """Run the workflow of ``run_id`` to the end; returns miniwdl's exit code."""
    record = plane.store.get_run(run_id)
    if record is None:
        log.error("no run %s in the store", run_id)
        return 2
    if is_terminal(record.state) or record.state == State.CANCELING:
        log.warning("run %s is %s; nothing to do", run_id, record.state.value)
        return 0 if record.state == State.COMPLETE else 1

    run_dir = efs.run_dir(efs.ensure_work_root(work_root), run_id)
    staging = efs.request_dir(work_root, run_id)
    os.makedirs(staging, exist_ok=True)
    workflow = os.path.join(staging, "workflow.zip")
    inputs = os.path.join(staging, "inputs.json")
    objects.get_file(record.workflow_key, workflow)
    objects.get_file(record.inputs_key, inputs)
    result_path = os.path.join(staging, "result.json")
    change_run(plane, run_id, lambda r: mark_started(r, utc_now(), run_dir=run_dir))

    argv = ["run", workflow, "-i", inputs, "--dir", run_dir + "/.", "-o", result_path]
    task = record.request.get("task")
    if task:
        argv += ["--task", str(task)]
    exit_code = _run_miniwdl(argv, miniwdl_env)
    result = _read_json(result_path)
    _publish_log(run_dir, run_id, objects)

    if exit_code == 0 and isinstance(result.get("outputs"), dict):
        values = publish_outputs(result["outputs"], run_dir, run_id, objects)
        location = objects.put_bytes(
            result_key(run_id, "outputs.json"), json.dumps(values, indent=2).encode()
        )
        outcome: JSON = {"values": values, "location": location, "dir": run_dir}
        change_run(
            plane,
            run_id,
            lambda r: report_outcome(r, State.COMPLETE, utc_now(), outputs=outcome, exit_code=0),
        )
        return 0

    error = result if "error" in result else {"error": "Unknown", "message": "miniwdl failed"}
    current = plane.store.get_run(run_id)
    canceling = current is not None and current.state == State.CANCELING
    state = failure_state(error, canceling)
    summary = error_summary(error)
    if state == State.CANCELED:
        summary = {"message": "the run was canceled", "error": "Canceled"}
    code = exit_code or 1
    change_run(
        plane,
        run_id,
        lambda r: report_outcome(r, state, utc_now(), error=summary, exit_code=code),
    )
    stop_run_tasks(plane, run_id, f"the run ended {state.value}")
    return code


def _run_miniwdl(argv: list[str], env: Mapping[str, str]) -> int:
    """``miniwdl run`` in this process (its logging, signal handling and error JSON)."""
    from WDL import CLI as wdl_cli

    os.environ.update(env)
    log.info("miniwdl %s", " ".join(argv))
    try:
        wdl_cli.main(argv)
    except SystemExit as exit_:
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


def _publish_log(run_dir: str, run_id: str, objects: ObjectStore) -> None:
    path = os.path.join(run_dir, "workflow.log")
    if os.path.isfile(path):
        objects.put_file(result_key(run_id, "logs/workflow.log"), path)


def _read_json(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _cause_chain(error: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    chain = [error]
    while isinstance(chain[-1].get("cause"), Mapping) and len(chain) < 50:
        chain.append(chain[-1]["cause"])
    return chain


def main(argv: list[str]) -> int:
    """Entry point of the local mode's orchestrator: ``python -m chalicelib.orchestrator RUN``."""
    from .ecs_events import ENV_RUN_ID
    from .local_mode import ENV_HOME, LocalHome

    if len(argv) != 1 or not os.environ.get(ENV_HOME):
        print(f"usage: {ENV_HOME}=DIR python -m chalicelib.orchestrator RUN_ID", file=sys.stderr)
        return 2
    home = LocalHome(os.environ.pop(ENV_HOME))
    os.environ.pop(ENV_RUN_ID, None)  # miniwdl warns of unknown MINIWDL* variables
    run_id = argv[0]
    env = {
        "MINIWDL__MINIWDL_FARGATE__RUN_ID": run_id,
        "MINIWDL__MINIWDL_FARGATE__HOME": home.root,
    }
    if not os.environ.get("MINIWDL__SCHEDULER__CONTAINER_BACKEND"):
        env["MINIWDL__SCHEDULER__CONTAINER_BACKEND"] = "local"
    return run(
        run_id,
        plane=home.control_plane(),
        objects=home.objects(),
        work_root=home.work_root,
        miniwdl_env=env,
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
