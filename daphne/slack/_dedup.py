"""Remembering recent Events API event IDs, to drop Slack's retries (sans-IO).

Slack retries an event (``X-Slack-Retry-Num`` 1, 2, 3 over about five
minutes) when it got no timely 2xx. A retry carries the same ``event_id``,
so :class:`RecentEvents` keeps the IDs seen in the last ``ttl`` seconds,
at most ``max_size`` of them (the oldest are forgotten first), and says
whether an ID is new. The clock is passed in.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

__all__ = ["RecentEvents"]


class RecentEvents:
    """A bounded, expiring set of event IDs."""

    def __init__(
        self, clock: Callable[[], float], ttl: float = 600.0, max_size: int = 10_000
    ) -> None:
        if ttl <= 0:
            raise ValueError(f"ttl must be a positive number of seconds, got {ttl!r}")
        if max_size < 1:
            raise ValueError(f"max_size must be at least 1, got {max_size!r}")
        self._clock = clock
        self.ttl = ttl
        self.max_size = max_size
        self._seen: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        self._expire(self._clock())
        return len(self._seen)

    def first_time(self, event_id: str) -> bool:
        """True (and remember it) if ``event_id`` was not seen in the last ``ttl`` seconds."""
        now = self._clock()
        self._expire(now)
        if event_id in self._seen:
            return False
        self._seen[event_id] = now
        while len(self._seen) > self.max_size:
            self._seen.popitem(last=False)
        return True

    def _expire(self, now: float) -> None:
        while self._seen:
            oldest, seen_at = next(iter(self._seen.items()))
            if now - seen_at < self.ttl:
                return
            del self._seen[oldest]
