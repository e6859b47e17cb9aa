"""What the DynamoDB adapter does beyond the store contract: no hot partition, TTL, item size."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.dynamodb_store import (
    SHARDS,
    DynamoDbStore,
    ShardCursor,
    next_shard,
    settled,
    table_definition,
)
from chalicelib.records import RunRecord, TaskRecord
from chalicelib.states import State


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(**table_definition("runs"))
        yield dynamodb


def run(run_id: str, created_at: str, state: State = State.QUEUED) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        state=state,
        created_at=created_at,
        updated_at=created_at,
        workflow_name="w",
        workflow_key="k",
        inputs_key="i",
    )


def test_runs_spread_over_shards_in_both_indexes(client: Any) -> None:
    store = DynamoDbStore(client, "runs")
    for i in range(64):
        store.create_run(run(f"run-{i:03d}", f"2024-05-01T12:00:{i:02d}.000Z"))
    items = client.scan(TableName="runs")["Items"]
    by_time = {i["gsi1pk"]["S"] for i in items}
    by_state = {i["gsi2pk"]["S"] for i in items}
    assert len(by_time) == SHARDS and all(p.startswith("RUNS#") for p in by_time)
    assert len(by_state) == SHARDS and all(p.startswith("STATE#QUEUED#") for p in by_state)


def test_paging_merges_the_shards_newest_first(client: Any) -> None:
    store = DynamoDbStore(client, "runs")
    ids = [f"run-{i:03d}" for i in range(30)]
    for i, run_id in enumerate(ids):
        store.create_run(run(run_id, f"2024-05-01T12:00:{i:02d}.000Z"))
    seen: list[str] = []
    token = ""
    while True:
        page, token = store.list_runs(page_size=7, page_token=token)
        seen += [r.run_id for r in page]
        if not token:
            break
    assert seen == list(reversed(ids))


def test_a_state_change_moves_the_run_between_state_partitions(client: Any) -> None:
    store = DynamoDbStore(client, "runs")
    store.create_run(run("run-1", "2024-05-01T12:00:00.000Z"))
    running = dataclasses.replace(run("run-1", "2024-05-01T12:00:00.000Z"), state=State.RUNNING)
    assert store.put_run(dataclasses.replace(running, revision=1), 0)
    assert [r.run_id for r in store.list_runs(state=State.RUNNING)[0]] == ["run-1"]
    assert store.list_runs(state=State.QUEUED)[0] == []


def test_expired_items_are_not_returned_before_ttl_deletes_them(client: Any) -> None:
    expired = DynamoDbStore(client, "runs", retention_days=-1)
    expired.create_run(run("old", "2024-05-01T12:00:00.000Z"))
    task = TaskRecord(task_id="t-old", run_id="old", state=State.COMPLETE, updated_at="x")
    expired.put_task(task, None)
    store = DynamoDbStore(client, "runs")
    assert client.scan(TableName="runs")["Count"] == 2  # still there: TTL deletion is lazy
    assert store.get_run("old") is None
    assert store.list_runs()[0] == []
    assert store.get_task("t-old") is None and store.get_tasks(["t-old"]) == []
    assert store.list_tasks("old") == []


def test_items_carry_a_ttl_from_the_retention(client: Any) -> None:
    DynamoDbStore(client, "runs", retention_days=30).create_run(run("r", "2024-05-01"))
    (item,) = client.scan(TableName="runs")["Items"]
    assert abs(int(item["expires_at"]["N"]) - (time.time() + 30 * 86400)) < 60


def test_a_record_too_large_for_an_item_is_refused_clearly(client: Any) -> None:
    store = DynamoDbStore(client, "runs")
    huge = dataclasses.replace(run("big", "2024-05-01"), outputs={"x": "y" * 400_000})
    with pytest.raises(ValueError, match="over DynamoDB's item limit"):
        store.create_run(huge)
    assert store.get_run("big") is None


def test_get_tasks_reads_more_than_one_batch(client: Any) -> None:
    store = DynamoDbStore(client, "runs")
    ids = [f"t{i:03d}" for i in range(130)]
    for task_id in ids:
        store.put_task(
            TaskRecord(task_id=task_id, run_id="r", state=State.QUEUED, updated_at="x"), None
        )
    assert sorted(t.task_id for t in store.get_tasks([*ids, "missing"])) == ids


def test_only_rows_no_unread_row_can_precede_are_settled() -> None:
    a = ShardCursor("RUNS#0", position="2024-05-01T12:00:05#a")
    b = ShardCursor("RUNS#1", position="2024-05-01T12:00:03#b")
    done = ShardCursor("RUNS#2", exhausted=True, position="2024-05-01T12:00:01#c")
    rows = [(f"2024-05-01T12:00:0{i}#x", run(f"r{i}", "t")) for i in range(8)]
    # a may still hold rows just below 12:00:05, so nothing under that is final yet
    assert [key for key, _ in settled(rows, [a, b, done])] == [k for k, _ in rows[5:]]
    assert next_shard([a, b, done]) is a  # the one whose unread rows may sort highest
    assert settled(rows, [a, b, ShardCursor("RUNS#3")]) == []  # a shard not read at all
    assert next_shard([a, ShardCursor("RUNS#3")]).partition == "RUNS#3"
    assert settled(rows, [done]) == rows
    assert next_shard([done]) is None


def test_a_page_reads_little_more_than_the_page(client: Any) -> None:
    """Merging the shards does not read every shard a page deep: at most about twice the
    page."""
    store = DynamoDbStore(client, "runs")
    for i in range(400):
        store.create_run(run(f"run-{i:03d}", f"2024-05-01T12:{i // 60:02d}:{i % 60:02d}.000Z"))
    read: list[int] = []
    query = client.query

    def counting_query(**request: Any) -> Any:
        response = query(**request)
        read.append(len(response["Items"]))
        return response

    client.query = counting_query
    page, token = store.list_runs(page_size=50)
    assert len(page) == 50 and token
    assert 51 <= sum(read) <= 2 * 51, read  # not SHARDS * 51, as one Query a shard would
    read.clear()
    second, _ = store.list_runs(page_size=50, page_token=token)
    assert second[0].created_at < page[-1].created_at
    assert sum(read) <= 2 * 51, read
