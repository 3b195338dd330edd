"""Steady HTTP and WebSocket traffic in background threads, recording every outcome.

``HttpLoad`` sends GET requests in a loop and keeps ``(started, seconds,
status or exception name)`` for each; ``WsEchoLoad`` keeps WebSocket clients
sending numbered frames and checking each echo, and records how each client's
connection ended; ``ChurnLoad`` opens short-lived WebSockets one after the
other and records which ones the client itself closed (and when), so the
disconnects daphne should have sent can be matched against those the
consumers saw. All stop when asked and are bounded by their timeouts, so a
test that forgets to stop them still ends.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import httpx
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

__all__ = ["ChurnLoad", "ChurnRecord", "HttpLoad", "HttpResult", "WsClientRecord", "WsEchoLoad"]


@dataclass
class HttpResult:
    started: float
    seconds: float
    outcome: int | str


class HttpLoad:
    """``threads`` loops of ``GET url``; ``results`` lists every request."""

    def __init__(self, url: str, threads: int = 2, timeout: float = 30, pause: float = 0.02):
        self.url = url
        self.timeout = timeout
        self.pause = pause
        self.results: list[HttpResult] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        with httpx.Client(timeout=self.timeout) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    outcome: int | str = client.get(self.url).status_code
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                self.results.append(HttpResult(started, time.monotonic() - started, outcome))
                time.sleep(self.pause)

    def start(self) -> HttpLoad:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> list[HttpResult]:
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 10)
        return self.results

    def failures(self) -> list[HttpResult]:
        return [r for r in self.results if r.outcome != 200]


@dataclass
class WsClientRecord:
    path: str
    sent: int = 0
    echoed: int = 0
    mismatches: list[str] = field(default_factory=list)
    closed: str | None = None  # None while open; the close code/reason or error otherwise


class WsEchoLoad:
    """``clients`` WebSockets on ``base/echo/<tag><n>/`` each sending a frame every ``interval``."""

    def __init__(
        self, base: str, clients: int = 4, interval: float = 0.05, tag: str = "c", prefix: str = ""
    ):
        self.base = base
        self.interval = interval
        self.prefix = prefix
        self.records = [WsClientRecord(f"/echo/{tag}{n}/") for n in range(clients)]
        self._stop = threading.Event()
        self._opened = threading.Barrier(clients + 1)
        self._threads = [
            threading.Thread(target=self._run, args=(r,), daemon=True) for r in self.records
        ]

    def _run(self, record: WsClientRecord) -> None:
        try:
            ws = connect(self.base + record.path, open_timeout=30, close_timeout=10)
        except Exception as exc:  # noqa: BLE001 - recorded for the assertion
            record.closed = f"open failed: {exc!r}"
            self._opened.wait(60)
            return
        self._opened.wait(60)
        with ws:
            try:
                while not self._stop.is_set():
                    text = f"{self.prefix}{record.path}:{record.sent}"
                    ws.send(text)
                    record.sent += 1
                    reply = ws.recv(timeout=30)
                    if reply != text:
                        record.mismatches.append(f"{text!r} -> {reply!r}")
                    record.echoed += 1
                    time.sleep(self.interval)
            except ConnectionClosed as exc:
                record.closed = f"closed {exc.rcvd.code if exc.rcvd else None}"
                return
            except TimeoutError:
                record.closed = "echo timeout"
                return
        record.closed = "closed by client"

    def start(self) -> WsEchoLoad:
        for thread in self._threads:
            thread.start()
        self._opened.wait(60)
        return self

    def stop(self) -> list[WsClientRecord]:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)
        return self.records

    def dropped(self) -> list[WsClientRecord]:
        """Clients whose socket ended other than by the client's own close, or lost an echo."""
        return [r for r in self.records if r.closed != "closed by client" or r.mismatches]


@dataclass
class ChurnRecord:
    path: str
    outcome: str = "open failed"
    closed_at: float | None = None  # monotonic time the client sent its close frame


class ChurnLoad:
    """``threads`` loops of: open ``base/echo/<tag><t>-<n>/``, one echo, close, pause."""

    def __init__(self, base: str, threads: int = 2, pause: float = 0.05, tag: str = "churn"):
        self.base = base
        self.pause = pause
        self.tag = tag
        self.records: list[ChurnRecord] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(threads)
        ]

    def _run(self, thread: int) -> None:
        count = 0
        while not self._stop.is_set():
            record = ChurnRecord(f"/echo/{self.tag}{thread}-{count}/")
            count += 1
            self.records.append(record)
            self._one(record)
            time.sleep(self.pause)

    def _one(self, record: ChurnRecord) -> None:
        try:
            ws = connect(self.base + record.path, open_timeout=10, close_timeout=10)
        except Exception as exc:  # noqa: BLE001 - recorded for the report
            record.outcome = f"open failed: {type(exc).__name__}"
            return
        with ws:  # leaving the block sends the client's close frame
            try:
                ws.send("churn")
                ws.recv(timeout=10)
                record.outcome = "closed by client"
            except ConnectionClosed as exc:
                record.outcome = f"closed by server {exc.rcvd.code if exc.rcvd else None}"
                return
            except TimeoutError:
                record.outcome = "echo timeout, closed by client"
            record.closed_at = time.monotonic()

    def start(self) -> ChurnLoad:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> list[ChurnRecord]:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)
        return self.records

    def client_closed(self) -> list[ChurnRecord]:
        """The sockets whose close the client sent: each owes the consumers a disconnect."""
        return [r for r in self.records if r.closed_at is not None]
