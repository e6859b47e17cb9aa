"""The AWS notifier adapter: notifications become events on an EventBridge bus (PutEvents).

PutEvents takes at most 10 entries per call and can accept some entries of a call while
rejecting others (``FailedEntryCount``, an ``ErrorCode`` per entry), for example when throttled.
The ``Notifier`` contract is "never lose one silently", so rejected entries are re-sent a few
times with a short backoff, and ``NotificationError`` is raised if some are still rejected.
Entries EventBridge would refuse outright (over 256 KiB) are refused before anything is sent.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .notifications import SOURCE, Notification

MAX_ENTRIES_PER_CALL = 10
MAX_ENTRY_BYTES = 256 * 1024
# The request as a whole has a size limit too; keeping each call's entries under one entry's
# limit is safe whatever the request limit, and costs an extra call only for huge details.
MAX_CALL_BYTES = 256 * 1024


class NotificationError(Exception):
    """Some notifications could not be published; ``error_codes`` are EventBridge's reasons."""

    def __init__(self, message: str, error_codes: Sequence[str]) -> None:
        super().__init__(message)
        self.error_codes = tuple(error_codes)


def entry_size(entry: dict[str, Any]) -> int:
    """An entry's size as EventBridge counts it (UTF-8 bytes of its fields; Time is 14)."""
    size = 14 if "Time" in entry else 0
    for name in ("Source", "DetailType", "Detail"):
        size += len(str(entry.get(name, "")).encode("utf-8"))
    size += sum(len(resource.encode("utf-8")) for resource in entry.get("Resources", ()))
    return size


class EventBridgeNotifier:
    """Publishes notifications as events with ``source`` on the bus ``bus_name``."""

    def __init__(
        self,
        events_client: Any,
        bus_name: str,
        source: str = SOURCE,
        *,
        max_retries: int = 3,
        backoff_seconds: float = 0.1,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.client = events_client
        self.bus_name = bus_name
        self.source = source
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self.sleep = sleep

    def publish(self, notifications: Sequence[Notification]) -> None:
        entries = [self._entry(n) for n in notifications]  # all checked before any is sent
        for batch in _batches(entries):
            self._put(batch)

    def _entry(self, notification: Notification) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "Source": self.source,
            "DetailType": notification.detail_type,
            "Detail": json.dumps(notification.detail),
            "EventBusName": self.bus_name,
        }
        size = entry_size(entry)
        if size > MAX_ENTRY_BYTES:
            raise ValueError(
                f"{notification.detail_type!r} notification is {size} bytes; "
                f"EventBridge accepts at most {MAX_ENTRY_BYTES}"
            )
        return entry

    def _put(self, entries: list[dict[str, Any]]) -> None:
        """Send one batch; re-send rejected entries until accepted or out of retries."""
        codes: list[str] = []
        for attempt in range(self.max_retries + 1):
            if attempt:
                self.sleep(self.backoff_seconds * 2 ** (attempt - 1))
            response = self.client.put_events(Entries=entries)
            if not response.get("FailedEntryCount"):
                return
            # One result per request entry, in order; an accepted one has an EventId.
            results = response["Entries"]
            failed = [
                (entry, result)
                for entry, result in zip(entries, results, strict=True)
                if result.get("ErrorCode") or not result.get("EventId")
            ]
            if not failed:
                return
            entries = [entry for entry, _result in failed]
            codes = sorted({str(result.get("ErrorCode", "Unknown")) for _e, result in failed})
        raise NotificationError(
            f"EventBridge rejected {len(entries)} notification(s) on bus {self.bus_name!r} "
            f"after {self.max_retries + 1} attempts: {', '.join(codes)}",
            codes,
        )


def _batches(entries: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Consecutive runs of at most ``MAX_ENTRIES_PER_CALL`` entries and ``MAX_CALL_BYTES``."""
    batch: list[dict[str, Any]] = []
    batch_bytes = 0
    for entry in entries:
        size = entry_size(entry)
        if batch and (len(batch) == MAX_ENTRIES_PER_CALL or batch_bytes + size > MAX_CALL_BYTES):
            yield batch
            batch, batch_bytes = [], 0
        batch.append(entry)
        batch_bytes += size
    if batch:
        yield batch
