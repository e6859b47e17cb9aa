"""The platform shim: a POSIX ``sh`` wrapper every task attempt's command runs through.

It works in any image with ``/bin/sh`` (no per-image build): the orchestrator places it once
on the work filesystem (``place``), and each attempt's command runs as
``/bin/sh SHIM USAGE_FILE MODE COMMAND...``. The shim runs the command with the streams it was
given (it writes nothing to them itself), passes SIGTERM on, waits, and exits with the
command's status (a death by signal N as the shell reports it, 128+N). Meanwhile it records
into ``USAGE_FILE`` (beside the task's stdout/stderr) raw figures that ``parse_usage`` turns
into a task record's ``usage``:

- start and end (epoch seconds, the duration from ``/proc/uptime``) and the exit code;
- CPU seconds: the container's cgroup (v2 ``cpu.stat``, v1 ``cpuacct.usage``), else the
  shell's ``times`` for the command's waited-for processes;
- peak memory: cgroup v2 ``memory.peak`` (``memory.current`` sampled where the kernel has no
  peak), v1 ``memory.max_usage_in_bytes``, else the resident memory of the command's process
  tree sampled from ``/proc`` (with ``awk``: every 0.25 s in the first second, then every
  second, every 5 s after a minute); cgroup figures include the page cache, as the limit that
  OOM-kills a container does;
- the disk used in the working directory (``du -sk``), and of it the placed inputs.

``MODE`` ``container`` uses the cgroup only when it is the container's own (its
``cgroup.procs`` holds no more than the wrapper's few processes: a Fargate or ECS-on-EC2 task);
``process`` (the local mode, where every task shares the host's cgroup) always samples
``/proc``. Every figure is optional: an image without ``awk``, ``du`` or ``date`` just records
less.
"""

# ruff: noqa: E501  (the shell script below keeps its long lines whole)
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import tempfile
from typing import Any

SHIM_DIR = "_platform"
USAGE_FILE = "usage.json"
MODES = ("container", "process")

SCRIPT = r"""# miniwdl-fargate platform shim: sh SHIM USAGE_FILE MODE COMMAND [ARG...]
# Never changes the command's exit status or output; its own messages go nowhere.
u=$1 m=$2; shift 2
d=$(date +%s 2>/dev/null) || d=null
case $d in ''|*[!0-9]*) d=null ;; esac
t0=null; { read -r t0 _ </proc/uptime; } 2>/dev/null
cr=${MINIWDL_FARGATE_SHIM_CGROUP_ROOT:-/sys/fs/cgroup} cf=${MINIWDL_FARGATE_SHIM_PROC_CGROUP:-/proc/self/cgroup}
mem=null; msrc=none; cpu0=null; cpu1=null; csrc=times; cg2=; cm1=; cc1=
if [ "$m" = container ]; then
  while IFS=: read -r i c p; do
    case $i:$c in
      0:) cg2=$p ;;
      *) case ,$c, in *,memory,*) cm1=$p ;; esac
         case ,$c, in *,cpuacct,*) cc1=$p ;; esac ;;
    esac
  done <"$cf" 2>/dev/null
  mine() {  # the cgroup holds only the wrapper's few processes: the container's own
    [ -r "$1/cgroup.procs" ] || return 1
    n=0; while read -r _; do n=$((n+1)); [ $n -gt 4 ] && return 1; done <"$1/cgroup.procs"; return 0
  }
  g=
  if [ -f "$cr"/cgroup.controllers ]; then
    for x in "$cr$cg2" "$cr"; do
      if [ -f "$x/memory.current" ]; then g=$x; break; fi
    done
  fi
  if [ -n "$g" ] && mine "$g" 2>/dev/null; then
    msrc=cgroup2-sampled; [ -f "$g/memory.peak" ] && msrc=cgroup2
    csrc=cgroup2
  elif [ -z "$g" ]; then
    for x in "$cr/memory$cm1" "$cr/memory"; do
      if [ -f "$x/memory.max_usage_in_bytes" ] && mine "$x" 2>/dev/null; then g=$x; msrc=cgroup1; break; fi
    done
    for x in "$cr/cpuacct$cc1" "$cr/cpu,cpuacct$cc1" "$cr/cpuacct"; do
      if [ -n "$g" ] && [ -f "$x/cpuacct.usage" ] && mine "$x" 2>/dev/null; then c1=$x; csrc=cgroup1; break; fi
    done
  fi
fi
cpu() {
  case $csrc in
    cgroup2) while read -r k v; do [ "$k" = usage_usec ] && echo "$v" && return; done <"$g/cpu.stat" ;;
    cgroup1) read -r v <"$c1/cpuacct.usage" && echo "$v" ;;
  esac
}
[ $csrc != times ] && { cpu0=$(cpu 2>/dev/null) || cpu0=null; }
trap 'kill -TERM $pid 2>/dev/null' TERM
if { command exec 3<&0; } 2>/dev/null; then "$@" <&3 3<&- & else "$@" </dev/null & fi
pid=$!
{ command exec 3<&-; command : >"$u"; } 2>/dev/null
s=
if [ $msrc = none ] || [ $msrc = cgroup2-sampled ]; then
  if [ $msrc = none ] && command -v awk >/dev/null 2>&1 && [ -r /proc/$pid/stat ]; then msrc=proc; fi
  if [ $msrc != none ]; then
    (
      n=0; peak=0
      while kill -0 $pid 2>/dev/null; do
        n=$((n+1))
        if [ $n -le 4 ]; then w=0.25; elif [ $n -le 64 ]; then w=1; else w=5; fi
        sleep $w 2>/dev/null || sleep 1 2>/dev/null || break
        if [ $msrc = proc ]; then
          v=$(cat /proc/[0-9]*/stat 2>/dev/null | awk -v root="$pid" '{ q = $1; line = $0;
              sub(/^[^(]*\(.*\) /, "", line); split(line, f, " "); parent[q] = f[2]; rss[q] = f[22] }
            END { t = 0; for (q in parent) { a = q; for (k = 0; k < 64 && a != "" && a + 0 > 1; k++) {
              if (a + 0 == root + 0) { t += rss[q]; break } a = parent[a] } } print t }' 2>/dev/null)
        else
          read -r v <"$g/memory.current" 2>/dev/null
        fi
        case $v in ''|*[!0-9]*) ;; *) if [ "$v" -gt "$peak" ]; then peak=$v; echo $peak >"$u"; fi ;; esac
      done
    ) </dev/null >/dev/null 2>&1 &
    s=$!
  fi
fi
while :; do wait $pid 2>/dev/null; rc=$?; kill -0 $pid 2>/dev/null || break; done
# KILL (a TERM sent just after the fork can be lost), and reaped before its figure is read.
[ -n "$s" ] && { kill -KILL $s; wait $s; } 2>/dev/null
t1=null; { read -r t1 _ </proc/uptime; } 2>/dev/null
[ $csrc != times ] && { cpu1=$(cpu 2>/dev/null) || cpu1=null; }
{
  case $msrc in
    cgroup2) read -r mem <"$g/memory.peak" ;;
    cgroup1) read -r mem <"$g/memory.max_usage_in_bytes" ;;
    *) [ -n "$s" ] && read -r mem <"$u" ;;  # the sampler's running peak
  esac
} 2>/dev/null
tm=; { command times >"$u" && { read -r _ && read -r tm; } <"$u"; } 2>/dev/null
dk=null; ik=null
x=$(du -sk . 2>/dev/null) && dk=${x%%[!0-9]*}
[ -d _miniwdl_inputs ] && x=$(du -sk _miniwdl_inputs 2>/dev/null) && ik=${x%%[!0-9]*}
for v in mem cpu0 cpu1 dk ik; do eval "case \$$v in ''|*[!0-9]*) $v=null ;; esac"; done
case $t0 in ''|*[!0-9.]*) t0=null ;; esac
case $t1 in ''|*[!0-9.]*) t1=null ;; esac
case $tm in *[!0-9ms.\ ]*) tm= ;; esac
{ printf '{"v":1,"start_epoch":%s,"uptime_start":%s,"uptime_end":%s,"exit_code":%s,"memory_source":"%s","memory":%s,"cpu_source":"%s","cpu_start":%s,"cpu_end":%s,"times":"%s","disk_kib":%s,"inputs_kib":%s}\n' \
  "${d:-null}" "${t0:-null}" "${t1:-null}" "$rc" "$msrc" "${mem:-null}" "$csrc" "${cpu0:-null}" "${cpu1:-null}" "$tm" "$dk" "$ik" >"$u"; } 2>/dev/null
exit $rc
"""

DIGEST = hashlib.sha256(SCRIPT.encode()).hexdigest()[:12]


def shim_path(directory: str) -> str:
    """Where ``place`` puts the shim under ``directory`` (named by its content)."""
    return os.path.join(directory, SHIM_DIR, f"shim-{DIGEST}.sh")


def place(directory: str) -> str:
    """Write the shim under ``directory`` (the work filesystem's root), once: an existing copy
    of the same content is kept; a new one is written to a temporary file and renamed, so a
    container never runs a half-written shim. Returns its path."""
    path = shim_path(directory)
    if os.path.isfile(path):
        return path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".shim-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(SCRIPT)
        os.chmod(tmp, 0o555)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return path


def shim_argv(shim: str, usage_file: str, mode: str, command: list[str]) -> list[str]:
    """The argv that runs ``command`` through the shim."""
    if mode not in MODES:
        raise ValueError(f"shim mode must be one of {MODES}, not {mode!r}")
    return ["/bin/sh", shim, usage_file, mode, *command]


_TIMES = re.compile(r"^\s*(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s\s*$")


def parse_usage(raw: str) -> dict[str, Any] | None:
    """A task record's ``usage`` from the shim's file (pure); None if it is not the shim's.

    ``started_at``/``ended_at`` (ISO-8601), ``seconds``, ``exit_code``, ``cpu_seconds``,
    ``peak_memory_mib``, ``disk_mib``, ``inputs_mib`` and where the figures came from
    (``memory_source``, ``cpu_source``); a figure the shim could not measure is left out.
    """
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("v") != 1:
        return None
    usage: dict[str, Any] = {}
    exit_code = _number(data.get("exit_code"))
    if exit_code is not None:
        usage["exit_code"] = int(exit_code)
    start, up0, up1 = (_number(data.get(k)) for k in ("start_epoch", "uptime_start", "uptime_end"))
    seconds = up1 - up0 if up0 is not None and up1 is not None and up1 >= up0 else None
    if seconds is not None:
        usage["seconds"] = round(seconds, 2)
    if start is not None:
        usage["started_at"] = _iso(start)
        if seconds is not None:
            usage["ended_at"] = _iso(start + seconds)
    cpu = _cpu_seconds(data)
    if cpu is not None:
        usage["cpu_seconds"] = round(cpu, 3)
        usage["cpu_source"] = data.get("cpu_source")
    memory = _number(data.get("memory"))
    if memory is not None and memory > 0:
        source = data.get("memory_source")
        # /proc counts pages: of the host the shim ran on (this one, in the local mode)
        factor = (_number(data.get("page_size")) or _page_size()) if source == "proc" else 1
        usage["peak_memory_mib"] = round(memory * factor / (1024 * 1024), 1)
        usage["memory_source"] = source
    for key, out in (("disk_kib", "disk_mib"), ("inputs_kib", "inputs_mib")):
        kib = _number(data.get(key))
        if kib is not None:
            usage[out] = round(kib / 1024, 1)
    return usage


def read_usage(path: str) -> dict[str, Any] | None:
    """``parse_usage`` of the file at ``path``; None if it is missing or unreadable."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return parse_usage(f.read(65536))
    except OSError:
        return None


def _cpu_seconds(data: dict[str, Any]) -> float | None:
    source = data.get("cpu_source")
    start, end = _number(data.get("cpu_start")), _number(data.get("cpu_end"))
    if source in ("cgroup2", "cgroup1") and start is not None and end is not None:
        unit = 1e6 if source == "cgroup2" else 1e9  # usage_usec / nanoseconds
        return max(end - start, 0.0) / unit
    match = _TIMES.match(str(data.get("times") or ""))
    if not match:
        return None
    minutes_u, seconds_u, minutes_s, seconds_s = match.groups()
    return 60 * int(minutes_u) + float(seconds_u) + 60 * int(minutes_s) + float(seconds_s)


def _page_size() -> int:
    import resource

    return resource.getpagesize()


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _iso(epoch: float) -> str:
    from datetime import UTC, datetime

    stamp = datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")
