"""The AWS objects adapter: request and result objects in an S3 bucket, under a key prefix.

It behaves like ``DirectoryObjects`` so callers need not care which one they hold: keys are
validated and normalised the same way (no empty, absolute or escaping keys; ``a//b`` and ``a/b``
name one object), and a missing object raises ``FileNotFoundError``, not a botocore error.
Files go through boto3's managed transfers, which switch to parallel multipart uploads and
ranged downloads for large outputs.
"""

from __future__ import annotations

import posixpath
from typing import Any, NoReturn

from botocore.exceptions import ClientError

# Error codes S3 uses for an absent object: GetObject says NoSuchKey, HeadObject (which the
# managed download starts with) has no body, so botocore reports the bare status code.
_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


def _normalise_key(key: str) -> str:
    """The canonical form of an object key; ValueError if it is empty, absolute or escapes."""
    if not key or key.startswith("/"):
        raise ValueError(f"invalid object key {key!r}: must be a non-empty relative path")
    normal = posixpath.normpath(key)
    if normal == "." or normal == ".." or normal.startswith("../"):
        raise ValueError(f"invalid object key {key!r}: must name an object under the root")
    return normal


class S3Objects:
    """AWS adapter: objects are ``s3://<bucket>/<prefix>/<key>``."""

    def __init__(self, s3_client: Any, bucket: str, prefix: str = "") -> None:
        self.client = s3_client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def _key(self, key: str) -> str:
        normal = _normalise_key(key)
        return f"{self.prefix}/{normal}" if self.prefix else normal

    def _missing(self, key: str, exn: ClientError) -> NoReturn:
        raise FileNotFoundError(f"no object {self.location(key)}") from exn

    def location(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def put_bytes(self, key: str, data: bytes) -> str:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        return self.location(key)

    def put_file(self, key: str, path: str) -> str:
        self.client.upload_file(path, self.bucket, self._key(key))
        return self.location(key)

    def get_bytes(self, key: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exn:
            if _error_code(exn) in _MISSING_CODES:
                self._missing(key, exn)
            raise
        with response["Body"] as body:
            data: bytes = body.read()
        return data

    def get_file(self, key: str, path: str) -> None:
        try:
            self.client.download_file(self.bucket, self._key(key), path)
        except ClientError as exn:
            if _error_code(exn) in _MISSING_CODES:
                self._missing(key, exn)
            raise


def read_s3_uri(objects: S3Objects, uri: str) -> bytes:
    """An ``s3://BUCKET/KEY`` object of the deployment's own bucket (the only one its roles may
    read); ``PermissionError`` for any other bucket, ``FileNotFoundError`` if absent."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    prefix = objects.prefix + "/" if objects.prefix else ""
    if bucket != objects.bucket or not key.startswith(prefix) or key == prefix:
        raise PermissionError(
            f"{uri}: workflows can be read from s3://{objects.bucket}/{prefix} only (or attached)"
        )
    return objects.get_bytes(key.removeprefix(prefix))


def _error_code(exn: ClientError) -> str:
    code: str = exn.response.get("Error", {}).get("Code", "")
    return code
