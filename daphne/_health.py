"""The health check (``--health-path``) and what daphne knows of live workers.

A ``GET`` (or ``HEAD``) on the health path is answered by daphne itself,
never routed to the layer: 200 when the layer is reachable and at least one
live process record (``asgi/heartbeat.py``) lists ``http.request`` among its
channels, else 503, with a small JSON body (docs/operating.rst, "Heartbeats
and health checks"). The same answer explains the 503 of a request nobody
answered in time ("no live worker consumes http.request").

:func:`assess` is the sans-IO part: from the layer's answer (the records,
an exception, or "no inspect extension") to a :class:`HealthReport`.
:class:`HealthChecker` asks the layer off the reactor thread (in-memory
layers inline: they never block), with a timeout, keeps the answer for
``max_age`` seconds so that a flood of probes costs one query a second, and
shares a query already on its way.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from twisted.internet import defer, threads
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from asgi.heartbeat import has_inspect

from ._layer_errors import layer_unavailable
from ._offload import send_mode

__all__ = ["HealthChecker", "HealthReport", "assess"]

logger = logging.getLogger(__name__)

#: The channel a worker must consume for daphne to be of any use.
HTTP_CHANNEL = "http.request"


@dataclass(frozen=True)
class HealthReport:
    """One answer of the health check."""

    #: "reachable", "unreachable" or "no-inspect".
    layer: str
    #: Live processes that consume ``http.request``.
    workers: int
    #: Why it is unavailable ("" when healthy).
    reason: str
    #: The clock time it was made at.
    checked: float

    @property
    def healthy(self) -> bool:
        return self.layer == "reachable" and self.workers > 0

    @property
    def status(self) -> int:
        return 200 if self.healthy else 503

    def body(self) -> bytes:
        """The JSON body: status, layer, workers, reason."""
        return json.dumps(
            {
                "status": "ok" if self.healthy else "unavailable",
                "layer": self.layer,
                "workers": self.workers,
                "reason": self.reason,
            }
        ).encode()

    def no_worker(self) -> bool:
        """True when the layer answered and no live worker consumes ``http.request``."""
        return self.layer == "reachable" and self.workers == 0


def consumers_of(records: Iterable[dict[str, Any]], channel: str = HTTP_CHANNEL) -> int:
    """How many live process records list ``channel`` among their channels."""
    return sum(1 for record in records if channel in (record.get("channels") or ()))


def assess(outcome: Any, now: float) -> HealthReport:
    """The report for the layer's answer to ``inspect_processes()``: a list
    of records, an exception, or None for a layer without ``inspect``."""
    if outcome is None:
        return HealthReport(
            "no-inspect",
            0,
            "the channel layer has no 'inspect' extension, so live workers cannot be counted",
            now,
        )
    if isinstance(outcome, BaseException):
        return HealthReport("unreachable", 0, f"channel layer unreachable: {outcome}", now)
    workers = consumers_of(outcome)
    reason = "" if workers else f"no live worker consumes {HTTP_CHANNEL}"
    return HealthReport("reachable", workers, reason, now)


class HealthChecker:
    """Asks the layer which processes are alive, at most once per ``max_age``."""

    def __init__(
        self,
        layer: Any,
        reactor: Any,
        *,
        timeout: float = 2.0,
        max_age: float = 1.0,
        mode: str | None = None,
    ) -> None:
        self.layer = layer
        self.reactor = reactor
        self.timeout = timeout
        self.max_age = max_age
        self.inspect = has_inspect(layer)
        self.mode = mode or ("thread" if send_mode(layer) != "inline" else "inline")
        self._latest: HealthReport | None = None
        self._waiting: list[defer.Deferred[HealthReport]] | None = None
        self._pool: ThreadPool | None = None

    def latest(self, max_age: float) -> HealthReport | None:
        """The last report if it is at most ``max_age`` seconds old (no I/O)."""
        report = self._latest
        if report is None or self.reactor.seconds() - report.checked > max_age:
            return None
        return report

    def check(self) -> defer.Deferred[HealthReport]:
        """A Deferred firing with a :class:`HealthReport` (never failing):
        the cached one while fresh, else the answer of one query (shared by
        every caller while it runs)."""
        fresh = self.latest(self.max_age)
        if fresh is not None:
            return defer.succeed(fresh)
        d: defer.Deferred[HealthReport] = defer.Deferred()
        if self._waiting is not None:
            self._waiting.append(d)
            return d
        self._waiting = [d]
        self._query().addBoth(self._answered)
        return d

    def _query(self) -> defer.Deferred[Any]:
        if not self.inspect:
            return defer.succeed(None)
        if self.mode == "inline":
            return defer.maybeDeferred(self.layer.inspect_processes)
        if self._pool is None:
            # one thread: a layer that hangs holds one query, never a pile of them
            self._pool = ThreadPool(minthreads=1, maxthreads=1, name="daphne health check")
            self._pool.start()
        d = threads.deferToThreadPool(self.reactor, self._pool, self.layer.inspect_processes)
        return d.addTimeout(self.timeout, self.reactor)

    def _answered(self, outcome: Any) -> None:
        if isinstance(outcome, Failure):
            exc: BaseException = outcome.value or RuntimeError("no error given")
            if isinstance(exc, defer.TimeoutError):
                exc = TimeoutError(f"no answer within {self.timeout:g}s")
            elif not layer_unavailable(exc):
                logger.warning("The health check's inspect_processes() failed: %s", exc)
            outcome = exc
        report = assess(outcome, self.reactor.seconds())
        self._latest = report
        waiting, self._waiting = self._waiting or [], None
        for d in waiting:
            d.callback(report)

    def stop(self) -> None:
        """End the query thread (if one was started)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.stop()
