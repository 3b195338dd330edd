"""A soak run: mixed HTTP, WebSocket echo and group traffic against a ``Stack`` for a while.

Used by ``tests/reliability/test_soak.py`` (a short run in CI) and by
``benchmarks/soak.py`` (the long one). ``run_soak`` samples daphne's and the
workers' RSS during the run and counts the test's Redis keys before and
after, and returns everything in a ``SoakReport``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import redis as redis_py
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.support.load import HttpLoad, WsEchoLoad
from tests.support.stack import Stack, rss_kib

__all__ = ["SoakReport", "run_soak"]


@dataclass
class SoakReport:
    seconds: float
    http_requests: int = 0
    http_failures: list = field(default_factory=list)
    ws_echoes: int = 0
    ws_dropped: list = field(default_factory=list)
    group_sent: int = 0
    group_received: list[int] = field(default_factory=list)
    group_errors: list[str] = field(default_factory=list)
    rss_kib: dict[str, list[int]] = field(default_factory=dict)
    keys_before: int = 0
    keys_peak: int = 0
    keys_after: int = 0

    def summary(self) -> str:
        rss = ", ".join(
            f"{name} {samples[0]}->{samples[-1]} KiB (max {max(samples)})"
            for name, samples in self.rss_kib.items()
        )
        return (
            f"soak {self.seconds:.0f}s: {self.http_requests} HTTP ({len(self.http_failures)} failed), "
            f"{self.ws_echoes} WS echoes ({len(self.ws_dropped)} dropped), group {self.group_sent} "
            f"sent, received {self.group_received}; RSS {rss}; Redis keys "
            f"{self.keys_before} -> {self.keys_after} (at most {self.keys_peak} during the run)"
        )


class _GroupMember:
    """A WebSocket in the ``room`` group: sends now and then, counts every broadcast."""

    def __init__(self, url: str, name: str) -> None:
        self._connection = connect(f"{url}/group/{name}/", open_timeout=30)
        self.ws = self._connection.__enter__()
        self.received = 0
        self.sent = 0
        self.error: str | None = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            while True:
                self.ws.recv()
                self.received += 1
        except ConnectionClosed:
            pass
        except Exception as exc:  # noqa: BLE001 - reported by the soak
            self.error = repr(exc)

    def send(self) -> None:
        self.ws.send(f"group {self.sent}")
        self.sent += 1

    def close(self) -> None:
        self._connection.__exit__(None, None, None)
        self._reader.join(30)


def _count_keys(client: redis_py.Redis, prefix: str) -> int:
    return sum(1 for _ in client.scan_iter(match=prefix + "*", count=1000))


def run_soak(stack: Stack, redis_url: str, seconds: float, sample_every: float = 2.0) -> SoakReport:
    """Drive ``stack`` for ``seconds``; stop the traffic and let it drain; report."""
    report = SoakReport(seconds=seconds)
    client = redis_py.Redis.from_url(redis_url)
    processes = [stack.daphne, *stack.workers]
    report.rss_kib = {p.name: [] for p in processes}
    report.keys_before = _count_keys(client, stack.prefix)

    http = HttpLoad(stack.url + "/hello/", threads=2, pause=0.01).start()
    echo = WsEchoLoad(stack.ws_url, clients=4, interval=0.02, tag="soak").start()
    members = [_GroupMember(stack.ws_url, f"m{n}") for n in range(3)]
    time.sleep(0.5)  # every member joined before the first broadcast
    deadline = time.monotonic() + seconds
    next_sample = time.monotonic()
    while time.monotonic() < deadline:
        for member in members:
            member.send()
        if time.monotonic() >= next_sample:
            for process in processes:
                report.rss_kib[process.name].append(rss_kib(process.pid))
            report.keys_peak = max(report.keys_peak, _count_keys(client, stack.prefix))
            next_sample += sample_every
        time.sleep(0.1)

    report.http_failures = http.failures()
    report.http_requests = len(http.stop())
    records = echo.stop()
    report.ws_echoes = sum(r.echoed for r in records)
    report.ws_dropped = echo.dropped()
    report.group_sent = sum(m.sent for m in members)
    drain = time.monotonic() + 30
    while time.monotonic() < drain and any(m.received < report.group_sent for m in members):
        time.sleep(0.1)
    for member in members:
        member.close()
    report.group_received = [m.received for m in members]
    report.group_errors = [m.error for m in members if m.error]
    for process in processes:
        report.rss_kib[process.name].append(rss_kib(process.pid))
    settle = time.monotonic() + 30
    while time.monotonic() < settle:
        report.keys_after = _count_keys(client, stack.prefix)
        if report.keys_after <= report.keys_before:
            break
        time.sleep(0.5)
    client.close()
    return report
