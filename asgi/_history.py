"""The ``history`` layer extension: numbered group sends kept for a while.

See docs/asgi/layers.rst, "Extensions", and docs/topics/history.rst.

A group send through ``send_group_history(group, message, size, ttl)``
gets the group's next offset, is delivered to the members like
``send_group`` would, and is kept in the group's history: the last
``size`` messages, for ``ttl`` seconds after the group's last such send.
``group_history(group, after)`` returns what was kept after an offset, and
whether the history still reaches back that far (``gap``).

Offsets are opaque increasing integers: consecutive while a group's history
lives, and when it expired (nobody sent for ``ttl`` seconds) the next one
starts from the layer's clock in microseconds, so an offset never repeats
or goes back and a client that kept an old one never mistakes a new
message for one it has already seen.

A message learns its own offset where it holds :data:`OFFSET_MARK`: every
occurrence of the mark in its text values is replaced by the offset,
left-aligned and padded with spaces to the mark's width (valid JSON
whitespace after a number). A network layer can so number the message
where the offset is assigned, in the same round trip, without decoding it.

This module holds what every layer shares: the mark, the result type, the
option checks, and the in-memory history store.
"""

from __future__ import annotations

from collections import deque
from typing import Any, NamedTuple

__all__ = [
    "OFFSET_MARK",
    "OFFSET_WIDTH",
    "GroupHistory",
    "MemoryHistory",
    "check_history_options",
    "fill_offset",
    "offset_text",
]

#: Where a message wants its offset written (see the module docstring).
OFFSET_MARK = "@asgi.history.offset"
#: Characters the mark takes, and so the widest offset: 20 decimal digits.
OFFSET_WIDTH = len(OFFSET_MARK)


class GroupHistory(NamedTuple):
    """What ``group_history(group, after)`` returns.

    ``messages``: ``(offset, message)`` pairs after ``after``, oldest first.
    ``gap``: True when messages after ``after`` may have been dropped from
    the history (it was trimmed past them, or expired), so ``messages`` is
    not everything the caller missed. ``last``: the group's latest offset
    (0 when the group has no history now).
    """

    messages: list[tuple[int, dict[str, Any]]]
    gap: bool
    last: int


def check_history_options(size: Any, ttl: Any) -> None:
    """Raise ValueError unless ``size`` is a positive int and ``ttl`` positive seconds."""
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ValueError(f"history size must be a positive int (messages kept), got {size!r}")
    if not isinstance(ttl, (int, float)) or isinstance(ttl, bool) or not ttl > 0:
        raise ValueError(f"history ttl must be a positive number of seconds, got {ttl!r}")


def check_after(after: Any) -> int:
    """``after`` as an int offset; TypeError/ValueError for anything else."""
    if not isinstance(after, int) or isinstance(after, bool):
        raise TypeError(f"after must be an int offset (0 for none), got {after!r}")
    if after < 0:
        raise ValueError(f"after must be 0 or a positive offset, got {after!r}")
    return after


def offset_text(offset: int) -> str:
    """The text that replaces :data:`OFFSET_MARK` for ``offset``; ValueError
    for an offset wider than the mark (it would change the message's length)."""
    text = f"{offset:<{OFFSET_WIDTH}d}"
    if len(text) > OFFSET_WIDTH:
        raise ValueError(f"offset {offset} is wider than the {OFFSET_WIDTH} characters of the mark")
    return text


def fill_offset(value: Any, offset: int) -> Any:
    """``value`` (a message or a part of one) with every mark replaced by ``offset``.

    Containers holding no mark are returned as they are, not copied.
    """
    if isinstance(value, str):
        return value.replace(OFFSET_MARK, offset_text(offset)) if OFFSET_MARK in value else value
    if isinstance(value, dict):
        filled = {key: fill_offset(item, offset) for key, item in value.items()}
        return filled if any(filled[k] is not value[k] for k in value) else value
    if isinstance(value, (list, tuple)):
        items = [fill_offset(item, offset) for item in value]
        if all(a is b for a, b in zip(items, value)):
            return value
        return type(value)(items)
    return value


class _Stream:
    """One group's history: its latest offset, kept messages and deadline."""

    __slots__ = ("entries", "expires_at", "last")

    def __init__(self, first_offset: int) -> None:
        self.last = first_offset - 1
        self.entries: deque[tuple[int, dict[str, Any]]] = deque()
        self.expires_at = 0.0


class MemoryHistory:
    """Group histories in this process's memory (not thread-safe: the
    in-memory layer calls it under its lock). ``now`` is the layer's clock,
    in seconds."""

    def __init__(self) -> None:
        self._streams: dict[str, _Stream] = {}
        self._floor = 0

    def append(self, group: str, now: float, ttl: float) -> int:
        """Number the next message of ``group``; :meth:`store` keeps it."""
        stream = self._live(group, now)
        if stream is None:
            # A new history starts past every offset handed out before.
            stream = _Stream(max(int(now * 1_000_000), self._floor + 1, 1))
            self._streams[group] = stream
        stream.last += 1
        self._floor = max(self._floor, stream.last)
        stream.expires_at = now + ttl
        return stream.last

    def store(self, group: str, offset: int, message: dict[str, Any], size: int) -> None:
        """Keep ``message`` (numbered ``offset`` by :meth:`append`), dropping
        the oldest past ``size``."""
        entries = self._streams[group].entries
        entries.append((offset, message))
        while len(entries) > size:
            entries.popleft()

    def read(
        self, group: str, after: int, now: float
    ) -> tuple[list[tuple[int, dict[str, Any]]], bool, int]:
        """``(entries after `after`, gap, last offset)``; the messages are
        the stored objects (the caller copies them)."""
        stream = self._live(group, now)
        if stream is None:
            return [], after > 0, 0  # nothing kept: whatever came after is lost
        if after >= stream.last:
            return [], False, stream.last
        entries = [entry for entry in stream.entries if entry[0] > after]
        first = entries[0][0] if entries else stream.last + 1
        return entries, 0 < after < first - 1, stream.last

    def sweep(self, now: float) -> None:
        """Forget every expired history."""
        for group in [g for g, s in self._streams.items() if s.expires_at <= now]:
            del self._streams[group]

    def clear(self) -> None:
        self._streams.clear()

    def _live(self, group: str, now: float) -> _Stream | None:
        stream = self._streams.get(group)
        if stream is not None and stream.expires_at <= now:
            del self._streams[group]
            return None
        return stream
