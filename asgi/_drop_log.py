"""The drop log: one structured, rate-limited line per message dropped or refused.

daphne (``daphne/_drops.py``) and the worker (``channels/_drops.py``) each
own one :class:`DropLog` with their own logger (``daphne.drops``,
``channels.drops``) and reason codes; this module holds what they share, so
neither package imports the other (docs/operating.rst, "Logs of dropped and
refused messages").

A busy server under backpressure can refuse thousands of messages a second,
so the log is rate limited per reason: :class:`DropLimiter` (sans-IO, the
caller passes the time) lets one line per reason through each ``interval``
seconds and counts the rest; the next line that gets through says how many
messages were suppressed. Observers (the metrics exporter) see every drop,
limited or not.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

__all__ = ["DropLimiter", "DropLog", "DropObserver", "general_name"]

#: ``fn(reason, channel, count)``, called for every drop.
DropObserver = Callable[[str, "str | None", int], None]


def general_name(channel: str | None) -> str | None:
    """A process-specific channel (``name!suffix``) as ``name!``; others as they are.

    One client's reply channel would make every drop a label of its own;
    the part before ``!`` names the process, which is what an operator needs.
    """
    if channel is None or "!" not in channel:
        return channel
    return channel.partition("!")[0] + "!"


class DropLimiter:
    """At most one line per reason each ``interval`` seconds; counts the rest.

    Sans-IO: :meth:`admit` takes the time, so tests drive it with plain
    numbers. Not thread-safe by itself (``DropLog`` holds a lock around it).
    """

    def __init__(self, interval: float = 1.0) -> None:
        if interval < 0:
            raise ValueError(f"interval must be >= 0 seconds, got {interval!r}")
        self.interval = interval
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def admit(self, reason: str, count: int, now: float) -> int | None:
        """Note ``count`` messages dropped for ``reason`` at ``now``.

        Returns the number of messages suppressed for this reason since its
        last line when a line should be written now, else None (this drop is
        added to that number).
        """
        last = self._last.get(reason)
        if last is not None and now - last < self.interval:
            self._suppressed[reason] = self._suppressed.get(reason, 0) + count
            return None
        self._last[reason] = now
        return self._suppressed.pop(reason, 0)


class DropLog:
    """Logs drops on ``logger`` (rate limited) and tells every observer.

    ``levels`` maps a reason to its log level where it is not WARNING (a
    reply for a client that has already left is routine: DEBUG).
    """

    def __init__(
        self,
        logger: logging.Logger,
        clock: Callable[[], float] = time.monotonic,
        interval: float = 1.0,
        levels: dict[str, int] | None = None,
    ) -> None:
        self.logger = logger
        self.clock = clock
        self.limiter = DropLimiter(interval)
        self.levels = dict(levels or {})
        self._observers: list[DropObserver] = []
        self._lock = threading.Lock()

    def add_observer(self, fn: DropObserver) -> None:
        """Call ``fn(reason, channel, count)`` for every drop from now on."""
        with self._lock:
            if fn not in self._observers:
                self._observers.append(fn)

    def remove_observer(self, fn: DropObserver) -> None:
        """Stop calling ``fn`` (no error if it was not registered)."""
        with self._lock:
            if fn in self._observers:
                self._observers.remove(fn)

    def report(
        self, reason: str, channel: str | None, count: int = 1, level: int | None = None
    ) -> None:
        """Record ``count`` messages on ``channel`` dropped or refused for ``reason``.

        Never raises: an observer that fails is logged and skipped, since a
        drop is reported from paths that are already handling a failure.
        A process-specific channel is reported as ``name!`` (:func:`general_name`).
        ``level`` overrides the reason's log level for this one drop (a drop
        1.x made silently is logged at DEBUG); such lines are rate limited
        apart from the reason's others, so they never hide a louder one.
        """
        channel = general_name(channel)
        key = reason if level is None else f"{reason}@{level}"
        with self._lock:
            suppressed = self.limiter.admit(key, count, self.clock())
            observers = list(self._observers)
        for observer in observers:
            try:
                observer(reason, channel, count)
            except Exception:
                self.logger.exception("A drop observer (%r) failed", observer)
        if suppressed is None:
            return
        if level is None:
            level = self.levels.get(reason, logging.WARNING)
        if not self.logger.isEnabledFor(level):
            return
        text = "Dropped %d message(s) on %s: %s"
        args: tuple[object, ...] = (count, channel or "-", reason)
        if suppressed:
            text += " (%d more dropped for this reason since the last line, not logged)"
            args += (suppressed,)
        self.logger.log(
            level,
            text,
            *args,
            extra={"reason": reason, "channel": channel, "count": count, "suppressed": suppressed},
        )
