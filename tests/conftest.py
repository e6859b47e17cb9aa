"""Shared fixtures: ``store`` runs a test once per Store adapter."""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter
from typing import Any

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


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto`` (pyproject.toml): two pytest-xdist workers for the suite or whole files, on any
    number of cores (most tests wait on subprocesses rather than compute); none, and so no worker
    start-up, when only named tests run (``pytest tests/test_x.py::test_y``).
    ``PYTEST_XDIST_AUTO_NUM_WORKERS`` still decides when set."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    if config.args and all("::" in arg for arg in config.args):
        return 0
    return 2


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """Tell each xdist worker how tests are handed out (a worker's own ``dist`` reads ``no``):
    test_wdl_spec starts all its examples at once only when it has the whole module."""
    node.workerinput["dist"] = node.config.getvalue("dist")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that share a node id get their full names as ids: schemathesis makes one item per
    API operation (test_wes_openapi), all with the same id, and pytest-xdist hands tests out by
    id, so it would run only the first operation, without a word."""
    from _pytest.nodeid import NodeId  # pytest 9.2 has no public way to rename a node

    counts = Counter(item.nodeid for item in items)
    for item in items:
        if counts[item.nodeid] > 1 and item.parent is not None:
            item._id = NodeId.parse(f"{item.parent.nodeid}::{item.name}")  # type: ignore[attr-defined]


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
