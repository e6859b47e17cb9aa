"""Reading the log and output locations the WES API returns: its own log URLs (read with the
client's credentials), a presigned URL, a local path or ``file://``, or an ``s3://`` URI (read
with boto3)."""

from __future__ import annotations

import os
import urllib.parse
import urllib.request
from collections.abc import Iterator

from .wes_http import (
    USER_AGENT,
    LocationError,
    WesClient,
    WesError,
    _NoRedirect,
    _open_location,
)


def read_location(location: str, *, tail_bytes: int | None = None) -> bytes:
    """The content at a location the API gave: an ``http(s)://`` URL (the API's log URLs), a
    local path, ``file://`` or ``s3://``.

    With ``tail_bytes``, only that many bytes from the end (an S3 ranged read).
    """
    return b"".join(stream_location(location, tail_bytes=tail_bytes))


def stream_location(
    location: str,
    *,
    tail_bytes: int | None = None,
    chunk_size: int = 1 << 16,
    offset: int = 0,
) -> Iterator[bytes]:
    """The content at a location, in chunks (see ``read_location``); from byte ``offset`` on,
    if given (a log followed as it grows)."""
    if offset and tail_bytes is not None:
        raise ValueError("give offset or tail_bytes, not both")
    parsed = urllib.parse.urlsplit(location)
    if parsed.scheme == "s3":
        yield from _stream_s3(
            parsed.netloc, parsed.path.lstrip("/"), tail_bytes, chunk_size, offset
        )
        return
    if parsed.scheme in ("http", "https"):
        yield from _stream_http(location, tail_bytes, chunk_size, offset)
        return
    if parsed.scheme == "file":
        path = urllib.parse.unquote(parsed.path)
    elif os.path.isabs(location):
        path = location
    else:
        raise LocationError(f"cannot read {location} from here")
    try:
        with open(path, "rb") as f:
            if tail_bytes is not None:
                f.seek(max(0, os.fstat(f.fileno()).st_size - tail_bytes))
            elif offset:
                f.seek(offset)
            while chunk := f.read(chunk_size):
                yield chunk
    except OSError as exn:
        raise LocationError(f"cannot read {location}: {exn.strerror or exn}") from None


def _stream_http(
    location: str, tail_bytes: int | None, chunk_size: int, offset: int = 0
) -> Iterator[bytes]:
    """A log URL: through the API's client (its credentials) when it is one of the API's
    (``MINIWDL_FARGATE_API``), else a plain GET (a presigned URL)."""
    try:
        client = WesClient.from_environment()
    except WesError as exn:
        raise LocationError(f"cannot read {location}: {exn}") from None
    if client is not None and client.owns(location):
        yield from client.stream_url(
            location, tail_bytes=tail_bytes, chunk_size=chunk_size, start=offset
        )
        return
    headers = {"Range": f"bytes=-{tail_bytes}"} if tail_bytes is not None else {}
    if offset:
        headers = {"Range": f"bytes={offset}-"}
    request = urllib.request.Request(location, headers={"User-Agent": USER_AGENT, **headers})
    with _open_location(urllib.request.build_opener(_NoRedirect()), request, location) as resp:
        if resp is not None:
            if offset and resp.status != 206:
                resp.read(offset)  # the whole object came back, not the range asked for
            yield from iter(lambda: resp.read(chunk_size), b"")


def _stream_s3(
    bucket: str, key: str, tail_bytes: int | None, chunk_size: int, offset: int = 0
) -> Iterator[bytes]:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    kwargs = {"Bucket": bucket, "Key": key}
    if tail_bytes is not None:
        kwargs["Range"] = f"bytes=-{tail_bytes}"
    elif offset:
        kwargs["Range"] = f"bytes={offset}-"
    try:
        body = boto3.client("s3").get_object(**kwargs)["Body"]
        yield from body.iter_chunks(chunk_size)
    except ClientError as exn:
        code = exn.response.get("Error", {}).get("Code", "")
        if code == "InvalidRange":  # an empty object has no last bytes; nothing past the end
            return
        raise LocationError(f"cannot read s3://{bucket}/{key}: {exn}") from None
    except BotoCoreError as exn:
        raise LocationError(f"cannot read s3://{bucket}/{key}: {exn}") from None
