"""The in-memory channel layer (spec section 2.2): one process, many threads.

It is what ``manage.py runserver`` and the test helpers run on. As in 1.x,
a receiver gets a deep copy of the message as it was sent: later changes by
the sender do not show, and tuples stay tuples (a network layer hands them
back as lists). Unlike the 1.x reference layer it honours
``channel_capacity``, checks that a message could travel over a network
layer (value types, ``MessageTooLarge``), and a blocking ``receive`` really
sleeps on a condition variable until a message arrives, so idle threads use
no CPU. It has the ``inspect`` extension too (heartbeats and the view of
its channels and groups), so ``runserver`` and the tests see what Redis
users see.
"""

from __future__ import annotations

import copy
import random
import string
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from . import serialization
from ._history import GroupHistory, MemoryHistory, check_after, check_history_options, fill_offset
from ._presence import PRESENCE_EXTENSION, PresenceTable, check_ttl
from .base_layer import (
    DEFAULT_MAX_MESSAGE_SIZE,
    BaseChannelLayer,
    CapacityPatterns,
    process_sort_key,
)

__all__ = ["ChannelLayer", "channel_layer"]


class ChannelLayer(BaseChannelLayer):
    """A thread-safe channel layer living in this process's memory."""

    extensions = ["groups", "flush", "inspect", PRESENCE_EXTENSION, "history"]

    #: How long a blocking receive waits before returning ``(None, None)``;
    #: callers loop, so this only bounds how late they notice a shutdown.
    blocking_timeout = 1.0

    def __init__(
        self,
        expiry: float = 60,
        group_expiry: float = 86400,
        capacity: int = 10,
        channel_capacity: CapacityPatterns | None = None,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            expiry=expiry,
            group_expiry=group_expiry,
            capacity=capacity,
            channel_capacity=channel_capacity,
            max_message_size=max_message_size,
        )
        self._clock = clock
        self._condition = threading.Condition()
        # non-local name -> deque of (expires_at, full channel name, message
        # copy, whether other queues hold the same copy)
        self._channels: dict[str, deque[tuple[float, str, dict[str, Any], bool]]] = {}
        # group -> {channel: time added}
        self._groups: dict[str, dict[str, float]] = {}
        # process id -> (expires_at, a copy of its heartbeat record)
        self._processes: dict[str, tuple[float, dict[str, Any]]] = {}
        self._history = MemoryHistory()
        self._next_sweep = 0.0
        self._presence = PresenceTable(clock)

    # -- core API ------------------------------------------------------------------

    def send(self, channel: str, message: dict[str, Any]) -> None:
        self.check_message_type(message)
        self.valid_channel_name(channel)
        snapshot = self._snapshot(channel, message)
        queue_name = self.non_local_name(channel)
        with self._condition:
            self._maybe_sweep()
            queue = self._channels.setdefault(queue_name, deque())
            self._drop_expired(queue)
            if len(queue) >= self.get_capacity(channel):
                raise self.ChannelFull(channel)
            queue.append((self._clock() + self.expiry, channel, snapshot, False))
            self._condition.notify_all()

    def receive(self, channels: list[str], block: bool = False) -> tuple[str | None, Any]:
        self.valid_channel_names(channels, receive=True)
        names = list(channels)
        deadline = self._clock() + self.blocking_timeout
        with self._condition:
            while True:
                self._maybe_sweep()
                random.shuffle(names)
                for name in names:
                    queue = self._channels.get(name)
                    if queue is None:
                        continue
                    self._drop_expired(queue)
                    if not queue:
                        del self._channels[name]
                        continue
                    _, full_name, message, shared = queue.popleft()
                    if not queue:
                        del self._channels[name]
                    # a group message's copy is shared by its members' queues
                    return full_name, _deep_copy(message) if shared else message
                remaining = deadline - self._clock()
                if not block or remaining <= 0:
                    return None, None
                self._condition.wait(min(remaining, self._next_expiry_delay()))

    def new_channel(self, pattern: str) -> str:
        if not isinstance(pattern, str) or not pattern.endswith("?"):
            raise TypeError(
                f"new_channel() takes a pattern ending in '?', got {pattern!r}; "
                "process-specific '!' names are made by the process itself"
            )
        with self._condition:
            while True:
                name = pattern + "".join(random.choices(string.ascii_letters, k=12))
                if name not in self._channels:
                    self.valid_channel_name(name)
                    return name

    # -- groups --------------------------------------------------------------------

    def group_add(self, group: str, channel: str) -> None:
        self.valid_group_name(group)
        self.valid_channel_name(channel)
        with self._condition:
            self._groups.setdefault(group, {})[channel] = self._clock()

    def group_discard(self, group: str, channel: str) -> None:
        self.valid_group_name(group)
        self.valid_channel_name(channel)
        with self._condition:
            members = self._groups.get(group)
            if members is not None:
                members.pop(channel, None)
                if not members:
                    del self._groups[group]

    def group_channels(self, group: str) -> list[str]:
        self.valid_group_name(group)
        with self._condition:
            return list(self._live_members(group))

    def send_group(self, group: str, message: dict[str, Any]) -> None:
        self.check_message_type(message)
        self.valid_group_name(group)
        snapshot = self._snapshot(group, message)
        with self._condition:
            self._maybe_sweep()
            self._fan_out(group, snapshot)

    def _fan_out(self, group: str, snapshot: dict[str, Any]) -> None:
        """Queue one shared copy for every live member (the caller holds the lock)."""
        expires_at = self._clock() + self.expiry
        for channel in self._live_members(group):
            queue = self._channels.setdefault(self.non_local_name(channel), deque())
            self._drop_expired(queue)
            if len(queue) < self.get_capacity(channel):
                queue.append((expires_at, channel, snapshot, True))
        self._condition.notify_all()

    # -- history -------------------------------------------------------------------

    def send_group_history(self, group: str, message: dict[str, Any], size: int, ttl: float) -> int:
        """``send_group`` that numbers the message and keeps it in the
        group's history (the last ``size`` messages, ``ttl`` seconds after
        the last send); returns its offset. The mark
        ``asgi._history.OFFSET_MARK`` in its text values becomes the offset."""
        self.check_message_type(message)
        self.valid_group_name(group)
        check_history_options(size, ttl)
        snapshot = self._snapshot(group, message)
        with self._condition:
            self._maybe_sweep()
            offset = self._history.append(group, self._clock(), ttl)
            numbered = fill_offset(snapshot, offset)
            self._history.store(group, offset, numbered, size)
            self._fan_out(group, numbered)
        return offset

    def group_history(self, group: str, after: int = 0) -> GroupHistory:
        """The messages of ``group``'s history after offset ``after``, oldest first."""
        self.valid_group_name(group)
        check_after(after)
        with self._condition:
            entries, gap, last = self._history.read(group, after, self._clock())
            messages = [(offset, _deep_copy(message)) for offset, message in entries]
        return GroupHistory(messages, gap, last)

    # -- presence (see asgi._presence) ---------------------------------------------

    def presence_join(self, presence: str, channel: str, meta: dict[str, Any], ttl: float) -> bool:
        self.valid_group_name(presence)
        self.valid_channel_name(channel)
        self.check_message_type(meta)
        snapshot = self._snapshot(presence, meta)
        with self._condition:
            return self._presence.join(presence, channel, snapshot, check_ttl(ttl))

    def presence_touch(self, presence: str, channel: str, ttl: float) -> bool:
        self.valid_group_name(presence)
        with self._condition:
            return self._presence.touch(presence, channel, check_ttl(ttl))

    def presence_leave(self, presence: str, channel: str) -> dict[str, Any] | None:
        self.valid_group_name(presence)
        with self._condition:
            meta = self._presence.leave(presence, channel)
        return None if meta is None else _deep_copy(meta)

    def presence_members(self, presence: str) -> dict[str, dict[str, Any]]:
        self.valid_group_name(presence)
        with self._condition:
            members = self._presence.members(presence)
        return {channel: _deep_copy(meta) for channel, meta in members.items()}

    def presence_reap(self, presence: str) -> dict[str, dict[str, Any]]:
        self.valid_group_name(presence)
        with self._condition:
            return self._presence.reap(presence)

    # -- flush ---------------------------------------------------------------------

    def flush(self) -> None:
        with self._condition:
            self._channels.clear()
            self._groups.clear()
            self._processes.clear()
            self._presence.clear()
            self._history.clear()

    # -- inspect -------------------------------------------------------------------
    # Read-only for messages: inspecting drops none (an expired one is left for the
    # next send or receive to drop, with the group eviction that implies).

    def heartbeat(self, record: dict[str, Any], ttl: float) -> None:
        process_id = self.check_heartbeat(record, ttl)
        copied = _deep_copy(record)
        with self._condition:
            self._processes[process_id] = (self._clock() + ttl, copied)

    def heartbeat_remove(self, process_id: str) -> None:
        self.check_process_id(process_id)
        with self._condition:
            self._processes.pop(process_id, None)

    def inspect_processes(self) -> list[dict[str, Any]]:
        with self._condition:
            now = self._clock()
            for process_id in [p for p, (until, _) in self._processes.items() if until <= now]:
                del self._processes[process_id]
            records = [_deep_copy(record) for _, record in self._processes.values()]
        return sorted(records, key=process_sort_key)

    def inspect_channels(self, channels: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Process-specific channels are reported under their full names
        (each queued message knows it); a named ``prefix!`` covers its
        whole process inbox."""
        names = self.inspected_names(channels)
        with self._condition:
            now = self._clock()
            # full channel name -> [depth, time the oldest was sent]
            waiting: dict[str, list[float]] = {}
            inboxes: dict[str, list[float]] = {}
            for queue_name, queue in self._channels.items():
                for expires_at, full_name, _, _ in queue:
                    if expires_at <= now:
                        continue
                    sent_at = expires_at - self.expiry
                    for bucket, key in ((waiting, full_name), (inboxes, queue_name)):
                        entry = bucket.setdefault(key, [0, sent_at])
                        entry[0] += 1
                        entry[1] = min(entry[1], sent_at)
        if names is None:
            names = list(waiting)
        result = []
        for name in sorted(names):
            depth, sent_at = (inboxes if name.endswith("!") else waiting).get(name, (0, now))
            result.append(
                {
                    "channel": name,
                    "depth": int(depth),
                    "capacity": self.get_capacity(name),
                    "oldest_age": max(now - sent_at, 0.0) if depth else None,
                }
            )
        return result

    def inspect_groups(self, members: bool = False) -> list[dict[str, Any]]:
        with self._condition:
            cutoff = self._clock() - self.group_expiry
            groups = {
                group: [channel for channel, added in members.items() if added > cutoff]
                for group, members in self._groups.items()
            }
        result = []
        for group, channels in sorted(groups.items()):
            if not channels:
                continue
            entry: dict[str, Any] = {"group": group, "size": len(channels)}
            if members:
                entry["members"] = sorted(channels)
            result.append(entry)
        return result

    def inspect_shards(self) -> list[dict[str, Any]]:
        return [{"shard": "memory", "reachable": True, "latency": 0.0}]

    # -- internals -----------------------------------------------------------------

    def _snapshot(self, target: str, message: dict[str, Any]) -> dict[str, Any]:
        """A deep copy of ``message`` to queue, once it is known to fit a
        network layer: encoding checks its value types and measures its size
        (the encoded bytes are not kept; the copy keeps tuples as tuples)."""
        self.check_message_size(len(serialization.dumps(message)), target)
        copied: dict[str, Any] = _deep_copy(message)
        return copied

    def _next_expiry_delay(self) -> float:
        earliest = min((queue[0][0] for queue in self._channels.values() if queue), default=None)
        if earliest is None:
            return self.blocking_timeout
        return max(earliest - self._clock(), 0.001)

    def _drop_expired(self, queue: deque[tuple[float, str, dict[str, Any], bool]]) -> None:
        """Drop the expired head of one queue (the caller holds the lock).

        A channel whose message expired unread is evicted from every group:
        its reader is most likely gone, and the spec allows dropping it.
        """
        now = self._clock()
        evicted = set()
        while queue and queue[0][0] <= now:
            evicted.add(queue.popleft()[1])
        if evicted:
            self._remove_from_groups(evicted)

    def _live_members(self, group: str) -> list[str]:
        """Members of ``group`` added less than ``group_expiry`` ago; drops the rest."""
        members = self._groups.get(group)
        if not members:
            return []
        cutoff = self._clock() - self.group_expiry
        for channel in [c for c, added in members.items() if added <= cutoff]:
            del members[channel]
        if not members:
            del self._groups[group]
        return list(members)

    def _maybe_sweep(self) -> None:
        """At most once a second, expire everything, so memory stays bounded
        even for channels nobody reads and groups nobody sends to."""
        now = self._clock()
        if now < self._next_sweep:
            return
        self._next_sweep = now + 1.0
        for name in list(self._channels):
            queue = self._channels[name]
            self._drop_expired(queue)
            if not queue:
                del self._channels[name]
        for group in list(self._groups):
            self._live_members(group)
        self._history.sweep(now)

    def _remove_from_groups(self, channels: set[str]) -> None:
        for group in list(self._groups):
            members = self._groups[group]
            for channel in channels:
                members.pop(channel, None)
            if not members:
                del self._groups[group]


#: Values that are immutable and hold nothing: shared, never copied.
_ATOMS = frozenset({str, bytes, int, float, bool, type(None)})


def _deep_copy(value: Any) -> Any:
    """``copy.deepcopy(value)`` for a message, about four times faster.

    Plain dicts, lists and tuples of the message value types are copied here
    (a tuple of atoms is kept, as ``deepcopy`` keeps it); anything else,
    such as a dict or str subclass, goes to ``copy.deepcopy``, so its type
    survives. Unlike ``deepcopy`` it does not preserve sharing: a list that
    appears twice in the message is copied twice. Recursion is bounded by
    the nesting limit the encoder enforced first.
    """
    kind = type(value)
    if kind is dict:
        copied = value.copy()
        for key, item in value.items():
            if type(item) not in _ATOMS:
                copied[key] = _deep_copy(item)
        return copied
    if kind is list:
        copied = value[:]
        for index, item in enumerate(value):
            if type(item) not in _ATOMS:
                copied[index] = _deep_copy(item)
        return copied
    if kind is tuple:
        for item in value:
            if type(item) not in _ATOMS:
                return tuple([x if type(x) in _ATOMS else _deep_copy(x) for x in value])
        return value
    if kind in _ATOMS:
        return value
    return copy.deepcopy(value)


#: A module-level layer, for code that imports ``asgi.inmemory.channel_layer``.
channel_layer = ChannelLayer()
