"""Shared fixtures: ``store`` runs a test once per Store adapter."""

from __future__ import annotations

import signal
import threading

import boto3
import pytest
from moto import mock_aws

from chalicelib.dynamodb_store import DynamoDbStore, table_definition
from chalicelib.memory_store import MemoryStore
from chalicelib.sqlite_store import SqliteStore

# A suite started with SIGINT ignored (a background job of a non-interactive shell, `make test &`)
# would hand that on to every process it starts, and the Ctrl-C tests would see commands that
# rightly keep ignoring it: here Ctrl-C is what it is in a terminal.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(params=["sqlite", "memory", "dynamodb"])
def store(request, tmp_path, monkeypatch):
    """Every Store adapter, fresh for each test (DynamoDB on moto)."""
    if request.param == "sqlite":
        yield SqliteStore(str(tmp_path / "s.sqlite3"))
    elif request.param == "memory":
        yield MemoryStore()
    else:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        with mock_aws():
            client = boto3.client("dynamodb", region_name="us-east-1")
            client.create_table(**table_definition("runs"))
            yield DynamoDbStore(_atomic_writes(client), "runs")


def _atomic_writes(client):
    """moto checks a ConditionExpression and writes in two steps that threads can interleave;
    DynamoDB does both atomically. Serialise moto's writes so the contract tests test ours."""
    lock = threading.Lock()
    put_item = client.put_item

    def atomic_put_item(**kwargs):
        with lock:
            return put_item(**kwargs)

    client.put_item = atomic_put_item
    return client


# The moto account + fake Fargate harness fixture, for the aws_fargate tests.
# The emulated deployed stack (moto server, the Chalice app, fake Fargate), for the e2e tests.
from aws_stack import stack  # noqa: E402, F401
from fargate_env import fargate  # noqa: E402, F401
