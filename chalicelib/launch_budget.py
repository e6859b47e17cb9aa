"""One launch budget for the account: vCPUs and GPUs in flight, and the RunTask rate.

Every orchestrator takes a lease from the budget before each RunTask, and the status handler
gives it back on the task's STOPPED event. The budget is stored as:

- one small record of counters (``BudgetRecord``): what each group's leases hold together, and
  a token bucket for the account's RunTask rate (20 calls/s), shared by every orchestrator
  instead of each pacing itself at 95% of it;
- one item per lease (``Lease``: its group, vCPUs, GPUs, capacity and an expiry), beside it.

A take creates a lease and adds it to the counters, a give-back deletes it and subtracts it,
each as one transaction that is compare-and-set on the counters' revision
(``Store.change_budget``). So neither costs more with thousands of tasks in flight than with
one. (The budget was once one record holding every lease, read and rewritten whole by every
take and give-back: past a few thousand leases in flight its writers fell behind and piled up,
and DynamoDB's 1,000 write units a second per item would have capped it near 370 leases.)

A lease never given back (a lost STOPPED event, an orchestrator that died between its take and
its RunTask) is the sweep's to find (``reclaim``): it gives back the leases of tasks that ended,
and those past their expiry that no task in flight holds. A lease held by a task in flight is
kept however old, so a long task never loses its capacity.

AWS calls per task: to take, one GetItem (the counters) and one TransactWriteItems (the
counters and the new lease); to give back, two GetItems (the lease, the counters) and one
TransactWriteItems. A write that loses a race reads again and tries again. Within a process one
thread at a time takes, so concurrent orchestrators contend, not their threads.

The decisions (``take``, ``give_back``, ``reclaim``) are pure; ``SharedLaunchBudget`` is the
thin adapter over the store.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .groups import Limits
from .service_quotas import effective_vcpu_limit

if TYPE_CHECKING:
    from .launcher import TaskSpec
    from .store import Store

log = logging.getLogger(__name__)

ACCOUNT_BUDGET = "account"
ENV_LEASE = "MINIWDL_FARGATE_LEASE"
DEFAULT_LEASE_SECONDS = 3600.0
RUN_TASK_RATE = 19.0  # 95% of ECS's 20 RunTask calls/s, for every orchestrator together
RATE_REASON = "launch rate"  # a wait of a second or so, for the shared RunTask rate alone
RUN_TASK_BURST = 20.0
LEASE_KEY_CHARS = 24
CPU_UNITS = 1024  # per vCPU: sums are kept exact in these units (ECS's own)
ENV_ACCOUNT_MAX_VCPUS = "MINIWDL_FARGATE_ACCOUNT_MAX_VCPUS"
ENV_ACCOUNT_MAX_GPUS = "MINIWDL_FARGATE_ACCOUNT_MAX_GPUS"


class BudgetError(ValueError):
    """A task that can never fit its group's or the account's limits."""


@dataclass(frozen=True)
class Lease:
    """Capacity held by one task container from before its RunTask until its STOPPED event."""

    group: str
    vcpus: float
    gpus: int
    expires: float  # epoch seconds: after it, a lease no task in flight holds is given back
    fargate: bool = True  # else on EC2 capacity: outside the account's Fargate vCPU quota

    def to_item(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Lease:
        return cls(
            str(item["group"]),
            float(item["vcpus"]),
            int(item["gpus"]),
            float(item["expires"]),
            bool(item.get("fargate", True)),
        )


@dataclass(frozen=True)
class Held:
    """What the leases of one group hold together."""

    vcpus: float = 0.0
    gpus: int = 0
    fargate_vcpus: float = 0.0  # of ``vcpus``, those on Fargate (the account's quota counts them)
    leases: int = 0

    def plus(self, lease: Lease, sign: int) -> Held:
        """These counters with ``lease`` added (``sign`` 1) or taken away (-1), never below 0."""
        return Held(
            _exact(self.vcpus + sign * lease.vcpus),
            max(0, self.gpus + sign * lease.gpus),
            _exact(self.fargate_vcpus + sign * (lease.vcpus if lease.fargate else 0.0)),
            max(0, self.leases + sign),
        )


def _exact(vcpus: float) -> float:
    """``vcpus`` rounded to ECS's CPU units and at least 0: sums of task sizes stay exact."""
    return max(0.0, round(vcpus * CPU_UNITS) / CPU_UNITS)


@dataclass(frozen=True)
class AccountLimits:
    """The deployment's hard limits above every group: the account's Fargate vCPU quota (and
    GPUs), and the RunTask rate shared by every orchestrator. ``max_vcpus`` here is the
    configured value; ``SharedLaunchBudget`` lowers it to the quota read from Service Quotas."""

    max_vcpus: float | None = None
    max_gpus: int | None = None
    rate_per_s: float = RUN_TASK_RATE
    burst: float = RUN_TASK_BURST
    lease_seconds: float = DEFAULT_LEASE_SECONDS

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> AccountLimits:
        """From ``MINIWDL_FARGATE_ACCOUNT_MAX_VCPUS`` / ``..._MAX_GPUS`` (unset: no limit)."""
        vcpus = environ.get(ENV_ACCOUNT_MAX_VCPUS, "").strip()
        gpus = environ.get(ENV_ACCOUNT_MAX_GPUS, "").strip()
        try:
            return cls(
                max_vcpus=float(vcpus) if vcpus else None, max_gpus=int(gpus) if gpus else None
            )
        except ValueError:
            raise BudgetError(
                f"{ENV_ACCOUNT_MAX_VCPUS}/{ENV_ACCOUNT_MAX_GPUS} must be numbers"
            ) from None


@dataclass(frozen=True)
class BudgetRecord:
    """The launch budget's counters as stored; ``revision`` is their compare-and-set counter.
    Its size grows with the number of groups with tasks in flight, not with the tasks. A record
    of the earlier one-record shape reads as empty counters: the leases it held (an hour's at
    most) are not counted, and their give-backs find nothing to give."""

    name: str = ACCOUNT_BUDGET
    groups: Mapping[str, Held] = field(default_factory=dict)  # groups with leases only
    tokens: float = RUN_TASK_BURST
    stamp: float = 0.0  # epoch seconds the tokens were counted at
    revision: int = 0

    @property
    def leases(self) -> int:
        """How many leases are held (task containers in flight)."""
        return sum(held.leases for held in self.groups.values())

    def to_item(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "groups": {g: dataclasses.astuple(h) for g, h in self.groups.items()},
            "tokens": self.tokens,
            "stamp": self.stamp,
            "revision": self.revision,
        }

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> BudgetRecord:
        groups = {
            str(g): Held(float(v), int(n), float(f), int(c))
            for g, (v, n, f, c) in (item.get("groups") or {}).items()
        }
        return cls(
            name=str(item["name"]),
            groups=groups,
            tokens=float(item.get("tokens", RUN_TASK_BURST)),
            stamp=float(item.get("stamp") or 0.0),
            revision=int(item.get("revision") or 0),
        )

    def in_flight(
        self, group: str | None = None, *, fargate_only: bool = False
    ) -> tuple[float, int]:
        """(vCPUs, GPUs) the leases hold, of one group or of all (of vCPUs: on Fargate only)."""
        held = [h for g, h in self.groups.items() if group is None or g == group]
        vcpus = sum(h.fargate_vcpus if fargate_only else h.vcpus for h in held)
        return vcpus, sum(h.gpus for h in held)


@dataclass(frozen=True)
class Grant:
    """What ``take`` decided: if granted, the ``lease`` to create and the counters ``budget``
    to write with it (both None: the key holds its lease already); if not, ``wait`` seconds to
    wait at most before trying again and ``reason``."""

    budget: BudgetRecord | None
    granted: bool
    wait: float = 0.0
    reason: str = ""
    lease: Lease | None = None


def take(
    budget: BudgetRecord,
    group: str,
    vcpus: float,
    gpus: int,
    group_limits: Limits,
    account: AccountLimits,
    now: float,
    *,
    fargate: bool = True,
) -> Grant:
    """A lease for a task (and one RunTask token) if the group's and the account's vCPUs and
    GPUs in flight and the launch rate allow; else why to wait. Raises ``BudgetError`` for a
    task bigger than a limit: it could never launch. The account's vCPUs are its Fargate
    quota: a task on EC2 capacity (``fargate`` false) counts in its group's only."""
    limits = _limits(budget, group, vcpus, gpus, group_limits, account, fargate)
    for whose, limit, _used, asked, what in limits:
        if limit is not None and asked > limit:
            raise BudgetError(f"a task of {asked:g} {what} exceeds {whose}'s {limit:g}")
    reason = next(
        (
            f"waiting: {whose} has {used:g} of {limit:g} {what} in flight"
            for whose, limit, used, asked, what in limits
            if limit is not None and asked and used + asked > limit + 1e-9
        ),
        "",
    )
    if reason:  # nothing to wait on but a give-back: the caller waits ``wait`` and looks again
        return Grant(None, False, wait=1.0, reason=reason)
    elapsed = max(0.0, now - budget.stamp)
    tokens = min(account.burst, budget.tokens + elapsed * account.rate_per_s)
    if tokens < 1.0:
        return Grant(None, False, wait=(1.0 - tokens) / account.rate_per_s, reason=RATE_REASON)
    lease = Lease(group, vcpus, gpus, now + account.lease_seconds, fargate)
    counted = _count(budget, lease, 1)
    return Grant(
        dataclasses.replace(counted, tokens=tokens - 1.0, stamp=max(now, budget.stamp)),
        True,
        lease=lease,
    )


def _limits(
    budget: BudgetRecord,
    group: str,
    vcpus: float,
    gpus: int,
    group_limits: Limits,
    account: AccountLimits,
    fargate: bool,
) -> list[tuple[str, float | None, float, float, str]]:
    """Each limit the task counts against: (whose, limit, in flight now, the task's, what). The
    account's vCPUs are its Fargate quota, which a task on EC2 capacity does not count in."""
    group_v, group_g = budget.in_flight(group)
    fargate_v, _ = budget.in_flight(fargate_only=True)
    _, all_g = budget.in_flight()
    return [
        (f"group {group}", group_limits.max_vcpus, group_v, vcpus, "vCPUs"),
        (f"group {group}", group_limits.max_gpus, group_g, gpus, "GPUs"),
        ("the account", account.max_vcpus, fargate_v, vcpus if fargate else 0.0, "vCPUs"),
        ("the account", account.max_gpus, all_g, gpus, "GPUs"),
    ]


def _count(budget: BudgetRecord, lease: Lease, sign: int) -> BudgetRecord:
    """The counters with ``lease`` added or taken away; a group whose last lease went is
    dropped, so the record keeps only groups with tasks in flight."""
    held = budget.groups.get(lease.group, Held()).plus(lease, sign)
    groups = {g: h for g, h in budget.groups.items() if g != lease.group}
    if held.leases:
        groups[lease.group] = held
    return dataclasses.replace(budget, groups=groups)


def give_back(budget: BudgetRecord, lease: Lease) -> BudgetRecord:
    """The counters without ``lease``."""
    return _count(budget, lease, -1)


def reclaim(
    leases: Mapping[str, Lease], alive: Collection[str], ended: Collection[str], now: float
) -> list[str]:
    """The sweep's repair: the keys of the leases to give back, those of tasks that ended
    (``ended``: their STOPPED event was lost) and those past their expiry that no task in
    flight (``alive``) holds. A lease of a task in flight is kept, however old."""
    return sorted(
        key
        for key, lease in leases.items()
        if key in ended or (key not in alive and lease.expires <= now)
    )


def lease_of(event: Mapping[str, Any]) -> str | None:
    """The lease key an ECS event's task holds (the ``MINIWDL_FARGATE_LEASE`` its launcher set
    in the container's environment, which every event echoes), or None."""
    detail = event.get("detail") or {}
    overrides = detail.get("overrides") or {}
    for container in overrides.get("containerOverrides") or ():
        for pair in container.get("environment") or ():
            if isinstance(pair, Mapping) and pair.get("name") == ENV_LEASE:
                value = pair.get("value")
                return str(value) if value else None
    return None


# A task container's shape, as the launch budget lines tasks up: group, vCPUs, GPUs, on Fargate.
Shape = tuple[str, float, int, bool]


class SharedLaunchBudget:
    """The adapter: ``acquire`` before RunTask (blocks until the lease is granted), ``release``
    on STOPPED or when RunTask failed. ``clock`` is epoch seconds (tests move it).
    ``vcpu_quota`` reads the account's Fargate vCPU quota (``service_quotas``): called once,
    when a lease is first taken, and combined with ``account.max_vcpus``
    (``effective_vcpu_limit``)."""

    def __init__(
        self,
        store: Store,
        account: AccountLimits,
        *,
        name: str = ACCOUNT_BUDGET,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        vcpu_quota: Callable[[], float | None] | None = None,
    ) -> None:
        self.store = store
        self._account = account
        self._vcpu_quota = vcpu_quota
        self._account_lock = threading.Lock()
        self.name = name
        self.clock = clock
        self.sleep = sleep
        self.writes = 0  # conditional writes attempted (for the bench)
        self.conflicts = 0  # of them, lost to another writer
        self._lock = threading.Lock()
        self._lines: dict[Shape, threading.Lock] = {}
        self._reasons: dict[Shape, str] = {}  # why the task at the head of each line waits

    @property
    def account(self) -> AccountLimits:
        """The account's limits, its vCPUs from the quota (read the first time they matter)."""
        if self._vcpu_quota is not None:
            with self._account_lock:
                if self._vcpu_quota is not None:
                    quota = self._vcpu_quota()
                    vcpus = effective_vcpu_limit(self._account.max_vcpus, quota)
                    self._account = dataclasses.replace(self._account, max_vcpus=vcpus)
                    self._vcpu_quota = None
        return self._account

    def acquire(
        self,
        key: str,
        group: str,
        vcpus: float,
        gpus: int = 0,
        group_limits: Limits | None = None,
        *,
        stop: Callable[[], bool] = lambda: False,
        on_wait: Callable[[str], None] | None = None,
        fargate: bool = True,
    ) -> bool:
        """Take the lease; False if ``stop()`` turned true while waiting. ``on_wait`` hears the
        reason once each time it changes. Raises ``BudgetError`` (never fits).

        Within a process, tasks that ask for the same (group, vCPUs, GPUs, capacity) wait in
        line (``_line``): only the first reads the store while it waits; the others sleep,
        neither reading nor waking, until their turn, then look at their ``stop()`` first (a
        run that is terminating empties its line so). Else every waiting task would read the
        record at the launch rate: thousands of reads a second for a run of thousands of tasks,
        and as many wake-ups of the orchestrator's threads. A task that joins a line hears at
        once why the task at its head waits (``_reasons``): the reason of the head's latest try,
        none after a grant or a wait for the launch rate alone."""
        shape = (group, float(vcpus), int(gpus), fargate)
        line = self._line(shape)
        said = ""
        if not line.acquire(blocking=False):
            said = self._reasons.get(shape, "")
            if said and on_wait is not None:
                on_wait(said)
            line.acquire()  # given up by the task ahead once it is granted or stopped
        try:
            limits = group_limits or Limits()
            while not stop():
                with self._lock:
                    grant = self._try(key, group, vcpus, gpus, limits, fargate)
                    self._reasons[shape] = "" if grant.reason == RATE_REASON else grant.reason
                if grant.granted:
                    return True
                if grant.reason != said and grant.reason != RATE_REASON:
                    said = grant.reason
                    if on_wait is not None:
                        on_wait(said)
                self.sleep(grant.wait * (1.0 + random.random() / 4))
            return False
        finally:
            line.release()

    def _line(self, shape: Shape) -> threading.Lock:
        """The turn of tasks of one shape (one lock each; a run has a few shapes)."""
        with self._lock:
            return self._lines.setdefault(shape, threading.Lock())

    def _try(
        self, key: str, group: str, vcpus: float, gpus: int, limits: Limits, fargate: bool
    ) -> Grant:
        while True:
            current = self.store.get_budget(self.name)
            expected = current.revision if current is not None else None
            base = current or BudgetRecord(self.name, stamp=self.clock())
            grant = take(
                base, group, vcpus, gpus, limits, self.account, self.clock(), fargate=fargate
            )
            if grant.budget is None or grant.lease is None:
                return grant
            if self._write(grant.budget, expected, key, grant.lease):
                return grant
            held = self.store.get_lease(self.name, key)
            if held is None:
                continue  # another writer changed the counters first
            if held.expires > self.clock():
                return Grant(None, True)  # a retried take: the key holds its lease already
            self.release(key)  # its own lease, expired: given back and taken afresh

    def release(self, key: str) -> bool:
        """Give the lease back; False if it was not held (a duplicate event)."""
        lease = self.store.get_lease(self.name, key)
        while lease is not None:
            current = self.store.get_budget(self.name)
            expected = current.revision if current is not None else None
            new = give_back(current or BudgetRecord(self.name), lease)
            if self._write(new, expected, key, None):
                return True
            lease = self.store.get_lease(self.name, key)
        return False

    def repair(self, alive: Collection[str], ended: Collection[str]) -> int:
        """The sweep's part (``reclaim``): how many leases it gave back."""
        leases = self.store.list_leases(self.name)
        return sum(self.release(key) for key in reclaim(leases, alive, ended, self.clock()))

    def _write(
        self, budget: BudgetRecord, expected: int | None, key: str, lease: Lease | None
    ) -> bool:
        self.writes += 1
        new = dataclasses.replace(budget, revision=(expected or 0) + 1)
        if self.store.change_budget(new, expected, key, lease):
            return True
        self.conflicts += 1
        return False


# the orchestrator's side: a lease around each task container's launch

_RUN_GROUPS: dict[str, tuple[str, Limits]] = {}
_RUN_GROUPS_LOCK = threading.Lock()


def run_limits(store: Store, run_id: str) -> tuple[str, Limits]:
    """The run's group and its limits, read once per process (a limit changed while the run
    goes on applies to the runs admitted after)."""
    with _RUN_GROUPS_LOCK:
        if run_id in _RUN_GROUPS:
            return _RUN_GROUPS[run_id]
    run = store.get_run(run_id)
    name = run.group if run is not None and run.group else "default"
    group = store.get_group(name)
    found = (name, group.limits if group is not None else Limits())
    with _RUN_GROUPS_LOCK:
        _RUN_GROUPS[run_id] = found
    return found


def hold_lease(
    budget: SharedLaunchBudget | None,
    store: Store,
    spec: TaskSpec,
    stop: Callable[[], bool],
    on_wait: Callable[[str], None] | None = None,
) -> TaskSpec | None:
    """Take the lease a task container needs before its RunTask: the spec to launch (naming
    its lease, which its events echo for the give-back on STOPPED), or None if ``stop()``
    turned true while it waited. Without a budget, the spec as it is. A task bigger than a
    limit is a ``LaunchError`` (it could never launch). While it waits for vCPUs or GPUs, the
    task shows among its run's tasks (``waiting_tasks``), and ``on_wait`` hears each reason."""
    from .launcher import LaunchError
    from .waiting_tasks import WaitingTask

    if budget is None or not spec.client_token:
        return spec
    group, limits = run_limits(store, spec.run_id)
    key = spec.client_token[:LEASE_KEY_CHARS]
    waiting = WaitingTask(store, spec, key)

    def waits(reason: str) -> None:
        waiting.show(reason)
        if on_wait is not None:
            on_wait(reason)

    try:
        held = budget.acquire(
            key,
            group,
            spec.cpu / 1024,
            spec.gpus,
            limits,
            stop=stop,
            on_wait=waits,
            fargate=not spec.capacity_provider,
        )
    except BudgetError as exn:
        raise LaunchError(str(exn)) from None
    finally:
        waiting.clear()
    if not held:
        return None
    return dataclasses.replace(spec, environment={**spec.environment, ENV_LEASE: key})


def release_lease(budget: SharedLaunchBudget | None, spec: TaskSpec) -> None:
    """Give back the lease of a task whose RunTask failed (no STOPPED event will)."""
    key = spec.environment.get(ENV_LEASE)
    if budget is not None and key:
        budget.release(key)
