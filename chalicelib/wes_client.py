"""A small client of the project's GA4GH WES API, for the CLI (``MINIWDL_FARGATE_API``).

Three parts, each in its own module and usable alone, gathered here under one name:

- ``wes_http``: ``WesClient``, typed calls to the API's routes, SigV4-signed for API Gateway
  unless the API is on this machine; one-line ``WesError``s.
- ``wes_package``: ``package_run`` turns a local WDL file and ``miniwdl run``-style inputs into a
  WES run request whose attachments carry every local file; ``encode_multipart`` its body.
- ``wes_locations``: ``read_location``/``stream_location`` read the log locations the API
  returns (its own log URLs, a presigned URL, a local path, or ``s3://``).
"""

from __future__ import annotations

from .wes_http import (
    ENV_API,
    ENV_API_AUTH,
    ENV_API_TOKEN,
    LOOPBACK_HOSTS,
    TERMINAL_STATES,
    USER_AGENT,
    WES_BASE_PATH,
    LocationError,
    Log,
    RunLog,
    RunSummary,
    TaskLog,
    WesClient,
    WesConnectionError,
    WesError,
    _error_message,
    region_from_host,
    should_sign,
)
from .wes_locations import read_location, stream_location
from .wes_package import (
    Attachment,
    RunRequest,
    RunRequestError,
    encode_multipart,
    package_run,
    wdl_type_version,
)

__all__ = [
    "ENV_API",
    "ENV_API_AUTH",
    "ENV_API_TOKEN",
    "LOOPBACK_HOSTS",
    "TERMINAL_STATES",
    "USER_AGENT",
    "WES_BASE_PATH",
    "Attachment",
    "LocationError",
    "Log",
    "RunLog",
    "RunRequest",
    "RunRequestError",
    "RunSummary",
    "TaskLog",
    "WesClient",
    "WesConnectionError",
    "WesError",
    "_error_message",
    "encode_multipart",
    "package_run",
    "read_location",
    "region_from_host",
    "should_sign",
    "stream_location",
    "wdl_type_version",
]
