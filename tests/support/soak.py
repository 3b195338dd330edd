"""A soak run: mixed traffic against a ``Stack`` for a while, optionally under a chaos loop.

Used by ``tests/reliability/test_soak.py`` (short runs in CI) and by
``benchmarks/soak.py`` (the long one). The traffic: HTTP requests to a view,
WebSocket echo clients, group members broadcasting to each other, WebSocket
connect/close churn, and long-polls (requests whose consumer puts the reply
channel in a group that a releaser answers later; ``http.disconnect`` takes
it out again). ``run_soak`` samples every process's RSS, counts the test's
Redis keys before and after, matches the disconnects the clients sent with
those the consumers recorded, and returns everything in a ``SoakReport``.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import redis as redis_py
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.support.chaos import ChaosLoop
from tests.support.load import ChurnLoad, HttpLoad, WsEchoLoad
from tests.support.stack import Managed, Stack, rss_kib

__all__ = ["SoakReport", "run_soak"]

#: RSS growth allowed between warm-up and the end of the run (the issue's target).
RSS_GROWTH_LIMIT = 0.05


@dataclass
class LostDisconnect:
    path: str
    closed_at: float  # seconds since the run started
    where: str  # "outage", "worker-kill" or "outside"


@dataclass
class SoakReport:
    seconds: float
    http_requests: int = 0
    http_failures: list = field(default_factory=list)
    #: ``{"hello": {"200": n, "503": m, "ReadTimeout": k}, "longpoll": ..., "release": ...}``
    http_by_status: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Non-200 answers to requests started outside Redis outages and worker kills
    #: (margins included), per kind.
    http_failed_outside: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Non-200 answers per 10 s of the run (by the request's start), every kind together.
    http_failed_timeline: list[int] = field(default_factory=list)
    ws_echoes: int = 0
    ws_dropped: list = field(default_factory=list)
    group_sent: int = 0
    group_received: list[int] = field(default_factory=list)
    group_errors: list[str] = field(default_factory=list)
    churn_outcomes: dict[str, int] = field(default_factory=dict)
    disconnects_sent: int = 0
    disconnects_received: int = 0
    disconnects_lost: list[LostDisconnect] = field(default_factory=list)
    #: RSS samples (KiB) per process incarnation, ``"worker0 pid 123"``.
    rss_kib: dict[str, list[int]] = field(default_factory=dict)
    keys_before: int = 0
    keys_peak: int = 0
    keys_after: int = 0
    #: Up to ten of the keys still there at the end (with their TTLs), when above the baseline.
    keys_left: list[str] = field(default_factory=list)
    chaos_log: str = ""

    def lost(self, where: str) -> list[LostDisconnect]:
        return [lost for lost in self.disconnects_lost if lost.where == where]

    def rss_growth(self) -> dict[str, float]:
        """Growth (fraction) of each incarnation from its warm-up sample (a tenth of the
        way in, at least the second sample) to its last; incarnations with under 3 samples
        (a worker killed soon after its start) are left out."""
        growth = {}
        for name, samples in self.rss_kib.items():
            if len(samples) >= 3:
                warm = samples[max(1, len(samples) // 10)]
                growth[name] = (samples[-1] - warm) / warm
        return growth

    def targets(self) -> dict[str, bool]:
        """The issue's targets (no disconnect lost outside outages, RSS growth under 5 %
        after warm-up, Redis keys back to baseline), and every request answered 200
        outside outages and worker kills (service resumes after each)."""
        return {
            "HTTP all 200 outside Redis outages and worker kills": not any(
                self.http_failed_outside.values()
            ),
            "0 lost disconnects outside Redis outages": not self.lost("outside")
            and not self.lost("worker-kill"),
            "RSS growth under 5 % after warm-up": all(
                g < RSS_GROWTH_LIMIT for g in self.rss_growth().values()
            ),
            "Redis keys back to baseline": self.keys_after <= self.keys_before,
        }

    def summary(self) -> str:
        rss = ", ".join(
            f"{name} {samples[0]}->{samples[-1]} KiB (max {max(samples)})"
            for name, samples in self.rss_kib.items()
            if samples
        )
        return (
            f"soak {self.seconds:.0f}s: {self.http_requests} HTTP ({len(self.http_failures)} failed), "
            f"{self.ws_echoes} WS echoes ({len(self.ws_dropped)} dropped), group {self.group_sent} "
            f"sent, received {self.group_received}; disconnects {self.disconnects_sent} sent, "
            f"{self.disconnects_received} received; RSS {rss}; Redis keys "
            f"{self.keys_before} -> {self.keys_after} (at most {self.keys_peak} during the run)"
        )

    def report(self) -> str:
        """The full, multi-line report of the issue: counts, RSS, keys, chaos and targets."""
        lines = [f"Soak of {self.seconds:.0f} s", "", "HTTP requests by outcome:"]
        for kind, outcomes in self.http_by_status.items():
            counts = ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items()))
            lines.append(f"  {kind:<9} {counts}")
        outside = "; ".join(
            f"{kind} " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
            for kind, counts in self.http_failed_outside.items()
            if counts
        )
        lines += [
            f"  not 200 outside Redis outages and worker kills: {outside or 'none'}",
            "  not 200 per 10 s: " + " ".join(str(n) for n in self.http_failed_timeline),
            "",
            f"WebSocket echoes: {self.ws_echoes} ({len(self.ws_dropped)} clients dropped)",
            f"Group broadcasts: {self.group_sent} sent, received {self.group_received}",
            "Connect/close churn: "
            + ", ".join(f"{k}: {v}" for k, v in sorted(self.churn_outcomes.items())),
            f"WebSocket disconnects: {self.disconnects_sent} sent by clients, "
            f"{self.disconnects_received} received by consumers; lost during Redis outages "
            f"{len(self.lost('outage'))}, around worker kills {len(self.lost('worker-kill'))}, "
            f"elsewhere {len(self.lost('outside'))}",
        ]
        lines += [
            f"  lost {lost.where}: {lost.path} closed at {lost.closed_at:.1f}s"
            for lost in self.disconnects_lost
            if lost.where != "outage"
        ][:20]
        lines += ["", "RSS (KiB) at start -> end, growth after warm-up:"]
        growth = self.rss_growth()
        for name, samples in self.rss_kib.items():
            if samples:
                grown = f"{growth[name] * 100:+.1f} %" if name in growth else "(too short)"
                lines.append(f"  {name:<22} {samples[0]:>7} -> {samples[-1]:>7}  {grown}")
        lines += [
            "",
            f"Redis keys: {self.keys_before} at start, {self.keys_after} at end "
            f"(at most {self.keys_peak} during the run)",
            *(f"  left: {key}" for key in self.keys_left),
            "",
            "Chaos events (seconds since the start):",
            self.chaos_log or "  (no chaos loop)",
            "",
            "Targets:",
        ]
        lines += [f"  [{'ok' if ok else 'MISSED'}] {name}" for name, ok in self.targets().items()]
        return "\n".join(lines)


class _GroupMember:
    """A WebSocket in the ``room`` group: sends now and then, counts every broadcast."""

    def __init__(self, url: str, name: str) -> None:
        self.path = f"/group/{name}/"
        self._connection = connect(url + self.path, open_timeout=30)
        self.ws = self._connection.__enter__()
        self.received = 0
        self.sent = 0
        self.error: str | None = None
        self.closed_by_server = False
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
        if self.closed_by_server:
            return
        try:
            self.ws.send(f"group {self.sent}")
            self.sent += 1
        except ConnectionClosed as exc:
            # daphne closed it (a layer outage): reported, not a crash of the soak
            self.closed_by_server = True
            self.error = f"closed by server {exc.rcvd.code if exc.rcvd else None}"

    def close(self) -> None:
        self._connection.__exit__(None, None, None)
        self._reader.join(30)


def _count_keys(client: redis_py.Redis, prefix: str) -> int | None:
    try:
        return sum(1 for _ in client.scan_iter(match=prefix + "*", count=1000))
    except redis_py.exceptions.RedisError:
        return None  # Redis is down or restarting (chaos)


def _tally(results: list) -> dict[str, int]:
    return dict(Counter(str(r.outcome) for r in results))


class _Sampler:
    """RSS of every process incarnation (a restarted worker is a new one) and the key peak."""

    def __init__(self, processes: list[Managed], report: SoakReport, client, prefix: str):
        self.processes = processes
        self.report = report
        self.client = client
        self.prefix = prefix

    def sample(self) -> None:
        for process in self.processes:
            if not process.alive():
                continue
            try:
                kib = rss_kib(process.pid)
            except (OSError, RuntimeError):
                continue  # it died between the check and the read
            self.report.rss_kib.setdefault(f"{process.name} pid {process.pid}", []).append(kib)
        keys = _count_keys(self.client, self.prefix)
        self.report.keys_peak = max(self.report.keys_peak, keys or 0)


def run_soak(
    stack: Stack,
    redis_url: str,
    seconds: float,
    sample_every: float = 2.0,
    chaos: ChaosLoop | None = None,
    settle: float = 30.0,
    chaos_grace: float = 0.0,
) -> SoakReport:
    """Drive ``stack`` for ``seconds`` (with ``chaos`` running, if given); stop the traffic,
    let it drain, wait up to ``settle`` seconds for the keys to expire; report.

    With ``chaos_grace`` the traffic goes on, up to that many seconds more, until
    the chaos loop has run every kind of event once (a slow machine may not get
    through them all in a short run)."""
    report = SoakReport(seconds=seconds)
    client = redis_py.Redis.from_url(redis_url)
    sampler = _Sampler([stack.daphne, *stack.workers], report, client, stack.prefix)
    report.keys_before = _count_keys(client, stack.prefix) or 0
    origin = time.monotonic()

    loads = {
        "hello": HttpLoad(stack.url + "/hello/", threads=2, pause=0.01),
        "longpoll": HttpLoad(stack.url + "/longpoll/", threads=2, pause=0.01, timeout=10),
        "release": HttpLoad(stack.url + "/longpoll-release/", threads=1, pause=0.2, timeout=10),
    }
    for load in loads.values():
        load.start()
    echo = WsEchoLoad(stack.ws_url, clients=4, interval=0.02, tag="soak").start()
    churn = ChurnLoad(stack.ws_url, threads=2, pause=0.05).start()
    members = [_GroupMember(stack.ws_url, f"m{n}") for n in range(3)]
    time.sleep(0.5)  # every member joined before the first broadcast
    if chaos is not None:
        chaos.start()
    _drive(members, sampler, seconds, sample_every)
    if chaos is not None:
        grace_over = time.monotonic() + chaos_grace
        while not chaos.ran_every_kind() and time.monotonic() < grace_over:
            _drive(members, sampler, 0.5, sample_every)
        chaos.stop()
        report.chaos_log = chaos.log()

    # long-polls stop before their releaser, so every one still waiting is answered
    results = {kind: loads[kind].stop() for kind in ("hello", "longpoll", "release")}
    report.http_by_status = {kind: _tally(r) for kind, r in results.items()}
    report.http_requests = sum(len(r) for r in results.values())
    report.http_failures = [r for rs in results.values() for r in rs if r.outcome != 200]
    _sort_http_failures(report, results, origin, chaos)
    records = echo.stop()
    report.ws_echoes = sum(r.echoed for r in records)
    report.ws_dropped = echo.dropped()
    churn.stop()
    report.churn_outcomes = dict(Counter(r.outcome for r in churn.records))
    _drain_group(report, members)
    sampler.sample()
    owed = _owed_disconnects(churn, echo, members)
    _match_disconnects(report, stack, owed, origin, chaos)
    _settle_keys(report, client, stack.prefix, settle)
    client.close()
    return report


def _drive(members: list[_GroupMember], sampler: _Sampler, seconds: float, every: float) -> None:
    deadline = time.monotonic() + seconds
    next_sample = time.monotonic()
    while time.monotonic() < deadline:
        for member in members:
            member.send()
        if time.monotonic() >= next_sample:
            sampler.sample()
            next_sample += every
        time.sleep(0.1)


def _sort_http_failures(
    report: SoakReport, results: dict[str, list], origin: float, chaos: ChaosLoop | None
) -> None:
    buckets = [0] * (int(report.seconds // 10) + 1)
    for kind, kind_results in results.items():
        outside: Counter = Counter()
        for result in kind_results:
            if result.outcome == 200:
                continue
            bucket = int((result.started - origin) // 10)
            buckets[min(max(bucket, 0), len(buckets) - 1)] += 1
            if chaos is None or not (
                chaos.in_outage(result.started) or chaos.near("kill-worker", result.started)
            ):
                outside[str(result.outcome)] += 1
        report.http_failed_outside[kind] = dict(outside)
    report.http_failed_timeline = buckets


def _drain_group(report: SoakReport, members: list[_GroupMember]) -> None:
    """Wait for the broadcasts in flight, until all arrived or none arrived for 2 s (a
    member that lost its group membership in a Redis restart never gets the rest)."""
    report.group_sent = sum(m.sent for m in members)
    deadline = time.monotonic() + 30
    last, still_since = None, time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - still_since < 2:
        counts = [m.received for m in members if not m.closed_by_server]
        if all(count >= report.group_sent for count in counts):
            break
        if counts != last:
            last, still_since = counts, time.monotonic()
        time.sleep(0.1)
    for member in members:
        member.close()
    report.group_received = [m.received for m in members]
    report.group_errors = [m.error for m in members if m.error]


def _owed_disconnects(
    churn: ChurnLoad, echo: WsEchoLoad, members: list[_GroupMember]
) -> dict[str, float]:
    """``{path: monotonic time of the client's close}`` for every socket the client closed."""
    now = time.monotonic()
    owed = {r.path: r.closed_at for r in churn.client_closed()}
    owed.update({r.path: now for r in echo.records if r.closed == "closed by client"})
    owed.update({m.path: now for m in members if not m.closed_by_server})
    return owed


def _match_disconnects(
    report: SoakReport,
    stack: Stack,
    owed: dict[str, float],
    origin: float,
    chaos: ChaosLoop | None,
    wait: float = 15.0,
) -> None:
    """Wait for the consumers to record every owed disconnect (up to ``wait`` s, or until
    none arrived for 3 s: a lost one never will); sort the missing ones by when they were sent."""
    deadline = time.monotonic() + wait
    last, still_since = -1, time.monotonic()
    while True:
        received = {
            line.split(" ", 1)[1] for line in stack.events() if line.startswith("disconnect ")
        }
        missing = [path for path in owed if path not in received]
        if len(missing) != last:
            last, still_since = len(missing), time.monotonic()
        if not missing or time.monotonic() > deadline or time.monotonic() - still_since > 3:
            break
        time.sleep(0.5)
    report.disconnects_sent = len(owed)
    report.disconnects_received = len(owed) - len(missing)
    for path in missing:
        closed = owed[path]
        where = "outside"
        if chaos is not None and chaos.in_outage(closed):
            where = "outage"
        elif chaos is not None and chaos.near("kill-worker", closed):
            where = "worker-kill"
        report.disconnects_lost.append(LostDisconnect(path, closed - origin, where))


def _settle_keys(report: SoakReport, client, prefix: str, settle: float) -> None:
    deadline = time.monotonic() + settle
    while True:
        keys = _count_keys(client, prefix)
        if keys is not None:
            report.keys_after = keys
            if keys <= report.keys_before:
                return
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    try:
        for key in client.scan_iter(match=prefix + "*", count=1000):
            report.keys_left.append(f"{key.decode(errors='replace')} (ttl {client.ttl(key)} s)")
            if len(report.keys_left) == 10:
                break
    except redis_py.exceptions.RedisError:
        pass
