"""The ``statistics`` extension of the Redis layer.

See docs/asgi/layers.rst, "Extensions", and docs/topics/backends.rst,
"Statistics".

Each process counts its own sends (:class:`SendCounts`) and adds the counts
to the Redis counters once a second, a handful of commands per channel per
second instead of four per message; group sends count inside their script.
A process's counts therefore reach Redis within about a second (at once for
the process that reads its statistics, and at exit). By default the two
methods return exactly 1.x's keys; with ``detailed=True`` they add the
per-second rates (the mean over the last ten whole seconds, from
per-second buckets).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from ._codec import parse_item
from ._ring import ShardRing
from ._scripts import STAT_BUCKET_SECONDS
from .exceptions import RedisUnavailable

logger = logging.getLogger(__name__)

__all__ = [
    "SendCounts",
    "background",
    "STAT_CHANNEL_FULL",
    "STAT_MESSAGES_COUNT",
    "STAT_MESSAGES_MAX_AGE",
    "STAT_MESSAGES_PENDING",
    "Statistics",
]

STAT_MESSAGES_COUNT = "messages_count"
STAT_MESSAGES_PENDING = "messages_pending"
STAT_MESSAGES_MAX_AGE = "messages_max_age"
STAT_CHANNEL_FULL = "channel_full_count"

#: Per-second rates average this many whole seconds.
RATE_WINDOW = 10

#: The counters every process adds to, in the order they are read.
_COUNTED = (STAT_MESSAGES_COUNT, STAT_CHANNEL_FULL)


#: Seconds between two additions of a process's counts to Redis.
FLUSH_INTERVAL = 1.0


class SendCounts:
    """This process's not-yet-written counts: ``(shard index, counter key,
    unix second) -> n``. Thread-safe; forgotten in a forked child (they are
    the parent's to write)."""

    def __init__(self) -> None:
        self._counts: dict[tuple[int, str, int], int] = {}
        self._lock = threading.Lock()
        # Told by the fork itself rather than comparing os.getpid() on every
        # count: a system call per message (2 % of daphne under echo load).
        _forget_in_children.add(self)

    def __bool__(self) -> bool:
        return bool(self._counts)

    def forget_parents_counts(self) -> None:
        """In a forked child: drop the parent's counts, with a fresh lock (the
        parent's may have been held by another thread at the fork)."""
        self._counts = {}
        self._lock = threading.Lock()

    def add(self, shard: int, keys: tuple[str, ...]) -> bool:
        """Count one event under each key; True when these are the first
        counts since the last write."""
        second = int(time.time())
        with self._lock:
            counts = self._counts
            first = not counts
            for key in keys:
                slot = (shard, key, second)
                counts[slot] = counts.get(slot, 0) + 1
        return first

    def take(self) -> dict[tuple[int, str, int], int]:
        with self._lock:
            taken, self._counts = self._counts, {}
        return taken

    def put_back(self, counts: dict[tuple[int, str, int], int]) -> None:
        """Keep counts whose write failed for the next try."""
        with self._lock:
            for slot, n in counts.items():
                self._counts[slot] = self._counts.get(slot, 0) + n


#: Every SendCounts alive; each forgets its counts in a forked child.
_forget_in_children: weakref.WeakSet[SendCounts] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for counts in list(_forget_in_children):
        counts.forget_parents_counts()


os.register_at_fork(after_in_child=_after_fork_in_child)


class _Background:
    """One daemon thread per process that does every layer's deferred writes
    (``flush_background``: statistics counts, TTLs of new queues) once a
    second; layers are held weakly, so a dropped layer is not kept alive."""

    def __init__(self) -> None:
        self._layers: weakref.WeakSet = weakref.WeakSet()
        self._lock = threading.Lock()
        self._pid: int | None = None

    def watch(self, layer: Any) -> None:
        with self._lock:
            self._layers.add(layer)
            if self._pid != os.getpid():
                self._pid = os.getpid()
                thread = threading.Thread(
                    target=self._run, name="asgi_redis background", daemon=True
                )
                thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(FLUSH_INTERVAL)
            self.flush_all()

    def flush_all(self) -> None:
        with self._lock:
            layers = list(self._layers)
        for layer in layers:
            try:
                layer.flush_background()
            except Exception as exc:  # noqa: BLE001 - a bad moment must not end the thread
                logger.debug("Deferred writes not made yet: %r", exc)


#: The process's background writer (also run at exit).
background = _Background()
atexit.register(background.flush_all)


class Statistics:
    """This process's counting and the reading of the counters, on the
    shards of ``ring``: counters live under ``stats_prefix`` (empty: no
    counting), queues under ``prefix``; ``expiry_ms`` is a message's
    lifetime (a queue head's age is read from its deadline). ``watch`` is
    called when counts start to wait for the background writer.

    The counters' lifetimes (``global_expiry``, ``channel_expiry``) are
    passed to each call: they are the layer's tunable class attributes.
    """

    def __init__(
        self,
        ring: ShardRing,
        *,
        prefix: str,
        stats_prefix: str,
        expiry_ms: int,
        global_key: str,
        watch: Callable[[], None],
    ) -> None:
        self.ring = ring
        self.prefix = prefix
        self.stats_prefix = stats_prefix
        self.expiry_ms = expiry_ms
        self.global_key = global_key
        self.watch = watch
        #: Counts not written yet; None when statistics are off.
        self.counts: SendCounts | None = SendCounts() if stats_prefix else None
        self._keys: dict[tuple[int, str, str], tuple[str, str]] = {}

    def use_prefix(self, prefix: str) -> None:
        """Find the queues (for their backlog) under ``prefix`` from now on."""
        self.prefix = prefix

    def use_stats_prefix(self, stats_prefix: str) -> None:
        """Count under ``stats_prefix`` from now on ('' stops counting)."""
        self.stats_prefix = stats_prefix
        self._keys.clear()
        if not stats_prefix:
            self.counts = None
        elif self.counts is None:
            self.counts = SendCounts()

    def count(self, shard: int, queue: str, stat: str) -> None:
        """Count one event of ``stat`` for ``queue`` (and globally)."""
        counts = self.counts
        if counts is None:
            return
        keys = self._keys.get((shard, queue, stat))
        if keys is None:
            prefix = self.stats_prefix + self.ring.shards[shard].tag
            keys = (f"{prefix}{queue}:{stat}", f"{prefix}{self.global_key}:{stat}")
            if len(self._keys) >= 10_000:
                self._keys.clear()
            self._keys[(shard, queue, stat)] = keys
        if counts.add(shard, keys):
            self.watch()

    def forget(self) -> None:
        """Drop the counts not written yet (the layer was flushed)."""
        if self.counts is not None:
            self.counts.take()

    def flush(self, global_expiry: int, channel_expiry: int) -> None:
        """Write this process's pending counts to Redis now."""
        counts = self.counts
        if not counts:
            return
        taken = counts.take()
        by_shard: dict[int, dict[tuple[str, int], int]] = {}
        for (shard, key, second), n in taken.items():
            by_shard.setdefault(shard, {})[(key, second)] = n
        for index, slots in by_shard.items():
            global_base = f"{self.stats_prefix}{self.ring.shards[index].tag}{self.global_key}:"
            totals: dict[str, int] = {}
            commands: list[tuple] = []
            for (key, second), n in slots.items():
                totals[key] = totals.get(key, 0) + n
                bucket = f"{key}@{second}"
                commands.append(("INCRBY", bucket, n))
                commands.append(("EXPIRE", bucket, STAT_BUCKET_SECONDS))
            for key, n in totals.items():
                ttl = global_expiry if key.startswith(global_base) else channel_expiry
                commands.append(("INCRBY", key, n))
                commands.append(("EXPIRE", key, ttl))
            try:
                self.ring.shards[index].call_many(commands)
            except RedisUnavailable:
                counts.put_back({(index, k, sec): n for (k, sec), n in slots.items()})
                raise

    def group_send_args(self, global_expiry: int, channel_expiry: int) -> tuple[str, int, str, int]:
        """The group-send script's counting arguments: the prefix, the
        channel counters' lifetime, and the global counters' base and
        lifetime (an empty base turns the global counting off)."""
        if not self.stats_prefix:
            return self.stats_prefix, channel_expiry, "", 0
        return (
            self.stats_prefix,
            channel_expiry,
            f"{self.stats_prefix}{self.global_key}:",
            global_expiry,
        )

    def _read_counters(self, shards: list, name: str, detailed: bool) -> dict[str, float]:
        """``messages_count`` and ``channel_full_count`` of ``name`` (a queue
        or the global key, with its ``:``) under the stats prefix, summed over
        ``shards``; with ``detailed``, their per-second rates too."""
        stats: dict[str, float] = {STAT_MESSAGES_COUNT: 0, STAT_CHANNEL_FULL: 0}
        if detailed:
            for stat in _COUNTED:
                stats[f"{stat}_per_second"] = 0.0
        width = RATE_WINDOW + 1 if detailed else 1
        for shard in shards:
            keys = []
            base = self.stats_prefix + shard.tag + name
            second = int(shard.server_time_ms() // 1000) if detailed else 0
            for stat in _COUNTED:
                keys.append(f"{base}{stat}")
                if detailed:
                    keys.extend(f"{base}{stat}@{second - n}" for n in range(1, RATE_WINDOW + 1))
            values = [int(v or 0) for v in shard.call("MGET", *keys)]
            for index, stat in enumerate(_COUNTED):
                chunk = values[index * width : (index + 1) * width]
                stats[stat] += chunk[0]
                if detailed:
                    stats[f"{stat}_per_second"] += sum(chunk[1:]) / RATE_WINDOW
        return stats

    def global_statistics(self, detailed: bool) -> dict[str, float]:
        """The global counters over every shard (see ``RedisChannelLayer.global_statistics``)."""
        return self._read_counters(self.ring.shards, f"{self.global_key}:", detailed)

    def channel_statistics(self, queue: str, detailed: bool) -> dict[str, float]:
        """The counters and backlog of ``queue`` (see ``RedisChannelLayer.channel_statistics``)."""
        shards = self.ring.queue_shards(queue)
        stats = self._read_counters(shards, f"{queue}:", detailed)
        pending, max_age = self._queue_backlog(shards, queue)
        stats[STAT_MESSAGES_PENDING] = pending
        stats[STAT_MESSAGES_MAX_AGE] = round(max_age, 3) if detailed else int(max_age)
        return stats

    def _queue_backlog(self, shards: list, queue: str) -> tuple[int, float]:
        """How many messages wait in ``queue``'s list over ``shards``, and the
        age in seconds of the oldest head among them."""
        pending, max_age = 0, 0.0
        for shard in shards:
            key = self.prefix + shard.tag + queue
            pending += int(shard.call("LLEN", key))
            head = shard.call("LINDEX", key, 0)
            if head:
                deadline, _, _ = parse_item(head)
                age = (shard.server_time_ms() - (deadline - self.expiry_ms)) / 1000
                max_age = max(max_age, age)
        return pending, max(max_age, 0.0)
