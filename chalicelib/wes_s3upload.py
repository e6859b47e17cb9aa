"""The ``s3upload`` engine parameter (``--s3upload``, as miniwdl-aws-submit): a run's results,
outputs and logs, copied to the user's own S3 prefix as well as to the deployment's
``results/RUN/``.

The orchestrator wraps its objects store: every result object of the run it writes is written to
the user's prefix too, under the same name relative to ``results/RUN/``. Whether the deployment
may write there was checked before launch (``wes_engine_parameters.upload_refusal``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .objects import ObjectStore, result_key
from .s3_objects import S3Objects
from .wes_engine_parameters import upload_destination


class UploadingObjects:
    """An objects store that also copies one run's result objects to another store."""

    def __init__(self, inner: ObjectStore, copy: ObjectStore, run_id: str) -> None:
        self.inner = inner
        self.copy = copy
        self.results = result_key(run_id, "")

    def _copied(self, key: str) -> str | None:
        return key[len(self.results) :] if key.startswith(self.results) else None

    def put_bytes(self, key: str, data: bytes) -> str:
        location = self.inner.put_bytes(key, data)
        relative = self._copied(key)
        if relative:
            self.copy.put_bytes(relative, data)
        return location

    def put_file(self, key: str, path: str) -> str:
        location = self.inner.put_file(key, path)
        relative = self._copied(key)
        if relative:
            self.copy.put_file(relative, path)
        return location

    def get_bytes(self, key: str) -> bytes:
        return self.inner.get_bytes(key)

    def get_file(self, key: str, path: str) -> None:
        self.inner.get_file(key, path)

    def location(self, key: str) -> str:
        return self.inner.location(key)


def with_s3upload(
    objects: ObjectStore,
    options: Mapping[str, Any],
    run_id: str,
    s3_client: Any = None,
) -> ObjectStore:
    """``objects``, copying the run's results to its ``s3upload`` prefix if it has one."""
    uri = options.get("s3upload")
    if not uri:
        return objects
    bucket, prefix = upload_destination(str(uri), run_id)
    if s3_client is None:
        import boto3

        s3_client = boto3.client("s3")
    return UploadingObjects(objects, S3Objects(s3_client, bucket, prefix), run_id)
