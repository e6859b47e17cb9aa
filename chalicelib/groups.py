"""Run groups: named sets of limits that runs join, and the record the store keeps of each.

A group's record holds its limits and, beside them, its admission state: the runs admitted
(counted against ``max_runs`` until their orchestrator stops) and the runs waiting, in the order
they will be admitted. Keeping both in one record lets one compare-and-set write decide an
admission, so two admitters (the submit Lambda and the status Lambda, say) can never admit more
than the limit between them (``admission``).

Pure: no I/O. The ``default`` group's limits come from configuration (``default_limits``), not
from its record: a deployment's operator sets them, not an API caller.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_GROUP = "default"
GROUP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
# A group record holds one queue entry (about 60 bytes) per waiting run; a DynamoDB item holds
# at most 400 KB, so the queue is capped well under that.
MAX_QUEUED_RUNS = 2000
MAX_GROUP_RUNS = 5000  # admitted and waiting (a run id is about 30 bytes of the record)
MIN_PRIORITY = -1000
MAX_PRIORITY = 1000
ENV_DEFAULT_PREFIX = "MINIWDL_FARGATE_DEFAULT_GROUP_"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class GroupError(ValueError):
    """A group definition, name or priority that is not valid; the message says why."""


@dataclass(frozen=True)
class Limits:
    """A group's limits; None means no limit. ``max_vcpus``/``max_gpus`` bound the vCPUs and
    GPUs of the group's task containers in flight at once, ``max_runs`` its admitted runs,
    ``max_duration_seconds`` each run's time from admission, and ``max_cost_usd`` each run's
    estimated cost."""

    max_runs: int | None = None
    max_vcpus: float | None = None
    max_gpus: int | None = None
    max_duration_seconds: float | None = None
    max_cost_usd: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


LIMIT_FIELDS = tuple(f.name for f in dataclasses.fields(Limits))


@dataclass(frozen=True)
class QueueEntry:
    """A waiting run: higher ``priority`` first, then first come (``seq``) first served."""

    run_id: str
    priority: int = 0
    seq: int = 0


@dataclass(frozen=True)
class GroupRecord:
    """A run group as stored: its limits and its admission state. ``revision`` is the store's
    compare-and-set counter, as on runs."""

    name: str
    limits: Limits = field(default_factory=Limits)
    description: str = ""
    created_at: str = ""
    updated_at: str = ""
    admitted: tuple[str, ...] = ()
    queue: tuple[QueueEntry, ...] = ()
    next_seq: int = 0
    revision: int = 0

    def to_item(self) -> dict[str, Any]:
        """JSON-compatible dict for storage."""
        return {
            "name": self.name,
            "limits": self.limits.as_dict(),
            "description": self.description,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "admitted": list(self.admitted),
            "queue": [[e.run_id, e.priority, e.seq] for e in self.queue],
            "next_seq": self.next_seq,
            "revision": self.revision,
        }

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> GroupRecord:
        """Inverse of ``to_item``; unknown keys are ignored."""
        limits = item.get("limits") or {}
        return cls(
            name=str(item["name"]),
            limits=Limits(**{k: limits.get(k) for k in LIMIT_FIELDS}),
            description=str(item.get("description") or ""),
            created_at=str(item.get("created_at") or ""),
            updated_at=str(item.get("updated_at") or ""),
            admitted=tuple(str(r) for r in item.get("admitted") or ()),
            queue=tuple(QueueEntry(str(r), int(p), int(s)) for r, p, s in item.get("queue") or ()),
            next_seq=int(item.get("next_seq") or 0),
            revision=int(item.get("revision") or 0),
        )

    def describe(self) -> dict[str, Any]:
        """What the API shows of a group: limits, and how many runs are admitted and waiting."""
        return {
            "name": self.name,
            "description": self.description,
            **self.limits.as_dict(),
            "runs_admitted": len(self.admitted),
            "runs_waiting": len(self.queue),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def check_name(name: object) -> str:
    """A valid group name (letters, digits, ``.``, ``_``, ``-``; up to 63 characters)."""
    if not isinstance(name, str) or not GROUP_NAME.match(name):
        raise GroupError(
            f"group name {name!r} is not valid: 1-63 letters, digits, '.', '_' or '-',"
            " starting with a letter or digit"
        )
    return name


def check_priority(value: object) -> int:
    """A run's priority: an integer from -1000 to 1000 (0 when not given)."""
    if value is None or value == "":
        return 0
    try:
        number = int(str(value).strip())
    except ValueError:
        raise GroupError(f"priority {value!r} is not an integer") from None
    if not MIN_PRIORITY <= number <= MAX_PRIORITY:
        raise GroupError(f"priority must be between {MIN_PRIORITY} and {MAX_PRIORITY}")
    return number


def parse_duration(value: object) -> float | None:
    """Seconds from a number of seconds or a string such as "90m", "12h", "2d"; None for no
    limit (None or "")."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise GroupError(f"max_duration {value!r} is not a duration")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value).lower())
        if not match:
            raise GroupError(f"max_duration {value!r} is not a duration (e.g. 3600, 90m, 12h)")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if not math.isfinite(seconds) or seconds <= 0:
        raise GroupError("max_duration must be positive")
    return seconds


def parse_limits(body: Mapping[str, Any], base: Limits | None = None) -> Limits:
    """Limits from an API body or CLI options (``max_duration`` may be a duration string);
    keys absent keep ``base``'s value, a null clears a limit. Raises ``GroupError``."""
    values = (base or Limits()).as_dict()
    unknown = set(body) - set(LIMIT_FIELDS) - {"max_duration", "name", "description"}
    if unknown:
        raise GroupError(f"unknown group field(s): {', '.join(sorted(unknown))}")
    if "max_duration" in body:
        values["max_duration_seconds"] = parse_duration(body["max_duration"])
    if "max_duration_seconds" in body:
        values["max_duration_seconds"] = parse_duration(body["max_duration_seconds"])
    for name, kind in (("max_runs", int), ("max_gpus", int)):
        if name in body:
            values[name] = _number(name, body[name], kind, minimum=0)
    for name in ("max_vcpus", "max_cost_usd"):
        if name in body:
            values[name] = _number(name, body[name], float, minimum=0)
    return Limits(**values)


def _number(name: str, value: object, kind: type, *, minimum: float) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise GroupError(f"{name} must be a number, not {value!r}")
    try:
        number = float(str(value).strip()) if kind is float else _integer(value)
    except (TypeError, ValueError):
        raise GroupError(f"{name} must be a{'n integer' if kind is int else ' number'}") from None
    if not math.isfinite(number) or number < minimum:
        raise GroupError(f"{name} must be {minimum} or more")
    return number


def _integer(value: object) -> int:
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(value)
        return int(value)
    return int(str(value).strip())


def default_limits(environ: Mapping[str, str]) -> Limits:
    """The ``default`` group's limits, from ``MINIWDL_FARGATE_DEFAULT_GROUP_MAX_RUNS``,
    ``..._MAX_VCPUS``, ``..._MAX_GPUS``, ``..._MAX_DURATION`` and ``..._MAX_COST_USD``
    (unset: no limit). Raises ``GroupError`` naming a bad value."""
    body = {
        key.lower(): environ[ENV_DEFAULT_PREFIX + key]
        for key in ("MAX_RUNS", "MAX_VCPUS", "MAX_GPUS", "MAX_DURATION", "MAX_COST_USD")
        if environ.get(ENV_DEFAULT_PREFIX + key, "").strip()
    }
    try:
        return parse_limits(body)
    except GroupError as exn:
        raise GroupError(f"{ENV_DEFAULT_PREFIX}*: {exn}") from None


def run_group(tags: Mapping[str, str], options: Mapping[str, str]) -> tuple[str, int]:
    """The group a run joins and its priority: the ``group``/``priority`` engine parameters,
    else the tags of those names; ``default`` and 0 without. Raises ``GroupError``."""
    name = options.get("group") or tags.get("group") or DEFAULT_GROUP
    priority = options.get("priority", tags.get("priority"))
    return check_name(name), check_priority(priority)
