"""The run report in a real headless browser (Debian's ``chromium``; ``make test`` installs it).

A tiny DevTools client over ``--remote-debugging-pipe`` (stdlib only) loads the page, collects
console errors, exceptions and log errors (a blocked fetch, a CSP violation), counts the
timeline's bars, times the load and keeps a screenshot under pytest's temporary directory.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from chalicelib.records import RunRecord, TaskRecord
from chalicelib.report import ReportData, render
from chalicelib.states import State

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="chromium is not installed (make test installs Debian's chromium package)",
)


@dataclass
class Page:
    bars: int
    errors: list[str]
    load_ms: float
    screenshot: Path
    text: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)
    # each phase's bars drawn ("queued": ...), and whether the run's own row is there
    phases: dict[str, int] = field(default_factory=dict)
    run_row: bool = False


class DevTools:
    """Chrome DevTools Protocol over the pipe: JSON messages ending in NUL, on fds 3 and 4."""

    def __init__(self, profile: Path) -> None:
        if CHROMIUM is None:
            raise RuntimeError("no chromium on PATH: apt-get install chromium")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # the child's fds 3 and 4 must be these: dup them there before exec
        self.proc = subprocess.Popen(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-extensions",
                "--no-first-run",
                "--remote-debugging-pipe",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(3, 4),
            preexec_fn=lambda: _onto_3_and_4(to_browser_r, from_browser_w),
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read(timeout=30)
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        for event in self.events:
            if event.get("method") == method:
                return event
        while time.monotonic() < deadline:
            event = self._read(timeout=deadline - time.monotonic())
            self.events.append(event)
            if event.get("method") == method:
                return event
        raise TimeoutError(method)

    def _read(self, timeout: float) -> dict[str, Any]:
        import select

        deadline = time.monotonic() + timeout
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise TimeoutError("no answer from chromium")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed its pipe")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        loaded: dict[str, Any] = json.loads(message)
        return loaded

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):
            self.send("Browser.close")
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)


def _onto_3_and_4(reads: int, writes: int) -> None:
    """In the child before exec: the pipe ends where Chrome looks for them (fds 3 and 4)."""
    spare_r, spare_w = os.dup(reads), os.dup(writes)  # in case either already is 3 or 4
    os.dup2(spare_r, 3)
    os.dup2(spare_w, 4)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevTools]:
    tools = DevTools(tmp_path_factory.mktemp("chromium-profile"))
    yield tools
    tools.close()


def load(tools: DevTools, page: Path, screenshot: Path) -> Page:
    """Open ``page`` in a new tab; what it showed, its errors and a full-page screenshot."""
    target = tools.send("Target.createTarget", url="about:blank")["targetId"]
    session = tools.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    for domain in ("Runtime", "Log", "Page", "Network"):
        tools.send(f"{domain}.enable", session)
    tools.events.clear()
    tools.send("Page.navigate", session, url=page.as_uri())
    tools.wait_for("Page.loadEventFired")

    def evaluate(expression: str) -> Any:
        return tools.send("Runtime.evaluate", session, expression=expression, returnByValue=True)[
            "result"
        ]["value"]

    bars = evaluate("document.querySelectorAll('svg g.attempt').length")
    phases = {
        phase: int(evaluate(f"document.querySelectorAll('svg g.attempt rect.{phase}').length"))
        for phase in ("queued", "provisioning", "pull", "running")
    }
    run_row = bool(evaluate("document.querySelectorAll('svg g.run rect').length"))
    load_ms = evaluate(
        "(() => { const n = performance.getEntriesByType('navigation')[0];"
        " return n.loadEventEnd - n.startTime; })()"
    )
    text = evaluate("document.body.innerText")
    shot = tools.send("Page.captureScreenshot", session, format="png", captureBeyondViewport=True)
    screenshot.write_bytes(base64.b64decode(shot["data"]))
    errors = []
    for event in tools.events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            errors.append(json.dumps(params.get("exceptionDetails", {}))[:300])
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append(json.dumps(params.get("args", []))[:300])
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            errors.append(str(params["entry"].get("text"))[:300])
    tools.send("Target.closeTarget", targetId=target)
    return Page(
        int(bars),
        errors,
        float(load_ms),
        screenshot,
        str(text),
        list(tools.events),
        phases,
        run_row,
    )


def stamp(seconds: float) -> str:
    whole = int(seconds)
    return f"2024-05-01T12:{whole // 60:02}:{whole % 60:02}.{int(seconds * 1000) % 1000:03}Z"


def run_record(state: State = State.EXECUTOR_ERROR) -> RunRecord:
    return RunRecord(
        run_id="20240501-120000-abcdef12",
        state=state,
        created_at=stamp(0),
        updated_at=stamp(50),
        workflow_name="align <script>alert(1)</script>",
        workflow_key="k",
        inputs_key="i",
        start_time=stamp(1),
        end_time=stamp(50),
        error={"message": "call-sort failed: its command exited with status 137"},
        tags={"project": "p1"},
        group="lab-a",
        admitted_at=stamp(0.5),
    )


def task(i: int, call: str, state: State, start: float, **fields: Any) -> TaskRecord:
    return TaskRecord(
        task_id=f"t{i}",
        run_id="20240501-120000-abcdef12",
        state=state,
        updated_at=stamp(start + 10),
        call_id=call,
        cpu="1024",
        memory="2048",
        requested_at=stamp(start),  # queued until launched: half a second
        created_at=stamp(start + 0.5),
        pull_started_at=stamp(start + 1),
        started_at=stamp(start + 2),
        stopped_at=stamp(start + 10),
        **fields,
    )


def sample_tasks() -> list[TaskRecord]:
    usage = {"peak_memory_mib": 400.0, "cpu_seconds": 4.0, "seconds": 8.0}
    return [
        task(1, "call-align-0", State.COMPLETE, 2, usage=usage, exit_code=0),
        task(2, "call-align-1", State.COMPLETE, 3, usage=usage, exit_code=0),
        task(3, "call-sort", State.PREEMPTED, 5, stop_code="SpotInterruption"),
        task(
            4,
            "call-sort",
            State.EXECUTOR_ERROR,
            16,
            attempt=2,
            exit_code=137,
            stopped_reason="OutOfMemoryError: Container killed due to memory usage",
            usage={"peak_memory_mib": 2040.0, "cpu_seconds": 7.0, "seconds": 8.0},
        ),
    ]


def test_the_report_renders_without_errors_one_bar_per_attempt(
    browser: DevTools, tmp_path: Path
) -> None:
    from chalicelib.cost import CacheHit, Cost

    tasks = sample_tasks()
    data = ReportData(
        run=run_record(),
        tasks=tasks,
        cache_hits=[CacheHit("call-index", Cost(usd=0.02))],
        stderr_tails={"t4": "sorting...\nKilled <b>bold</b>"},
    )
    page = tmp_path / "report.html"
    page.write_text(render(data, stamp(55)), encoding="utf-8")
    shown = load(browser, page, tmp_path / "report.png")
    print(f"\nreport screenshot: {shown.screenshot}")
    assert shown.errors == []
    assert shown.bars == len(tasks)
    # every attempt's queued, provisioning, pull and running phases, and the run's own row
    assert shown.phases == {p: len(tasks) for p in ("queued", "provisioning", "pull", "running")}
    assert shown.run_row
    assert shown.screenshot.stat().st_size > 10_000
    # the user's text is shown as text, never run
    assert "<script>alert(1)</script>" in shown.text and "Killed <b>bold</b>" in shown.text
    for expected in ("call-align", "Wasted: oom-killed attempts", "cache hit", "Rightsizing"):
        assert expected in shown.text


def test_the_console_check_catches_errors_and_nothing_is_fetched(
    browser: DevTools, tmp_path: Path
) -> None:
    """The check above would see an error: here a page that tries the network (refused by the
    report's own Content-Security-Policy) and a script error."""
    html = render(ReportData(run=run_record(State.COMPLETE), tasks=[]), stamp(55))
    broken = html.replace(
        "</body>",
        '<img src="http://127.0.0.1:9/x.png"><script>undefined_function()</script></body>',
    )
    page = tmp_path / "broken.html"
    page.write_text(broken, encoding="utf-8")
    shown = load(browser, page, tmp_path / "broken.png")
    assert shown.errors, "a blocked fetch and a blocked script must show as errors"
    assert any("Content Security Policy" in e for e in shown.errors)
    fetched = [
        e["params"]["request"]["url"]
        for e in shown.events
        if e.get("method") == "Network.requestWillBeSent"
        and not e["params"]["request"]["url"].startswith("file:")
    ]
    answered = [e for e in shown.events if e.get("method") == "Network.responseReceived"]
    assert all(e["params"]["response"]["url"].startswith("file:") for e in answered), fetched


def test_a_thousand_attempts_open_in_under_two_seconds(browser: DevTools, tmp_path: Path) -> None:
    usage = {"peak_memory_mib": 300.0, "cpu_seconds": 1.0, "seconds": 8.0}
    tasks = [
        task(i, f"call-shard-{i}", State.COMPLETE, (i % 600) / 20, usage=usage, exit_code=0)
        for i in range(1000)
    ]
    started = time.monotonic()
    html = render(ReportData(run=run_record(State.COMPLETE), tasks=tasks), stamp(59))
    render_seconds = time.monotonic() - started
    page = tmp_path / "large.html"
    page.write_text(html, encoding="utf-8")
    shown = load(browser, page, tmp_path / "large.png")
    print(f"\n1000 attempts: rendered in {render_seconds:.2f}s, loaded in {shown.load_ms:.0f} ms")
    assert shown.errors == [] and shown.bars == 1000 and shown.phases["queued"] == 1000
    assert shown.load_ms < 2000 and render_seconds < 2
    assert "call-shard" in shown.text and shown.text.count("call-shard-") < 1100  # shards grouped
