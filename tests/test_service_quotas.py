"""The account's Fargate vCPU quota from Service Quotas (``chalicelib.service_quotas``): read
once where permitted, the configured value where not (AccessDenied, no network), and the
launch budget holding task containers to it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber
from moto import mock_aws

from chalicelib import service_quotas
from chalicelib.deployment import group_ports
from chalicelib.launch_budget import AccountLimits, SharedLaunchBudget
from chalicelib.launcher import TaskSpec
from chalicelib.memory_store import MemoryStore
from chalicelib.service_quotas import (
    FARGATE_ON_DEMAND_VCPU_QUOTA,
    FARGATE_SERVICE_CODE,
    effective_vcpu_limit,
    fargate_vcpu_quota,
    read_quota,
)

REGION = "us-east-1"
QUOTA_ANSWER = {
    "Quota": {
        "ServiceCode": "fargate",
        "QuotaCode": "L-3032A538",
        "QuotaName": "Fargate On-Demand vCPU resource count",
        "Value": 256.0,
        "Unit": "None",
        "Adjustable": True,
        "GlobalQuota": False,
    }
}
EXPECTED = {"ServiceCode": "fargate", "QuotaCode": "L-3032A538"}


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    fargate_vcpu_quota.cache_clear()
    yield
    fargate_vcpu_quota.cache_clear()


def client() -> Any:
    return boto3.client("service-quotas", region_name=REGION)


@pytest.mark.parametrize(
    ("configured", "quota", "limit"),
    [
        (None, None, None),  # neither: no account limit
        (6.0, None, 6.0),  # not readable: the configured value
        (None, 256.0, 256.0),  # read: the quota
        (500.0, 256.0, 256.0),  # configured above the quota: the quota
        (100.0, 256.0, 100.0),  # configured below: leaves room for the account's others
    ],
)
def test_effective_vcpu_limit(configured: float | None, quota: float | None, limit: Any) -> None:
    assert effective_vcpu_limit(configured, quota) == limit


def test_the_fargate_quota_is_read_by_its_codes() -> None:
    assert (FARGATE_SERVICE_CODE, FARGATE_ON_DEMAND_VCPU_QUOTA) == ("fargate", "L-3032A538")
    sq = client()
    with Stubber(sq) as stub:
        stub.add_response("get_service_quota", QUOTA_ANSWER, EXPECTED)
        assert read_quota(sq, "fargate", "L-3032A538") == 256.0
        stub.assert_no_pending_responses()


def test_access_denied_falls_back_with_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    sq = client()
    with Stubber(sq) as stub, caplog.at_level(logging.WARNING):
        stub.add_client_error("get_service_quota", "AccessDeniedException", http_status_code=400)
        assert read_quota(sq, "fargate", "L-3032A538") is None
    assert "AccessDeniedException" in caplog.text
    assert "using the configured account limit" in caplog.text


def test_no_network_falls_back(caplog: pytest.LogCaptureFixture) -> None:
    unreachable = boto3.client(
        "service-quotas",
        region_name=REGION,
        endpoint_url="http://127.0.0.1:9",  # nothing listens on the discard port
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=1),
    )
    with caplog.at_level(logging.WARNING):
        assert read_quota(unreachable, "fargate", "L-3032A538") is None
    assert "using the configured account limit" in caplog.text


def test_on_moto_an_unknown_quota_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto answers GetServiceQuota for VPC quotas only: a NoSuchResourceException here."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        assert fargate_vcpu_quota() is None


def test_read_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    sq = client()
    stub = Stubber(sq)
    stub.add_response("get_service_quota", QUOTA_ANSWER, EXPECTED)
    stub.activate()

    def new_client(region: str = "") -> Any:
        calls.append(region)
        return sq

    monkeypatch.setattr(service_quotas, "new_service_quotas_client", new_client)
    assert fargate_vcpu_quota() == 256.0
    assert fargate_vcpu_quota() == 256.0  # cached: the stub had one answer only
    assert len(calls) == 1


def test_the_budget_reads_the_quota_once_when_a_lease_is_first_taken() -> None:
    reads: list[int] = []

    def quota() -> float | None:
        reads.append(1)
        return 6.0

    budget = SharedLaunchBudget(
        MemoryStore(), AccountLimits(max_vcpus=10.0, rate_per_s=1e3, burst=1e3), vcpu_quota=quota
    )
    budget.release("nothing")  # the status handler's give-back never reads the quota
    budget.repair(set(), set())
    assert reads == []
    waits: list[str] = []
    assert budget.acquire("t1", "g", 4.0)
    assert not budget.acquire("t2", "g", 4.0, stop=lambda: bool(waits), on_wait=waits.append)
    assert waits == ["waiting: the account has 4 of 6 vCPUs in flight"]
    assert reads == [1]
    assert budget.account.max_vcpus == 6.0


def test_a_quota_that_cannot_be_read_leaves_the_configured_limit() -> None:
    budget = SharedLaunchBudget(
        MemoryStore(), AccountLimits(max_vcpus=10.0), vcpu_quota=lambda: None
    )
    assert budget.account.max_vcpus == 10.0


def test_the_deployments_budget_takes_the_quota_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINIWDL_FARGATE_ACCOUNT_MAX_VCPUS", "500")

    def spec(run_id: str) -> TaskSpec:
        return TaskSpec(run_id=run_id, role="orchestrator", command=["true"])

    ports = group_ports(MemoryStore(), spec, vcpu_quota=lambda: 256.0)
    assert ports["budget"].account.max_vcpus == 256.0
