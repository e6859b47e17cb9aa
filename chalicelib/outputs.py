"""Publishing a finished run's outputs: every ``File`` and ``Directory`` by its WDL type.

miniwdl's outputs JSON holds paths as plain strings, so a ``String`` that happens to look like a
path cannot be told from a ``File`` by its value. The run's own output declarations say which is
which: the values are read back into typed miniwdl values, every ``File``/``Directory`` in them
(in arrays, ``Map`` keys and values, ``Pair`` sides and struct members alike) is put in the
objects store, and the JSON written out names the published locations.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import WDL
from WDL import Value

from .objects import ObjectStore, result_key


def output_types(main_wdl: str, task: str | None) -> tuple[str, Any]:
    """(namespace, output types) of the run's target: the workflow, or ``task`` if given."""
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
