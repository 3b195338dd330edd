"""Process heartbeats: the record each daphne and worker keeps in the layer.

On a layer that lists the ``inspect`` extension, every daphne and every
``runworker`` (and ``runserver``, as both) announces itself with a record
that expires ``ttl`` seconds after its last renewal, so the health check and
``manage.py channels_inspect`` can tell which processes are alive and what
they consume (docs/operating.rst, "Heartbeats and health checks"). On any
other layer nothing is sent.

:func:`build_record` is the one place the record is built; :class:`Heartbeat`
renews it from a background thread every ``interval`` seconds (a third of
the TTL by default), rides out a layer that is down (one WARNING, then
retries), and removes it on :meth:`Heartbeat.stop`.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from ._version import __version__
from .base_layer import INSPECT_EXTENSION

__all__ = [
    "DEFAULT_INTERVAL",
    "DEFAULT_TTL",
    "Activity",
    "Heartbeat",
    "build_record",
    "has_inspect",
    "new_process_id",
]

logger = logging.getLogger("asgi.heartbeat")

#: Seconds a record lives unless renewed, and how often it is renewed.
DEFAULT_TTL = 15.0
DEFAULT_INTERVAL = 5.0


def has_inspect(layer: Any) -> bool:
    """True when ``layer`` offers the ``inspect`` extension (heartbeats)."""
    return INSPECT_EXTENSION in (getattr(layer, "extensions", None) or ())


def new_process_id(kind: str, host: str, pid: int) -> str:
    """``<kind>:<host>:<pid>:<8 hex>``, unique per process start."""
    return f"{kind}:{host}:{pid}:{secrets.token_hex(4)}"


def build_record(
    *,
    process_id: str,
    kind: str,
    host: str,
    pid: int,
    channels: Iterable[str],
    handled: int,
    last_activity: float,
    started: float,
) -> dict[str, Any]:
    """One process's heartbeat record (docs/operating.rst lists its keys).

    ``channels`` are what it consumes (a worker: the channels it listens
    to; daphne: its reply channel pattern, e.g. ``daphne.response.AbC!*``),
    ``handled`` the messages it handled (worker) or sent to the layer
    (daphne), times are ``time.time()`` values.
    """
    return {
        "id": process_id,
        "kind": kind,
        "host": host,
        "pid": pid,
        "version": __version__,
        "channels": sorted(set(channels)),
        "handled": int(handled),
        "last_activity": float(last_activity),
        "started": float(started),
    }


class Activity:
    """A count of messages handled and the time of the last one, shared by
    a process's threads (the worker threads of a ``WorkerGroup``)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.handled = 0
        self.last_activity: float | None = None

    def note(self, count: int = 1) -> None:
        """``count`` more messages handled, now."""
        now = self._clock()
        with self._lock:
            self.handled += count
            self.last_activity = now

    def snapshot(self) -> tuple[int, float | None]:
        with self._lock:
            return self.handled, self.last_activity


class Heartbeat:
    """Keeps one process's record alive in ``layer`` from a daemon thread.

    ``channels()`` and ``activity()`` (returning ``(handled,
    last_activity or None)``) are called at each renewal, from the thread,
    so they must only read. The clock (``time.time``) and the wait between
    renewals are injected for tests, which can also call :meth:`beat`
    directly without starting the thread.
    """

    def __init__(
        self,
        layer: Any,
        kind: str,
        channels: Callable[[], Iterable[str]],
        activity: Callable[[], tuple[int, float | None]],
        *,
        ttl: float = DEFAULT_TTL,
        interval: float | None = None,
        clock: Callable[[], float] = time.time,
        host: str | None = None,
        pid: int | None = None,
    ) -> None:
        if not ttl > 0:
            raise ValueError(f"heartbeat ttl must be a positive number of seconds, got {ttl!r}")
        interval = ttl / 3 if interval is None else interval
        if not 0 < interval < ttl:
            raise ValueError(
                f"heartbeat interval must be above 0 and below the ttl ({ttl:g}s), got {interval!r}"
            )
        self.layer = layer
        self.kind = kind
        self.channels = channels
        self.activity = activity
        self.ttl = ttl
        self.interval = interval
        self.clock = clock
        self.host = host or socket.gethostname()
        self.pid = os.getpid() if pid is None else pid
        self.process_id = new_process_id(kind, self.host, self.pid)
        self.started = clock()
        self.failing = False
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def record(self) -> dict[str, Any]:
        """The record as of now."""
        handled, last = self.activity()
        return build_record(
            process_id=self.process_id,
            kind=self.kind,
            host=self.host,
            pid=self.pid,
            channels=self.channels(),
            handled=handled,
            last_activity=self.started if last is None else last,
            started=self.started,
        )

    def beat(self) -> bool:
        """Store or renew the record once; False if the layer failed.

        The first failure of a run of them is a WARNING, the others DEBUG;
        the renewal that works again says so at INFO.
        """
        try:
            self.layer.heartbeat(self.record(), self.ttl)
        except Exception as exc:  # noqa: BLE001 - any layer's errors: retried
            level = logging.DEBUG if self.failing else logging.WARNING
            logger.log(
                level,
                "Could not renew the %s heartbeat %s (retrying every %gs): %s",
                self.kind,
                self.process_id,
                self.interval,
                exc,
            )
            self.failing = True
            return False
        if self.failing:
            logger.info("The %s heartbeat %s is renewed again", self.kind, self.process_id)
            self.failing = False
        return True

    def start(self) -> None:
        """Renew the record now and then every ``interval`` seconds, in a thread."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._run, name=f"heartbeat-{self.kind}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.is_set():
            self.beat()
            self._stopped.wait(self.interval)

    def stop(self, timeout: float = 2.0) -> None:
        """Stop renewing and remove the record (a clean stop). Blocking: call
        it off daphne's reactor thread. Never raises for a layer that is down
        (the record then expires by itself)."""
        self._stopped.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
        try:
            self.layer.heartbeat_remove(self.process_id)
        except Exception as exc:  # noqa: BLE001 - it expires anyway
            logger.warning(
                "Could not remove the %s heartbeat %s (it expires in %gs): %s",
                self.kind,
                self.process_id,
                self.ttl,
                exc,
            )
