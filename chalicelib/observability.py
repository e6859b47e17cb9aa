"""Structured logging for the Lambdas: Powertools' Logger, with the run id as correlation.

Chalice's handlers are not plain Lambda handlers, so ``inject_lambda_context`` does not fit;
the app's middleware calls ``invocation`` instead, which adds the request's context and clears
it again afterwards (a Lambda container serves many invocations, and keys must not leak from
one to the next). ``chalicelib``'s own loggers log through the same JSON formatter.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

SERVICE = "miniwdl-fargate"

logger = Logger(service=SERVICE)
logging.getLogger("chalicelib")  # registered, so its module loggers propagate to its handler
copy_config_to_registered_loggers(source_logger=logger, include={"chalicelib"})


@contextmanager
def invocation(context: Any, **keys: Any) -> Iterator[None]:
    """Log with the Lambda request id and ``keys`` (e.g. the route) for one invocation."""
    request_id = getattr(context, "aws_request_id", None)
    logger.append_keys(request_id=request_id, **keys)
    try:
        yield
    finally:
        logger.clear_state()


def correlate(run_id: str) -> None:
    """From here to the end of the invocation, log lines carry ``run_id``."""
    if run_id:
        logger.append_keys(run_id=run_id)
        logger.set_correlation_id(run_id)
