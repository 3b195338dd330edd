"""Timeouts that almost never fire, kept without a reactor timer each.

A busy server starts thousands of timeouts a second (every HTTP request has
a response deadline, every keep-alive connection an idle and a head
deadline) and nearly all of them are stopped long before they are due. A
``callLater`` plus a ``cancel`` per timeout costs a timer object, a heap
insertion and a heap clean-up later, every time. Here a deadline is an entry
in an insertion-ordered dict, and one timer is armed for the oldest; when it
fires it hands out what is due and re-arms for the oldest left. Under steady
traffic it fires about once per timeout period, not once per request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable
from typing import Any

__all__ = ["EPSILON", "DeadlineSet"]

logger = logging.getLogger(__name__)

#: A deadline this close (seconds) counts as reached: a timer scheduled
#: ``due - now`` seconds ahead may wake a rounding error before ``due``.
EPSILON = 1e-6


class DeadlineSet:
    """Deadlines for many keys of one owner, on one lazily armed timer.

    Keys are meant to share one period (a factory's timeout): entries then
    sit in deadline order and both adding and expiring are O(1) per key. A
    key added with a shorter period than keys already waiting still expires,
    only no sooner than the keys ahead of it.

    ``expired`` is called with each key whose deadline passed, after the key
    is taken out; it may add or discard keys.
    """

    def __init__(self, clock: Any, expired: Callable[[Any], None]) -> None:
        self.clock = clock
        self.expired = expired
        self._due: dict[Hashable, float] = {}
        self._call: Any = None

    def __len__(self) -> int:
        return len(self._due)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._due

    def add(self, key: Hashable, seconds: float) -> None:
        """Give ``key`` a deadline ``seconds`` from now, replacing any it had."""
        due = self.clock.seconds() + seconds
        entries = self._due
        entries.pop(key, None)  # to the end: the newest deadline
        entries[key] = due
        if self._call is None:
            self._call = self.clock.callLater(seconds, self._fire)

    def discard(self, key: Hashable) -> None:
        """Forget ``key``'s deadline, if it has one. The timer stays armed:
        if nothing is due when it fires, it stops."""
        self._due.pop(key, None)

    def stop(self) -> None:
        """Forget every deadline and disarm the timer."""
        self._due.clear()
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None

    def _fire(self) -> None:
        self._call = None
        now = self.clock.seconds()
        entries = self._due
        due = []
        for key, when in entries.items():
            if when - now > EPSILON:
                break
            due.append(key)
        for key in due:
            del entries[key]
        for key in due:
            try:
                self.expired(key)
            except Exception:
                # as the reactor does for a failing timer: log it, go on
                logger.exception("Handling the expiry of %r failed", key)
        if entries:
            # an ``expired`` callback may have armed a timer for a newer key
            oldest = entries[next(iter(entries))]
            delay = max(oldest - now, 0.0)
            if self._call is None:
                self._call = self.clock.callLater(delay, self._fire)
            elif self._call.getTime() > oldest:
                self._call.reset(delay)
