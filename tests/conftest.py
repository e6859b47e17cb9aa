"""Shared fixtures: ``store`` runs a test once per Store adapter."""

from __future__ import annotations

import pytest

from chalicelib.memory_store import MemoryStore
from chalicelib.sqlite_store import SqliteStore


# The DynamoDB adapter joins this parametrization when it is built.
@pytest.fixture(params=["sqlite", "memory"])
def store(request, tmp_path):
    """Every Store adapter, fresh for each test."""
    if request.param == "sqlite":
        return SqliteStore(str(tmp_path / "s.sqlite3"))
    return MemoryStore()


# The moto account + fake Fargate harness fixture, for the aws_fargate tests.
from fargate_env import fargate  # noqa: E402, F401
