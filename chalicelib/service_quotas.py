"""The account's Fargate vCPU quota, read from Service Quotas where the stack permits it.

The launch budget (``launch_budget``) keeps the vCPUs of every task container in flight under
the account's "Fargate On-Demand vCPU resource count" quota, so a task waits instead of failing
with "You've reached the limit on the number of vCPUs you can run concurrently". The quota is
read once per process, the first time a task takes a lease (one GetServiceQuota call per
orchestrator; the Lambdas, which only give leases back, never read it). A read that fails
(no permission, no route to the endpoint) falls back to the configured value
(``MINIWDL_FARGATE_ACCOUNT_MAX_VCPUS``), with a log line. A configured value lower than the
quota wins: it leaves room for the account's other Fargate users.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

log = logging.getLogger(__name__)

FARGATE_SERVICE_CODE = "fargate"
FARGATE_ON_DEMAND_VCPU_QUOTA = "L-3032A538"  # "Fargate On-Demand vCPU resource count"


def effective_vcpu_limit(configured: float | None, quota: float | None) -> float | None:
    """The account's vCPU limit (pure): the quota read, lowered by a configured value; the
    configured value alone if the quota could not be read; None (no limit) if neither."""
    if quota is None:
        return configured
    if configured is None:
        return quota
    return min(configured, quota)


def new_service_quotas_client(region: str = "") -> Any:
    """A Service Quotas client that gives up fast: botocore's standard retry mode (2 attempts)
    and short timeouts (an orchestrator without a route to the endpoint waits seconds, once)."""
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "max_attempts": 2}, connect_timeout=2, read_timeout=3
    )
    return boto3.client("service-quotas", region_name=region or None, config=config)


def read_quota(client: Any, service_code: str, quota_code: str) -> float | None:
    """The quota's applied value, or None (logged) if it cannot be read."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        answer = client.get_service_quota(ServiceCode=service_code, QuotaCode=quota_code)
        value = answer["Quota"]["Value"]
        return float(value)
    except (BotoCoreError, ClientError, KeyError, TypeError, ValueError) as exn:
        log.warning(
            "could not read the %s quota %s from Service Quotas (%s); using the configured"
            " account limit",
            service_code,
            quota_code,
            exn,
        )
        return None


@functools.cache
def fargate_vcpu_quota() -> float | None:
    """The account's Fargate On-Demand vCPU quota in this region, read once per process."""
    try:
        client = new_service_quotas_client()
    except Exception:  # no region configured, say: the configured value applies
        log.exception("no Service Quotas client; using the configured account limit")
        return None
    return read_quota(client, FARGATE_SERVICE_CODE, FARGATE_ON_DEMAND_VCPU_QUOTA)
