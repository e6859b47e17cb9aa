"""Publishing a finished run's outputs: every ``File`` and ``Directory`` by its WDL type.

miniwdl's outputs JSON holds paths as plain strings, so a ``String`` that happens to look like a
path cannot be told from a ``File`` by its value. The run's own output declarations say which is
which: the values are read back into typed miniwdl values, every ``File``/``Directory`` in them
(in arrays, ``Map`` keys and values, ``Pair`` sides and struct members alike) is put in the
objects store, and the JSON written out names the published locations.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import TYPE_CHECKING, Any

from .objects import ObjectStore, result_key
from .records import JSON, RunRecord

if TYPE_CHECKING:
    from WDL import Value

# What a run record keeps of its outputs' values: a DynamoDB item holds at most 400 KB, and a
# workflow's outputs grow with it (3,500 files made a 377 KB record). Larger values are only in
# the objects store, at the record's ``location``.
MAX_RECORDED_OUTPUTS_BYTES = 64 * 1024
OUTPUTS_OBJECT = "outputs.json"


def output_types(main_wdl: str, task: str | None) -> tuple[str, Any]:
    """(namespace, output types) of the run's target: the workflow, or ``task`` if given."""
    import WDL  # miniwdl only where outputs are published: the orchestrator

    doc = WDL.load(main_wdl)
    target: Any = doc.workflow
    if task or target is None:
        target = next(t for t in doc.tasks if not task or t.name == task)
    return str(target.name), target.effective_outputs


def object_key(real: str, run_root: str, work_root: str) -> str:
    """Where a file (its resolved path) goes under the run's results (pure): files of this run
    keep their path relative to the run directory; files of another run on the work
    filesystem (outputs the call cache reused) go under ``cached/``; anything else (a
    workflow input passed straight through) under ``inputs/<digest of its path>/``."""
    if real.startswith(run_root + os.sep):
        return os.path.relpath(real, run_root)
    if real.startswith(work_root + os.sep):
        return os.path.join("cached", os.path.relpath(real, work_root))
    digest = hashlib.sha256(real.encode()).hexdigest()[:12]
    return os.path.join("inputs", digest, os.path.basename(real))


def publish_outputs(
    outputs: dict[str, Any],
    types: tuple[str, Any],
    *,
    run_dir: str,
    run_id: str,
    objects: ObjectStore,
    work_root: str,
) -> dict[str, Any]:
    """Put every File and Directory of ``outputs`` (miniwdl's outputs JSON, typed by
    ``types`` from ``output_types``) in the objects store; returns the outputs JSON with their
    published locations in place of the paths."""
    import WDL
    from WDL import Value

    namespace, declared = types
    run_root = os.path.realpath(run_dir)
    work = os.path.realpath(work_root)
    values = WDL.values_from_json(outputs, declared, namespace=namespace)

    def publish(value: Value.File | Value.Directory) -> str | None:
        real = os.path.realpath(value.value)
        key = object_key(real, run_root, work)
        if isinstance(value, Value.Directory):
            for parent, _dirs, files in os.walk(real):
                for name in files:
                    path = os.path.join(parent, name)
                    inside = os.path.relpath(path, real)
                    objects.put_file(result_key(run_id, os.path.join(key, inside)), path)
            return objects.location(result_key(run_id, key)).rstrip("/") + "/"
        return objects.put_file(result_key(run_id, key), real)

    published = Value.rewrite_env_paths(values, publish)
    return dict(WDL.values_to_json(published, namespace=namespace))


def outputs_record(values: dict[str, Any], location: str, run_dir: str) -> JSON:
    """What the run record keeps of its published outputs (pure): their location, and the
    values themselves while they stay under ``MAX_RECORDED_OUTPUTS_BYTES``."""
    record: JSON = {"location": location, "dir": run_dir}
    size = len(json.dumps(values, separators=(",", ":")).encode())
    if size <= MAX_RECORDED_OUTPUTS_BYTES:
        record["values"] = values
    else:
        record["values_bytes"] = size
    return record


def recorded_outputs(run: RunRecord, objects: ObjectStore) -> dict[str, Any]:
    """A COMPLETE run's outputs: from its record, or from the objects store when they were
    too large to keep there."""
    outputs = run.outputs or {}
    if "values" in outputs or "location" not in outputs:
        return dict(outputs.get("values") or {})
    loaded = json.loads(objects.get_bytes(result_key(run.run_id, OUTPUTS_OBJECT)))
    return dict(loaded) if isinstance(loaded, dict) else {}
