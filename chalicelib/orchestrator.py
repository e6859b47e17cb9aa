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
import posixpath
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Mapping
from typing import Any

from WDL import Error as wdl_error
from WDL import Zip as wdl_zip
from WDL._util import NOTICE_LEVEL

from . import efs, shim
from .cost import tasks_cost
from .fargate import ENV_RUN_TAGS
from .launcher import ENV_TASK_ARN
from .miniwdl_plugins import remember_plugin_entry_points
from .objects import ObjectStore, result_key
from .outputs import OUTPUTS_OBJECT, output_types, outputs_record, publish_outputs
from .records import JSON, RunRecord, TaskRecord, utc_now
from .states import State, is_terminal
from .status import ControlPlane, change_run, stop_run_tasks
from .task_concurrency import concurrency_setting
from .transitions import mark_started, report_outcome
from .wdl_parser_cache import use_cached_wdl_parser
from .wes_engine_parameters import EngineParameterError, miniwdl_run_args, requested_run_dir
from .wes_s3upload import with_s3upload

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
        # A URL input that could not be downloaded is the workflow's input at fault.
        "DownloadFailed",
        # A task attempt past its runtime.timeout (``task_timeout``).
        "TaskTimedOut",
    }
)


MAX_ERROR_CHARS = 4000


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


def working_directory(request: Mapping[str, Any], main_wdl: str) -> str:
    """Where miniwdl runs, which relative paths in the WDL (WDL 1.1 ``File`` literals) are
    resolved against: the submitter's directory for a local CLI submission, as ``miniwdl run``
    would; otherwise the workflow's own directory, where the request's attachments are."""
    cwd = request.get("cwd")
    if isinstance(cwd, str) and os.path.isabs(cwd) and os.path.isdir(cwd):
        return cwd
    return os.path.dirname(main_wdl)


def should_delete(policy: str, state: State) -> bool:
    """Whether ``delete_after`` = ``policy`` removes the work directory of a run that ended in
    ``state`` (pure; the seeds' ``--delete-after``)."""
    if policy == "always":
        return True
    if policy == "success":
        return state == State.COMPLETE
    if policy == "failure":
        return state != State.COMPLETE
    return False


def cache_environment(work_root: str, environ: Mapping[str, str]) -> dict[str, str]:
    """miniwdl settings for the call and download caches on the work filesystem, so that a run
    submitted again reuses its finished calls; settings the environment gives win."""
    wanted = {
        "MINIWDL__CALL_CACHE__GET": "true",
        "MINIWDL__CALL_CACHE__PUT": "true",
        "MINIWDL__CALL_CACHE__DIR": os.path.join(work_root, "_cache", "call"),
        "MINIWDL__DOWNLOAD_CACHE__GET": "true",
        "MINIWDL__DOWNLOAD_CACHE__PUT": "true",
        "MINIWDL__DOWNLOAD_CACHE__DIR": os.path.join(work_root, "_cache", "download"),
    }
    return {k: v for k, v in wanted.items() if k not in environ}


def stage_request(objects: ObjectStore, key: str, work_root: str) -> str:
    """Unpack the run's request bundle onto the work filesystem; returns its directory.

    The directory is named after the bundle, whose name carries its content's digest, and reused
    when present, so resubmitting the same request gives the same input paths (and the call
    cache recognises them).
    """
    staged = os.path.join(work_root, "_requests", posixpath.basename(key).removesuffix(".zip"))
    if os.path.isfile(os.path.join(staged, "MANIFEST.json")):
        return staged
    os.makedirs(os.path.dirname(staged), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".staging-", dir=os.path.dirname(staged))
    archive = os.path.join(tmp, "bundle.zip")
    objects.get_file(key, archive)
    with zipfile.ZipFile(archive) as bundle:
        bundle.extractall(os.path.join(tmp, "unpacked"))  # drops absolute and '..' parts
    try:
        os.rename(os.path.join(tmp, "unpacked"), staged)
    except OSError:
        if not os.path.isfile(os.path.join(staged, "MANIFEST.json")):
            raise
    shutil.rmtree(tmp, ignore_errors=True)
    return staged


def run(
    run_id: str,
    *,
    plane: ControlPlane,
    objects: ObjectStore,
    work_root: str,
    miniwdl_env: Mapping[str, str],
    task_arn: str | None = None,
) -> int:
    """Run the workflow of ``run_id`` to the end; returns miniwdl's exit code."""
    record = plane.store.get_run(run_id)
    if record is None:
        log.error("no run %s in the store", run_id)
        return 2
    if is_terminal(record.state):
        log.warning("run %s is %s; nothing to do", run_id, record.state.value)
        return 0 if record.state == State.COMPLETE else 1

    root = efs.ensure_work_root(work_root)
    run_dir = efs.run_dir(root, run_id)
    options = record.request.get("options") or {}
    try:
        run_dir = requested_run_dir(root, run_id, options) or run_dir
        objects = with_s3upload(objects, options, run_id)
    except EngineParameterError as exn:
        _report(plane, run_id, State.SYSTEM_ERROR, {"message": str(exn), "error": "Request"}, 2)
        return 2
    started = change_run(
        plane,
        run_id,
        lambda r: mark_started(r, utc_now(), run_dir=run_dir, orchestrator_arn=task_arn),
    )
    if started is None:  # canceled before it began
        message = cancel_message(plane.store.get_run(run_id))
        _report(plane, run_id, State.CANCELED, {"message": message}, 1)
        return 1
    try:
        staged = stage_request(objects, record.workflow_key, root)
        with wdl_zip.unpack(staged) as unpacked:
            main_wdl, input_file = unpacked.main_wdl, unpacked.input_file
    except (OSError, zipfile.BadZipFile, wdl_error.InputError) as exn:
        message = f"the run's request could not be read: {exn}"
        _report(plane, run_id, State.SYSTEM_ERROR, {"message": message, "error": "Request"}, 2)
        return 2

    result_path = os.path.join(root, "_requests", f"{run_id}.result.json")
    argv = ["run", main_wdl, "--dir", run_dir + "/.", "-o", result_path]
    if input_file:
        argv += ["-i", input_file]
    task = record.request.get("task")
    if task:
        argv += ["--task", str(task)]
    cfg_file = None
    if options.get("cfg"):
        cfg_file = os.path.join(root, "_requests", f"{run_id}.cfg")
        with open(cfg_file, "w", encoding="utf-8") as f:
            f.write(str(options["cfg"]))
    argv += miniwdl_run_args(options, cfg_file)
    # the submitter's MINIWDL__* settings (checked against the deployment's own at submission)
    submitted = json.loads(str(options.get("miniwdl_env") or "{}"))
    env = {**cache_environment(root, os.environ), **submitted, **miniwdl_env}
    env.setdefault("MINIWDL__MINIWDL_FARGATE__SHIM", shim.place(root))  # once per run
    # miniwdl's task threads: what the account and the run's group can run at once
    env.update(concurrency_setting(plane, run_id, env, os.environ))
    if record.tags:  # carried onto every ECS task the run starts (``fargate.ecs_tags``)
        env.setdefault(ENV_RUN_TAGS, json.dumps(record.tags))
    exit_code = _run_miniwdl(argv, env, cwd=working_directory(record.request, main_wdl))
    result = _read_json(result_path)
    log_location = _publish_logs(run_dir, run_id, objects)

    if exit_code == 0 and isinstance(result.get("outputs"), dict):
        types = output_types(main_wdl, str(task) if task else None)
        values = publish_outputs(
            result["outputs"],
            types,
            run_dir=run_dir,
            run_id=run_id,
            objects=objects,
            work_root=root,
        )
        location = objects.put_bytes(
            result_key(run_id, OUTPUTS_OBJECT), json.dumps(values, indent=2).encode()
        )
        outcome = outputs_record(values, location, run_dir)
        _report(plane, run_id, State.COMPLETE, None, 0, outputs=outcome, log=log_location)
        _write_report(plane, objects, run_id, root)
        _clean_up(record.request, State.COMPLETE, run_dir)
        return 0

    error = result if "error" in result else {"error": "Unknown", "message": "miniwdl failed"}
    current = plane.store.get_run(run_id)
    canceling = current is not None and current.state == State.CANCELING
    state = failure_state(error, canceling)
    summary = error_summary(error)
    if state == State.CANCELED:
        summary = {"message": cancel_message(current), "error": "Canceled"}
    elif summary.get("error") == "Terminated":
        summary["message"] = (
            "the orchestrator was stopped (SIGTERM: a Spot interruption, a scale-in or a stop"
            " outside this service) before the run finished"
        )
    code = exit_code or 1
    tasks = plane.store.list_tasks(run_id)
    if summary.get("error") == "DownloadFailed":
        reason = _last_stderr_line(tasks)
        if reason:
            summary["message"] = f"{summary['message']}: {reason}"
    _report(plane, run_id, state, summary, code, log=log_location, tasks=tasks)
    stop_run_tasks(plane, run_id, f"the run ended {state.value}", tasks)
    _write_report(plane, objects, run_id, root)
    _clean_up(record.request, state, run_dir)
    return code


def cancel_message(run: RunRecord | None) -> str:
    """Why a canceled run was canceled: the reason a limit gave when it asked (a deadline),
    else a user's cancel."""
    if run is not None and run.state == State.CANCELING and run.error:
        return str(run.error.get("message") or "the run was canceled")
    return "the run was canceled"


def _report(
    plane: ControlPlane,
    run_id: str,
    state: State,
    error: JSON | None,
    exit_code: int,
    *,
    outputs: JSON | None = None,
    log: str | None = None,
    tasks: list[TaskRecord] | None = None,
) -> None:
    """Record the outcome, with the cost of the run's tasks (``tasks``, if just read). The
    error's message is cut to ``MAX_ERROR_CHARS``: a record must stay small (DynamoDB)."""
    if error is not None and len(str(error.get("message", ""))) > MAX_ERROR_CHARS:
        error = {**error, "message": str(error["message"])[:MAX_ERROR_CHARS] + " ..."}
    if tasks is None:
        tasks = plane.store.list_tasks(run_id)
    cost = tasks_cost(tasks, plane.prices)
    change_run(
        plane,
        run_id,
        lambda r: report_outcome(
            r,
            state,
            utc_now(),
            outputs=outputs,
            error=error,
            exit_code=exit_code,
            cost=cost,
            log_location=log,
        ),
    )


def _write_report(plane: ControlPlane, objects: ObjectStore, run_id: str, root: str) -> None:
    """The run's HTML report beside its outputs (``report``); a report that cannot be written
    is logged, never a failure of the run."""
    from .cost import spot_prices_from_environment
    from .report import write_report

    try:
        location = write_report(
            plane.store,
            objects,
            run_id,
            work_root=root,
            prices=plane.prices,
            spot_prices=spot_prices_from_environment(),
        )
    except Exception:  # the run's outcome is already recorded; the report is a view of it
        log.exception("the run's report could not be written")
        return
    # at miniwdl's NOTICE level, which its logging shows without -v: the run log links it
    log.log(NOTICE_LEVEL, "run report: %s", location)


def _clean_up(request: Mapping[str, Any], state: State, run_dir: str) -> None:
    policy = str((request.get("options") or {}).get("delete_after") or "never")
    if should_delete(policy, state):
        log.info("delete_after=%s: removing %s", policy, run_dir)
        shutil.rmtree(run_dir, ignore_errors=True)


def _run_miniwdl(argv: list[str], env: Mapping[str, str], cwd: str) -> int:
    """``miniwdl run`` in this process (its logging, signal handling and error JSON)."""
    from WDL import CLI as wdl_cli

    use_cached_wdl_parser()
    remember_plugin_entry_points()
    os.environ.update(env)
    os.chdir(cwd)
    log.info("miniwdl %s", " ".join(argv))
    try:
        wdl_cli.main(argv)
    except SystemExit as exit_:
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


LOG_FILES = ("workflow.log", "stdout.txt", "stderr.txt")


def _publish_logs(run_dir: str, run_id: str, objects: ObjectStore) -> str | None:
    """The run's log and every call's stdout/stderr under ``results/RUN/logs/``; returns the
    location of the run's log (miniwdl's ``workflow.log``), if there is one."""
    location = None
    for parent, dirs, files in os.walk(run_dir):
        dirs[:] = [d for d in dirs if d not in ("work", "out", "_miniwdl_inputs")]
        for name in files:
            if name in LOG_FILES:
                path = os.path.join(parent, name)
                relative = os.path.relpath(path, run_dir)
                placed = objects.put_file(result_key(run_id, f"logs/{relative}"), path)
                if relative == "workflow.log":
                    location = placed
    return location


def _last_stderr_line(tasks: list[TaskRecord]) -> str:
    """The last line the run's last failed task wrote to stderr (a downloader's reason)."""
    failed = [t for t in tasks if t.state == State.EXECUTOR_ERROR and t.stderr]
    if not failed:
        return ""
    try:
        with open(str(failed[-1].stderr), "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - 4096))
            lines = f.read().decode("utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1].strip()[:500] if lines else ""


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


ENV_METADATA = "ECS_CONTAINER_METADATA_URI_V4"


def own_task_arn(environ: Mapping[str, str] = os.environ) -> str | None:
    """This container's ECS task ARN: from ECS's task metadata endpoint on Fargate (no AWS API
    call), or ``MINIWDL_FARGATE_TASK_ARN`` (the local launcher sets it)."""
    if environ.get(ENV_TASK_ARN):
        return environ[ENV_TASK_ARN]
    uri = environ.get(ENV_METADATA)
    if not uri:
        return None
    import urllib.request

    try:
        with urllib.request.urlopen(uri + "/task", timeout=2) as response:
            arn = json.load(response).get("TaskARN")
    except (OSError, ValueError) as exn:
        log.warning("no task ARN from the ECS metadata endpoint: %s", exn)
        return None
    return str(arn) if arn else None


def main(argv: list[str]) -> int:
    """Entry point of the orchestrator container: ``python -m chalicelib.orchestrator RUN_ID``.

    On AWS the stack's environment (``MINIWDL_FARGATE_TABLE`` and friends) selects DynamoDB,
    EventBridge, ECS and S3, and miniwdl's configuration selects the ``aws_fargate`` backend; in
    the local mode ``MINIWDL_FARGATE_HOME`` names the home and the backend is ``local``.
    """
    from .deployment import PREFIX, AwsDeployment, aws_control_plane, aws_objects
    from .local_mode import ENV_HOME, LocalHome

    deployment = AwsDeployment.from_environment()
    if len(argv) != 1 or (deployment is None and not os.environ.get(ENV_HOME)):
        print(
            f"usage: python -m chalicelib.orchestrator RUN_ID (with {ENV_HOME}=DIR, or the"
            " deployment's MINIWDL_FARGATE_* environment)",
            file=sys.stderr,
        )
        return 2
    run_id = argv[0]
    task_arn = own_task_arn()
    env = {"MINIWDL__MINIWDL_FARGATE__RUN_ID": run_id}
    # miniwdl warns of MINIWDL_* variables it does not know: ours travel as [miniwdl_fargate].
    for key in [k for k in os.environ if k.startswith(PREFIX)]:
        value = os.environ.pop(key)
        env[f"MINIWDL__MINIWDL_FARGATE__{key.removeprefix(PREFIX)}"] = value
    if deployment is not None:
        if not deployment.bucket:
            print(f"{PREFIX}BUCKET is needed by the orchestrator", file=sys.stderr)
            return 2
        plane = aws_control_plane(deployment)
        objects: ObjectStore = aws_objects(deployment.bucket)
        work_root = deployment.work_root
    else:
        home = LocalHome(env.pop("MINIWDL__MINIWDL_FARGATE__HOME"))
        env["MINIWDL__MINIWDL_FARGATE__HOME"] = home.root
        if not os.environ.get("MINIWDL__SCHEDULER__CONTAINER_BACKEND"):
            env["MINIWDL__SCHEDULER__CONTAINER_BACKEND"] = "local"
        plane = home.control_plane()
        objects = home.objects()
        work_root = home.work_root
    return run(
        run_id,
        plane=plane,
        objects=objects,
        work_root=work_root,
        miniwdl_env=env,
        task_arn=task_arn,
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
