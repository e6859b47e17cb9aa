"""Build WES ``POST /runs`` multipart bodies for the tests (independently of the CLI's
encoder, so the two check each other)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

BASE = "/ga4gh/wes/v1"


def multipart(
    fields: Mapping[str, str], files: Mapping[str, bytes] | None = None
) -> tuple[dict[str, str], bytes]:
    """(headers, body) of a multipart/form-data request."""
    boundary = uuid.uuid4().hex
    body = b""
    for name, value in fields.items():
        body += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        ).encode()
    for filename, data in (files or {}).items():
        body += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="workflow_attachment";'
                f' filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
            ).encode()
            + data
            + b"\r\n"
        )
    body += f"--{boundary}--\r\n".encode()
    return {"Content-Type": f"multipart/form-data; boundary={boundary}"}, body


def post_run(
    client: Any,
    fields: Mapping[str, str],
    files: Mapping[str, bytes] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Any:
    """``POST /runs`` through a ``chalice.test.Client``; returns its response."""
    form_headers, body = multipart(fields, files)
    return client.http.post(f"{BASE}/runs", headers={**form_headers, **(headers or {})}, body=body)
