"""What a WDL task's runtime section asks for: vCPU, memory, GPUs, disk (pure, no I/O).

Read once per task by the ``aws_fargate`` backend into a ``capacity.Request``, which ``capacity``
routes to Fargate or to EC2 capacity.
"""

from __future__ import annotations

from collections.abc import Mapping

from WDL import Error as wdl_error
from WDL import Type, Value
from WDL._util import parse_byte_size

from .capacity import Request
from .fargate import GIB, MIB


def task_request(
    call_run_id: str,
    runtime_eval: Mapping[str, Value.Base],
    *,
    default_cpu_shares: int,
    default_memory_mb: int,
    architecture: str,
) -> Request:
    """What a task asks for, from its runtime section and the configured defaults."""
    vcpu = default_cpu_shares / 1024
    if "cpu" in runtime_eval:
        vcpu = float(runtime_eval["cpu"].coerce(Type.Float()).value)
    memory = default_memory_mb * MIB
    if "memory" in runtime_eval:
        memory = parse_byte_size(str(runtime_eval["memory"].coerce(Type.String()).value))
    gpus, gpu_type = gpu_request(call_run_id, runtime_eval)
    return Request(
        task=call_run_id,
        vcpu=vcpu,
        memory_bytes=memory,
        gpus=gpus,
        gpu_type=gpu_type,
        disk_bytes=disk_bytes(runtime_eval) or 0,
        architecture=architecture,
    )


GPU_COUNT_KEYS = ("gpuCount", "acceleratorCount")
GPU_TYPE_KEYS = ("gpuType", "acceleratorType")


def gpu_request(call_run_id: str, runtime_eval: Mapping[str, Value.Base]) -> tuple[int, str]:
    """(GPU count, GPU type) a task asks for: WDL's ``gpu: true`` (one GPU unless counted),
    ``gpuCount``/``gpuType`` and miniwdl-aws's ``acceleratorCount``/``acceleratorType``. A type
    or a count asks for GPUs even without ``gpu: true``."""
    count: int | None = None
    for key in GPU_COUNT_KEYS:
        if key in runtime_eval:
            try:
                count = int(runtime_eval[key].coerce(Type.Int()).value)
            except (wdl_error.RuntimeError, ValueError, TypeError) as exn:
                raise wdl_error.RuntimeError(
                    f"task {call_run_id}: runtime.{key} must be a whole number ({exn})"
                ) from None
            if count < 0:
                raise wdl_error.RuntimeError(f"task {call_run_id}: runtime.{key} is negative")
            break
    gpu_type = ""
    for key in GPU_TYPE_KEYS:
        if key in runtime_eval:
            gpu_type = str(runtime_eval[key].coerce(Type.String()).value).strip()
            break
    gpu = runtime_eval.get("gpu")
    wants = (isinstance(gpu, Value.Boolean) and gpu.value) or bool(gpu_type)
    if count is None:
        count = 1 if wants else 0
    return count, gpu_type if count else ""


_UNITS = {"k": "K", "m": "M", "g": "G", "t": "T", "ki": "Ki", "mi": "Mi", "gi": "Gi", "ti": "Ti"}


def disk_bytes(runtime_eval: Mapping[str, Value.Base]) -> int | None:
    """The largest size named by WDL ``disks``/``disk`` ("100 GiB", "local-disk 100 SSD", 100)."""
    value = runtime_eval.get("disks", runtime_eval.get("disk"))
    if value is None:
        return None
    if isinstance(value, Value.Int):
        return int(value.value) * GIB
    if isinstance(value, Value.Array):
        sizes = [disk_bytes({"disks": item}) or 0 for item in value.value]
        return max(sizes) if sizes else None
    text = str(value.coerce(Type.String()).value)
    best = 0
    for spec in text.split(","):
        words = spec.split()
        numbers = [w for w in words if w.replace(".", "", 1).isdigit()]
        if not numbers:
            continue
        # WDL units are case-sensitive in miniwdl ("GiB"); accept "gib"/"GB"/"g" alike.
        units = [_UNITS[w.lower().rstrip("b")] for w in words if w.lower().rstrip("b") in _UNITS]
        size = parse_byte_size(numbers[0] + (units[0] if units else "GiB"))
        best = max(best, size)
    return best or None
