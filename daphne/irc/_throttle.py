"""Flood control for the IRC client: a token bucket over lines sent (sans-IO).

IRC servers disconnect a client that sends too fast ("Excess Flood"). A
:class:`LineThrottle` lets ``burst`` lines go at once, then one line every
``interval`` seconds; the protocol asks :meth:`~LineThrottle.delay` before
each line and waits that long when it is not zero. The clock is passed in.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["LineThrottle"]


class LineThrottle:
    """``burst`` lines at once, then one every ``interval`` seconds."""

    def __init__(self, clock: Callable[[], float], burst: int = 5, interval: float = 1.0) -> None:
        if burst < 1:
            raise ValueError(f"burst must be at least 1 line, got {burst!r}")
        if interval <= 0:
            raise ValueError(f"interval must be a positive number of seconds, got {interval!r}")
        self._clock = clock
        self.burst = burst
        self.interval = interval
        self._tokens = float(burst)
        self._updated = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) / self.interval)
        self._updated = now

    def delay(self) -> float:
        """Seconds to wait before the next line may be sent (0 means now)."""
        self._refill()
        return 0.0 if self._tokens >= 1 else (1 - self._tokens) * self.interval

    def take(self) -> None:
        """Count one line as sent; call only when :meth:`delay` returned 0."""
        self._refill()
        if self._tokens < 1:
            raise RuntimeError("LineThrottle.take() called while the bucket is empty")
        self._tokens -= 1
