"""A chaos loop for the soak: at seeded random times, break one part of a ``Stack`` and mend it.

Three events, each bounded in time and logged with its start and end (seconds
since the loop started, on the ``time.monotonic`` clock the soak's clients use):

* ``kill-worker``: SIGKILL one runworker (a crash: whatever it had taken from
  the layer is lost), start it again after a pause;
* ``restart-redis``: stop redis-server (no persistence: every channel, group
  and message goes), start it again on the same port after a pause;
* ``fill-redis``: write filler keys until Redis refuses with OOM (the server
  runs with ``maxmemory`` and ``noeviction``), hold it full, delete them.

The two Redis events are *outages*: ``ChaosLoop.in_outage`` tells whether a
moment falls in one (with a margin for what was in flight), so the soak can
report what was lost during them apart from what was lost outside them.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass

import redis as redis_py

from tests.support.redis import RedisServer
from tests.support.stack import Stack

__all__ = ["FILL_PREFIX", "OUTAGE_KINDS", "ChaosEvent", "ChaosLoop"]

#: Keys the fill writes; outside the stack's prefix, so the key counts ignore them.
FILL_PREFIX = "soakfill:"
#: Events during which Redis refuses or loses work.
OUTAGE_KINDS = ("restart-redis", "fill-redis")
#: Seconds around an outage still counted as in it: a message handed to the
#: layer just before it, or retried just after it, is the outage's loss.
OUTAGE_MARGIN = 2.0
_FILL_VALUE = b"x" * (256 * 1024)


@dataclass
class ChaosEvent:
    kind: str
    started: float  # time.monotonic()
    ended: float | None = None
    detail: str = ""

    def line(self, origin: float) -> str:
        end = f"{self.ended - origin:7.1f}" if self.ended is not None else "    ..."
        return f"  {self.started - origin:7.1f}s-{end}s {self.kind:<14} {self.detail}"


class ChaosLoop:
    """Every ``every`` seconds on average (seeded), one event, never two at once.

    Events are drawn from a shuffled bag of ``kinds`` (refilled when empty), so
    the first ``len(kinds)`` events, and each next ``len(kinds)``, include
    every kind once: even a short run sees them all.

    ``hold`` bounds how long a part stays broken (a pause drawn from
    ``[hold / 2, hold]``); ``stop()`` mends whatever is broken before it returns.
    """

    def __init__(
        self,
        stack: Stack,
        redis: RedisServer,
        seed: int,
        every: float = 20.0,
        hold: float = 3.0,
        kinds: tuple[str, ...] = ("kill-worker", "restart-redis", "fill-redis"),
    ) -> None:
        self.stack = stack
        self.redis = redis
        self.random = random.Random(seed)
        self.every = every
        self.hold = hold
        self.kinds = kinds
        self.events: list[ChaosEvent] = []
        self._bag: list[str] = []
        self.origin = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> ChaosLoop:
        self.origin = time.monotonic()
        self._thread.start()
        return self

    def stop(self) -> list[ChaosEvent]:
        self._stop.set()
        self._thread.join(60)
        return self.events

    def ran_every_kind(self) -> bool:
        """Whether an event of each kind has started and ended."""
        done = {event.kind for event in self.events if event.ended is not None}
        return done >= set(self.kinds)

    def in_outage(self, moment: float) -> bool:
        """Whether ``moment`` (monotonic) falls in a Redis outage, margins included."""
        return any(
            event.started - OUTAGE_MARGIN
            <= moment
            <= (event.ended or time.monotonic()) + OUTAGE_MARGIN
            for event in self.events
            if event.kind in OUTAGE_KINDS
        )

    def near(self, kind: str, moment: float) -> bool:
        """Whether ``moment`` falls in an event of ``kind``, margins included."""
        return any(
            e.started - OUTAGE_MARGIN <= moment <= (e.ended or time.monotonic()) + OUTAGE_MARGIN
            for e in self.events
            if e.kind == kind
        )

    def log(self) -> str:
        return "\n".join(event.line(self.origin) for event in self.events) or "  (no events)"

    def _run(self) -> None:
        while not self._stop.wait(self.random.uniform(self.every / 2, self.every * 1.5)):
            kind = self.next_kind()
            event = ChaosEvent(kind, time.monotonic())
            self.events.append(event)
            pause = self.random.uniform(self.hold / 2, self.hold)
            try:
                event.detail = getattr(self, "_" + kind.replace("-", "_"))(pause)
            except Exception as exc:  # noqa: BLE001 - a chaos step that failed is reported
                event.detail = f"failed: {exc!r}"
            event.ended = time.monotonic()

    def next_kind(self) -> str:
        """The next event's kind, from the shuffled bag (refilled when empty)."""
        if not self._bag:
            self._bag = self.random.sample(self.kinds, len(self.kinds))
        return self._bag.pop()

    def _kill_worker(self, pause: float) -> str:
        worker = self.random.choice(self.stack.workers)
        old = worker.pid
        worker.kill()
        time.sleep(pause)
        worker.start()
        return f"{worker.name} pid {old} killed, restarted as pid {worker.pid}"

    def _restart_redis(self, pause: float) -> str:
        self.redis.stop()
        time.sleep(pause)
        self.redis.start()
        return f"down {pause:.1f}s"

    def _fill_redis(self, pause: float) -> str:
        client = redis_py.Redis.from_url(self.redis.url)
        written, full = 0, False
        try:
            try:
                while written < 512:  # at most 128 MiB, whatever maxmemory says
                    client.set(f"{FILL_PREFIX}{written}", _FILL_VALUE)
                    written += 1
            except redis_py.exceptions.OutOfMemoryError:
                full = True
            time.sleep(pause)
        finally:
            for start in range(0, written, 64):
                client.delete(
                    *(f"{FILL_PREFIX}{n}" for n in range(start, min(written, start + 64)))
                )
            client.close()
        until = "until OOM" if full else "(no OOM: is maxmemory set?)"
        return f"{written} x 256 KiB {until}, held {pause:.1f}s"
