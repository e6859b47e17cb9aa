"""The AWS store adapter: runs and tasks in one on-demand DynamoDB table.

Items (each carries the whole record as JSON in ``item``, and a TTL attribute ``expires_at``):
  run   pk "RUN#<run_id>"   sk "RUN"
  task  pk "TASK#<task_id>" sk "TASK"
  group pk "GROUP#<name>"   sk "GROUP"   (listed through by_time: gsi1pk "GROUPS", gsi1sk name)
  launch budget pk "BUDGET#<name>" sk "BUDGET"       (its counters)
  lease         pk "BUDGET#<name>" sk "LEASE#<key>"  (one per task container in flight)
Indexes:
  by_time   gsi1pk "RUNS#<shard>"          gsi1sk "<created_at>#<run_id>"  runs, newest first
  by_state  gsi2pk "STATE#<state>#<shard>" gsi2sk "<created_at>#<run_id>"  runs of one state
  by_run    gsi3pk "RUN#<run_id>"          gsi3sk "<created_at>#<task_id>" a run's tasks
Runs spread over ``SHARDS`` partitions per index (by a hash of the run id): an index keyed on
time or on a state alone would put every submission in one hot partition. Listing reads each
shard and merges them: each shard is read on (a Query stops at ``Limit`` rows or 1 MB) until the
page's rows are known to precede every row not read yet, so the page's last row is a cursor that
misses nothing. Every write is conditional on the record's ``revision``; TTL deletion is lazy,
so expired items are filtered out on read.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .groups import GroupRecord
from .launch_budget import BudgetRecord, Lease
from .records import RunRecord, TaskRecord
from .states import State, is_terminal
from .store import (
    MAX_PAGE_SIZE,
    ChangeCounter,
    RunExists,
    decode_page_token,
    encode_page_token,
)

SHARDS = 8
BATCH_GET = 100
MAX_ITEM_BYTES = 350_000  # DynamoDB's limit is 400 KB per item, attribute names included
DEFAULT_RETENTION_DAYS = 90

_INDEXES = (
    ("by_time", "gsi1pk", "gsi1sk"),
    ("by_state", "gsi2pk", "gsi2sk"),
    ("by_run", "gsi3pk", "gsi3sk"),
)


def table_definition(name: str) -> dict[str, Any]:
    """The CreateTable request for the store's table (tests and tooling; the stack declares the
    same table in CloudFormation)."""
    keys = ["pk", "sk"] + [k for _name, pk, sk in _INDEXES for k in (pk, sk)]
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": k, "AttributeType": "S"} for k in keys],
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": index,
                "KeySchema": [
                    {"AttributeName": pk, "KeyType": "HASH"},
                    {"AttributeName": sk, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index, pk, sk in _INDEXES
        ],
    }


class DynamoDbStore:
    """``Store`` over a DynamoDB table (``client`` is a boto3 DynamoDB client)."""

    def __init__(
        self, client: Any, table: str, *, retention_days: float = DEFAULT_RETENTION_DAYS
    ) -> None:
        self.client = client
        self.table = table
        self.retention_seconds = retention_days * 86400
        self._changes = ChangeCounter()

    # runs

    def create_run(self, run: RunRecord) -> None:
        if not self._put(self._run_item(run), "attribute_not_exists(pk)", {}):
            raise RunExists(run.run_id)

    def get_run(self, run_id: str) -> RunRecord | None:
        item = self._get(_run_key(run_id))
        return RunRecord.from_item(item) if item is not None else None

    def put_run(self, run: RunRecord, expected_revision: int) -> bool:
        return self._put(
            self._run_item(run), "revision = :expected", {":expected": _n(expected_revision)}
        )

    def list_runs(
        self, *, state: State | None = None, page_size: int = 50, page_token: str = ""
    ) -> tuple[list[RunRecord], str]:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        after = _sort_key(*decode_page_token(page_token)) if page_token else None
        index, pk_name, sk_name = _INDEXES[1] if state is not None else _INDEXES[0]
        shards = [
            ShardCursor(f"STATE#{state.value}#{n}" if state is not None else f"RUNS#{n}")
            for n in range(SHARDS)
        ]
        found: list[tuple[str, RunRecord]] = []  # (sort key, run) of the live rows read
        first = math.ceil((page_size + 1) / SHARDS) + 1  # each shard's share, and one more
        while (shard := next_shard(shards)) is not None:
            ready = len(settled(found, shards))
            if ready > page_size:
                break
            limit = first if shard.position is None else page_size + 1 - ready
            request: dict[str, Any] = {
                "TableName": self.table,
                "IndexName": index,
                "KeyConditionExpression": f"{pk_name} = :pk",
                "ExpressionAttributeValues": {":pk": {"S": shard.partition}},
                "ScanIndexForward": False,
                "Limit": limit,
            }
            if after is not None:
                request["KeyConditionExpression"] += f" AND {sk_name} < :after"
                request["ExpressionAttributeValues"][":after"] = {"S": after}
            if shard.start is not None:
                request["ExclusiveStartKey"] = shard.start
            response = self.client.query(**request)
            items = response["Items"]
            for raw in items:
                record = self._live(raw)
                if record is not None:
                    found.append((raw[sk_name]["S"], RunRecord.from_item(record)))
            shard.start = response.get("LastEvaluatedKey")
            shard.exhausted = shard.start is None
            if items:
                shard.position = items[-1][sk_name]["S"]
        ordered = sorted(settled(found, shards), key=lambda pair: pair[0], reverse=True)
        page = [run for _key, run in ordered[:page_size]]
        more = len(ordered) > page_size
        token = encode_page_token(page[-1].created_at, page[-1].run_id) if more else ""
        return page, token

    # tasks

    def get_task(self, task_id: str) -> TaskRecord | None:
        item = self._get(_task_key(task_id))
        return TaskRecord.from_item(item) if item is not None else None

    def get_tasks(self, task_ids: Sequence[str]) -> list[TaskRecord]:
        found: list[TaskRecord] = []
        unique = list(dict.fromkeys(task_ids))
        for start in range(0, len(unique), BATCH_GET):
            keys = [_task_key(t) for t in unique[start : start + BATCH_GET]]
            request: dict[str, Any] = {self.table: {"Keys": keys, "ConsistentRead": True}}
            for attempt in range(8):
                response = self.client.batch_get_item(RequestItems=request)
                for raw in response["Responses"].get(self.table, []):
                    item = self._live(raw)
                    if item is not None:
                        found.append(TaskRecord.from_item(item))
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(0.05 * 2**attempt)  # throttled keys: back off, read the rest
            else:
                raise RuntimeError(f"DynamoDB left {len(request[self.table]['Keys'])} keys unread")
        return found

    def put_task(self, task: TaskRecord, expected_revision: int | None) -> bool:
        if expected_revision is None:
            written = self._put(self._task_item(task), "attribute_not_exists(pk)", {})
        else:
            written = self._put(
                self._task_item(task), "revision = :expected", {":expected": _n(expected_revision)}
            )
        if written and is_terminal(task.state):
            self._changes.bump(task.task_id)
        return written

    def delete_task(self, task_id: str, expected_revision: int) -> bool:
        return self._delete(_task_key(task_id), expected_revision)

    def list_tasks(self, run_id: str) -> list[TaskRecord]:
        tasks: list[TaskRecord] = []
        start: dict[str, Any] | None = None
        while True:
            request: dict[str, Any] = {
                "TableName": self.table,
                "IndexName": "by_run",
                "KeyConditionExpression": "gsi3pk = :run",
                "ExpressionAttributeValues": {":run": {"S": f"RUN#{run_id}"}},
            }
            if start:
                request["ExclusiveStartKey"] = start
            response = self.client.query(**request)
            tasks += [TaskRecord.from_item(i) for i in map(self._live, response["Items"]) if i]
            start = response.get("LastEvaluatedKey")
            if not start:
                return tasks

    def wait_for_change(self, seen: int, timeout: float) -> int:
        # On AWS task records are written by the status Lambda, so this mostly waits out the
        # timeout; task ends written by this process still wake waiters at once.
        return self._changes.wait(seen, timeout)

    def ended_since(self, seen: int) -> list[str] | None:
        return self._changes.ended_since(seen)

    # run groups and the launch budget: no TTL (they live until deleted)

    def get_group(self, name: str) -> GroupRecord | None:
        item = self._get(_group_key(name))
        return GroupRecord.from_item(item) if item is not None else None

    def put_group(self, group: GroupRecord, expected_revision: int | None) -> bool:
        item = {
            **self._common(_group_key(group.name), group.to_item(), group.revision),
            "gsi1pk": {"S": "GROUPS"},
            "gsi1sk": {"S": group.name},
        }
        del item["expires_at"]
        return self._put_revision(item, expected_revision)

    def list_groups(self) -> list[GroupRecord]:
        groups: list[GroupRecord] = []
        start: dict[str, Any] | None = None
        while True:
            request: dict[str, Any] = {
                "TableName": self.table,
                "IndexName": "by_time",
                "KeyConditionExpression": "gsi1pk = :groups",
                "ExpressionAttributeValues": {":groups": {"S": "GROUPS"}},
            }
            if start:
                request["ExclusiveStartKey"] = start
            response = self.client.query(**request)
            groups += [GroupRecord.from_item(json.loads(i["item"]["S"])) for i in response["Items"]]
            start = response.get("LastEvaluatedKey")
            if not start:
                return sorted(groups, key=lambda g: g.name)

    def delete_group(self, name: str, expected_revision: int) -> bool:
        return self._delete(_group_key(name), expected_revision)

    def get_budget(self, name: str) -> BudgetRecord | None:
        item = self._get(_budget_key(name))
        return BudgetRecord.from_item(item) if item is not None else None

    def get_lease(self, budget: str, key: str) -> Lease | None:
        item = self._get(_lease_key(budget, key))
        return Lease.from_item(item) if item is not None else None

    def list_leases(self, budget: str) -> dict[str, Lease]:
        leases: dict[str, Lease] = {}
        prefix = _lease_key(budget, "")["sk"]["S"]
        start: dict[str, Any] | None = None
        while True:
            request: dict[str, Any] = {
                "TableName": self.table,
                "KeyConditionExpression": "pk = :pk AND begins_with(sk, :lease)",
                "ExpressionAttributeValues": {
                    ":pk": _budget_key(budget)["pk"],
                    ":lease": {"S": prefix},
                },
                "ConsistentRead": True,
            }
            if start:
                request["ExclusiveStartKey"] = start
            response = self.client.query(**request)
            for raw in response["Items"]:
                leases[raw["sk"]["S"][len(prefix) :]] = Lease.from_item(
                    json.loads(raw["item"]["S"])
                )
            start = response.get("LastEvaluatedKey")
            if not start:
                return leases

    def change_budget(
        self, budget: BudgetRecord, expected_revision: int | None, key: str, lease: Lease | None
    ) -> bool:
        counters = self._common(_budget_key(budget.name), budget.to_item(), budget.revision)
        del counters["expires_at"]
        held = _lease_key(budget.name, key)
        if lease is None:
            change: dict[str, Any] = {
                "Delete": {
                    "TableName": self.table,
                    "Key": held,
                    "ConditionExpression": "attribute_exists(pk)",
                }
            }
        else:
            body = {"S": json.dumps(lease.to_item(), separators=(",", ":"))}
            change = {"Put": self._put_request({**held, "item": body}, "attribute_not_exists(pk)")}
        counters_put = self._put_request(counters, *_revision_condition(expected_revision))
        try:
            self.client.transact_write_items(TransactItems=[{"Put": counters_put}, change])
        except self.client.exceptions.TransactionCanceledException:
            return False  # a condition failed, or another transaction had the counters
        return True

    def _put_revision(self, item: dict[str, Any], expected_revision: int | None) -> bool:
        return self._put(item, *_revision_condition(expected_revision))

    # items

    def _run_item(self, run: RunRecord) -> dict[str, Any]:
        shard = _shard(run.run_id)
        order = _sort_key(run.created_at, run.run_id)
        return {
            **self._common(_run_key(run.run_id), run.to_item(), run.revision),
            "gsi1pk": {"S": f"RUNS#{shard}"},
            "gsi1sk": {"S": order},
            "gsi2pk": {"S": f"STATE#{run.state.value}#{shard}"},
            "gsi2sk": {"S": order},
        }

    def _task_item(self, task: TaskRecord) -> dict[str, Any]:
        return {
            **self._common(_task_key(task.task_id), task.to_item(), task.revision),
            "gsi3pk": {"S": f"RUN#{task.run_id}"},
            "gsi3sk": {"S": _sort_key(task.created_at or "", task.task_id)},
        }

    def _common(self, key: dict[str, Any], record: dict[str, Any], revision: int) -> dict[str, Any]:
        body = json.dumps(record, separators=(",", ":"))
        if len(body) > MAX_ITEM_BYTES:
            raise ValueError(
                f"record {key['pk']['S']} is {len(body)} bytes, over DynamoDB's item limit"
            )
        return {
            **key,
            "item": {"S": body},
            "revision": _n(revision),
            "expires_at": _n(int(time.time() + self.retention_seconds)),
        }

    def _delete(self, key: dict[str, Any], expected_revision: int) -> bool:
        """A compare-and-set DeleteItem; False if the stored revision was another (or none)."""
        try:
            self.client.delete_item(
                TableName=self.table,
                Key=key,
                ConditionExpression="revision = :expected",
                ExpressionAttributeValues={":expected": _n(expected_revision)},
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def _put(self, item: dict[str, Any], condition: str, values: dict[str, Any]) -> bool:
        try:
            self.client.put_item(**self._put_request(item, condition, values))
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def _put_request(
        self, item: dict[str, Any], condition: str, values: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A conditional PutItem request (also a transaction's ``Put``)."""
        request: dict[str, Any] = {
            "TableName": self.table,
            "Item": item,
            "ConditionExpression": condition,
        }
        if values:
            request["ExpressionAttributeValues"] = values
        return request

    def _get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        response = self.client.get_item(TableName=self.table, Key=key, ConsistentRead=True)
        return self._live(response.get("Item"))

    def _live(self, raw: dict[str, Any] | None) -> dict[str, Any] | None:
        """The record in an item, or None if there is none or its TTL has passed."""
        if not raw:
            return None
        expires = raw.get("expires_at", {}).get("N")
        if expires is not None and int(expires) <= time.time():
            return None
        record: dict[str, Any] = json.loads(raw["item"]["S"])
        return record


@dataclass
class ShardCursor:
    """Where listing one shard of an index has got to. ``position`` is the sort key of the last
    row read (None before the first Query); rows not read yet all sort below it."""

    partition: str
    start: dict[str, Any] | None = None
    position: str | None = None
    exhausted: bool = False


def next_shard(shards: Sequence[ShardCursor]) -> ShardCursor | None:
    """The shard to read next when merging shards newest first: one never read, else the one
    whose unread rows may sort highest; None when every shard is read to its end."""
    open_ = [s for s in shards if not s.exhausted]
    unread = [s for s in open_ if s.position is None]
    if unread:
        return unread[0]
    return max(open_, key=lambda s: s.position or "", default=None)


def settled(
    found: Sequence[tuple[str, RunRecord]], shards: Sequence[ShardCursor]
) -> list[tuple[str, RunRecord]]:
    """The rows whose place in the merged order is final: those at or above every unfinished
    shard's position (a shard's unread rows sort below what it returned). A Query stops at
    ``Limit`` rows or 1 MB, so a shard may be cut short anywhere; this never lets a row that a
    later read could precede onto a page."""
    positions = [s.position for s in shards if not s.exhausted]
    if any(p is None for p in positions):
        return []
    floor = max((p for p in positions if p is not None), default=None)
    return [pair for pair in found if floor is None or pair[0] >= floor]


def _run_key(run_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"RUN#{run_id}"}, "sk": {"S": "RUN"}}


def _task_key(task_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"TASK#{task_id}"}, "sk": {"S": "TASK"}}


def _group_key(name: str) -> dict[str, Any]:
    return {"pk": {"S": f"GROUP#{name}"}, "sk": {"S": "GROUP"}}


def _budget_key(name: str) -> dict[str, Any]:
    return {"pk": {"S": f"BUDGET#{name}"}, "sk": {"S": "BUDGET"}}


def _lease_key(budget: str, key: str) -> dict[str, Any]:
    return {"pk": {"S": f"BUDGET#{budget}"}, "sk": {"S": f"LEASE#{key}"}}


def _revision_condition(expected_revision: int | None) -> tuple[str, dict[str, Any]]:
    """The condition of a compare-and-set write: the stored revision is ``expected_revision``
    (None: no item is stored yet)."""
    if expected_revision is None:
        return "attribute_not_exists(pk)", {}
    return "revision = :expected", {":expected": _n(expected_revision)}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _shard(run_id: str) -> int:
    return int(hashlib.sha256(run_id.encode()).hexdigest(), 16) % SHARDS


def _sort_key(created_at: str, ident: str) -> str:
    return f"{created_at}#{ident}"
