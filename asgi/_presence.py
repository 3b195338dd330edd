"""The ``presence`` layer extension's in-process store (docs/asgi/layers.rst).

A presence is a named set of members (channel names) each with a small
``meta`` dict and a deadline. Joining or touching a member moves its
deadline ``ttl`` seconds ahead; a member whose deadline passed is no longer
listed and is handed, once, to whoever reaps the presence. The in-memory
layer keeps one :class:`PresenceTable` under its lock; the Redis layer keeps
the same data in Redis (``asgi_redis._presence``). Plain values in and out,
with an injected clock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["PRESENCE_EXTENSION", "PresenceTable", "check_ttl"]

#: The name layers list in ``extensions`` when they keep presences.
PRESENCE_EXTENSION = "presence"


def check_ttl(ttl: float) -> float:
    """``ttl`` if it is a positive number of seconds, else ``ValueError``."""
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl <= 0:
        raise ValueError(f"presence ttl must be a positive number of seconds, got {ttl!r}")
    return float(ttl)


class PresenceTable:
    """Members of every presence, with their meta and deadline (not thread-safe:
    the caller holds its lock)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        # presence -> {channel: (deadline, meta)}
        self._presences: dict[str, dict[str, tuple[float, dict[str, Any]]]] = {}

    def join(self, presence: str, channel: str, meta: dict[str, Any], ttl: float) -> bool:
        """Add or refresh ``channel``; True when it was not a live member."""
        now = self._clock()
        members = self._presences.setdefault(presence, {})
        previous = members.get(channel)
        members[channel] = (now + ttl, meta)
        return previous is None or previous[0] <= now

    def touch(self, presence: str, channel: str, ttl: float) -> bool:
        """Move a live member's deadline ahead; False when it is not one."""
        now = self._clock()
        members = self._presences.get(presence, {})
        entry = members.get(channel)
        if entry is None or entry[0] <= now:
            return False
        members[channel] = (now + ttl, entry[1])
        return True

    def leave(self, presence: str, channel: str) -> dict[str, Any] | None:
        """Remove ``channel``; its meta, or None when it was not a member."""
        members = self._presences.get(presence)
        if not members or channel not in members:
            return None
        _, meta = members.pop(channel)
        if not members:
            del self._presences[presence]
        return meta

    def members(self, presence: str) -> dict[str, dict[str, Any]]:
        """The live members and their meta."""
        now = self._clock()
        members = self._presences.get(presence, {})
        return {channel: meta for channel, (deadline, meta) in members.items() if deadline > now}

    def reap(self, presence: str) -> dict[str, dict[str, Any]]:
        """Remove and return the members whose deadline passed."""
        now = self._clock()
        members = self._presences.get(presence)
        if not members:
            return {}
        gone = {channel: meta for channel, (deadline, meta) in members.items() if deadline <= now}
        for channel in gone:
            del members[channel]
        if not members:
            del self._presences[presence]
        return gone

    def clear(self) -> None:
        self._presences.clear()
