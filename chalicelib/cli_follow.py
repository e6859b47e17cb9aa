"""Following a run live: its log as ``tail -f`` shows it (``--follow``), and its status redrawn
(``status --watch``), through any ``RunService``.

A log is read from where the last read stopped (a byte offset: a local file, or the API's log
URL with a ``Range``), so what is shown is the log in order, each byte once; once the run has
ended, the log is read until it stops growing, so the end is shown too.
"""

from __future__ import annotations

import codecs
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

from .run_service import RunService
from .wes_http import TERMINAL_STATES, LocationError

# Once the run has ended, its log is read until it has not grown for this long: the orchestrator
# writes its last lines just after it records the outcome.
SETTLE_SECONDS = 1.0


class LogTail:
    """The bytes of one log location not shown yet, decoded as UTF-8 across reads."""

    def __init__(self, service: RunService, out: TextIO) -> None:
        self.service = service
        self.out = out
        self.offset = 0
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def pump(self, location: str | None) -> bool:
        """Show what the log at ``location`` gained since the last call; whether it grew."""
        if not location:
            return False
        try:
            data = b"".join(self.service.read(location, offset=self.offset))
        except LocationError:  # not written yet
            return False
        if not data:
            return False
        self.offset += len(data)
        self.out.write(self.decoder.decode(data))
        self.out.flush()
        return True

    def close(self) -> None:
        self.out.write(self.decoder.decode(b"", final=True))
        self.out.flush()


def follow(
    service: RunService,
    run_id: str,
    locate: Callable[[], str | None],
    out: TextIO,
    *,
    until: Callable[[], bool] | None = None,
) -> str:
    """Show the log ``locate`` names (asked again until it names one) as it grows, until the
    run has ended (or ``until`` says so) and the log has settled; returns the run's last
    state."""
    tail = LogTail(service, out)
    location: str | None = None
    while True:
        state = service.state(run_id)
        ended = state in TERMINAL_STATES or (until is not None and until())
        if location is None:
            location = locate()
        grew = tail.pump(location)
        if ended:
            break
        if not grew:
            time.sleep(service.poll_interval)
    # A run that ended a while ago has a settled log; one that just ended gets its last lines.
    settle = SETTLE_SECONDS - (seconds_since(service.info(run_id).ended) or 0.0)
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < settle:
        if location is None:
            location = locate()
        if tail.pump(location):
            quiet_since = time.monotonic()
        else:
            time.sleep(min(0.1, SETTLE_SECONDS))
    tail.close()
    return state


def seconds_since(timestamp: str | None, now: datetime | None = None) -> float | None:
    """Seconds from an ISO 8601 UTC timestamp (the records' ``...Z``) to ``now``; None for
    none or one that does not parse (pure given ``now``)."""
    if not timestamp:
        return None
    try:
        then = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    return ((now or datetime.now(UTC)) - then).total_seconds()


def watch(
    service: RunService,
    run_id: str,
    describe: Callable[[], dict[str, Any]],
    out: TextIO,
    *,
    interval: float,
) -> None:
    """Redraw the run's status until it has ended: in place on a terminal, else once per
    change."""
    last = ""
    tty = out.isatty()
    while True:
        shown = describe()
        text = json.dumps(shown, indent=2)
        if text != last:
            out.write(("\033[H\033[J" if tty else "") + text + "\n")
            out.flush()
            last = text
        if shown.get("state") in TERMINAL_STATES:
            return
        time.sleep(interval)
