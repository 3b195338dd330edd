"""The Redis channel layer: ``RedisChannelLayer``.

See docs/topics/backends.rst, "How a message travels".

The message path, in round trips and Redis commands: ``send`` is one
``RPUSH`` (a ``PEXPIRE`` rides along when the push creates the queue or
the queue's TTL is due for renewal; a script runs only when the queue is
full); ``receive`` is one ``LMPOP`` (non-blocking) or one ``BLPOP``/
``BLMPOP`` (blocking, woken by the server the moment a message lands, so
nothing polls); ``send_group`` is one script call per shard whatever the
group's size. Statistics are counted in the process and written once a
second. :mod:`asgi_redis._scripts` documents the data layout.

Sharding: process-specific (``!``) and single-reader (``?``) channels live
on the shard their name hashes to, so one process's inbox is one list on
one server. Sends to normal channels go round the shards; a blocking
receive on normal channels waits on every shard at once.
"""

from __future__ import annotations

import itertools
import logging
import random
import string
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

import redis

from asgi import serialization
from asgi.base_layer import DEFAULT_MAX_MESSAGE_SIZE, BaseChannelLayer, CapacityPatterns

from . import _scripts
from ._async import AsyncReceiveMixin
from ._buffer import ReceiveBuffer
from ._codec import Encryptor, consistent_hash, item_tail, parse_item
from ._groups import GroupsMixin
from ._leases import LeasesMixin
from ._link import DEFAULT_SPIN, ready_links
from ._shard import Script, Shard
from ._stats import (
    STAT_CHANNEL_FULL,
    STAT_MESSAGES_COUNT,
    STAT_MESSAGES_MAX_AGE,
    STAT_MESSAGES_PENDING,
    SendCounts,
    StatisticsMixin,
    background,
)
from .exceptions import RedisUnavailable, UnsupportedRedis

__all__ = [
    "STAT_CHANNEL_FULL",
    "STAT_MESSAGES_COUNT",
    "STAT_MESSAGES_MAX_AGE",
    "STAT_MESSAGES_PENDING",
    "BaseRedisChannelLayer",
    "RedisChannelLayer",
    "UnsupportedRedis",
]

logger = logging.getLogger(__name__)

SEND_FULL = Script(_scripts.SEND_FULL)
RECEIVE = Script(_scripts.RECEIVE)

_URL_SCHEMES = ("redis", "rediss", "unix")

#: Longest ``spin_wait`` accepted (seconds): polling longer than a loopback
#: round trip or two only burns CPU.
MAX_SPIN_WAIT = 0.001


class BaseRedisChannelLayer(
    GroupsMixin, LeasesMixin, AsyncReceiveMixin, StatisticsMixin, BaseChannelLayer
):
    """Everything but the choice of servers (plain hosts or Sentinel services)."""

    #: Seconds a blocking receive waits before returning ``(None, None)``.
    blpop_timeout = 5
    #: Most messages one receive takes from a process inbox at once; the
    #: rest wait in this process for the next receives (only this process
    #: reads its inbox, so nobody else is kept waiting).
    inbox_batch = 32
    global_statistics_expiry = 86400
    channel_statistics_expiry = 3600

    extensions = ["groups", "flush", "statistics", "twisted", "asyncio", "leases"]

    def __init__(
        self,
        expiry: float = 60,
        hosts: Any = None,
        prefix: str = "asgi:",
        group_expiry: float = 86400,
        capacity: int = 100,
        channel_capacity: CapacityPatterns | None = None,
        symmetric_encryption_keys: list[str] | None = None,
        stats_prefix: str = "asgi-meta:",
        connection_kwargs: dict[str, Any] | None = None,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        spin_wait: float = DEFAULT_SPIN,
    ) -> None:
        _check_positive("expiry", expiry)
        _check_spin_wait(spin_wait)  # before any server is dialled
        _check_positive("group_expiry", group_expiry)
        if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:
            raise ValueError(f"capacity must be a positive int, got {capacity!r}")
        super().__init__(
            expiry=expiry,
            group_expiry=group_expiry,
            capacity=capacity,
            channel_capacity=channel_capacity,
            max_message_size=max_message_size,
        )
        if not isinstance(prefix, str) or not prefix:
            raise TypeError(f"prefix must be a non-empty str, got {prefix!r}")
        if not isinstance(stats_prefix, str):
            raise TypeError(
                f"stats_prefix must be a str ('' turns statistics off), got {stats_prefix!r}"
            )
        self.prefix = prefix
        self.stats_prefix = stats_prefix
        self.client_prefix = "".join(random.choices(string.ascii_letters, k=8))
        self.connection_kwargs = self._check_connection_kwargs(connection_kwargs)
        self.crypter = None
        if symmetric_encryption_keys:
            self.crypter = Encryptor(symmetric_encryption_keys, ttl=int(expiry) + 10)
        self._expiry_ms = int(expiry * 1000)
        self._group_expiry_ms = int(group_expiry * 1000)
        # Queues outlive their newest message by one expiry, so a send_group
        # can still see that a member let a message expire unread. A process
        # renews a queue's TTL at most every half expiry (a push that creates
        # the queue always sets it), hence the extra half expiry.
        self._ttl_renew_s = expiry / 2
        self._queue_ttl_ms = 2 * self._expiry_ms + 1000 + int(self._ttl_renew_s * 1000)
        self._ttl_renewed: dict[tuple[int, str], float] = {}
        self._ttl_due: set[tuple[int, str]] = set()
        self._ttl_lock = threading.Lock()
        self._send_counts = SendCounts() if stats_prefix else None
        self._send_routes: dict[str, tuple] = {}
        self._stat_keys: dict[tuple[str, str], tuple[str, str]] = {}
        self._pop_plans: dict[tuple[str, ...], tuple] = {}
        self._buffer = ReceiveBuffer()
        self._reactor_links: dict[int, Any] = {}
        self._shards: list[Shard] = self._make_shards(hosts)
        for index, shard in enumerate(self._shards):
            shard.index = index
        self.spin_wait = spin_wait
        self.ring_size = len(self._shards)
        self._send_cycle = itertools.cycle(range(self.ring_size))

    # -- configuration ----------------------------------------------------------------

    @property
    def spin_wait(self) -> float:
        """Seconds a call polls its socket for Redis's reply before it sleeps
        (0: sleep at once); set on the servers' link pools."""
        return self._shards[0].links.spin

    @spin_wait.setter
    def spin_wait(self, value: float) -> None:
        _check_spin_wait(value)
        for shard in self._shards:
            shard.links.spin = value

    def _make_shards(self, hosts: Any) -> list[Shard]:
        raise NotImplementedError

    def _check_connection_kwargs(self, connection_kwargs: dict[str, Any] | None) -> dict[str, Any]:
        if connection_kwargs is not None and not isinstance(connection_kwargs, dict):
            raise TypeError(f"connection_kwargs must be a dict, got {connection_kwargs!r}")
        kwargs = dict(connection_kwargs or {})
        socket_timeout = kwargs.get("socket_timeout")
        if socket_timeout is not None and socket_timeout < self.blpop_timeout:
            raise ValueError(
                f"socket_timeout ({socket_timeout}) must be at least the blocking receive "
                f"timeout ({self.blpop_timeout} s), or blocking receives would time out"
            )
        # redis-py 8 defaults socket_timeout to 5 s, the length of a blocking
        # pop; blocking reads here wait longer than the pop anyway, and this
        # bounds every other reply.
        kwargs.setdefault("socket_timeout", self.blpop_timeout + 5)
        kwargs.setdefault("socket_connect_timeout", 5)
        # The layer parses replies itself, in RESP2.
        kwargs.pop("protocol", None)
        return kwargs

    def consistent_hash(self, value: str) -> int:
        """The shard index for a name: stable across processes (CRC32-based)."""
        return consistent_hash(value, self.ring_size)

    def connection(self, index: int | None) -> redis.Redis:
        """A redis-py client for the server of shard ``index`` (None: a random
        one), as 1.x returned, for running any command on it.

        One client per shard, made on first use and kept; it shares the
        shard's connection settings (URL, password, database, TLS, timeouts;
        the current master for Sentinel). The layer's own traffic does not
        go through it. An index out of range raises ValueError.
        """
        shard = self.shard(index)
        client = shard.client
        if client is None:
            # A race makes a second client on the same pool: harmless.
            client = shard.client = redis.Redis(connection_pool=shard.links.connection_pool)
        return client

    def shard(self, index: int | None) -> Shard:
        """The layer's own handle on shard ``index`` (None: a random one):
        its link pool, scripts and clock. An index out of range raises ValueError."""
        if index is None:
            index = self.random_index()
        if not isinstance(index, int) or not 0 <= index < self.ring_size:
            raise ValueError(
                f"There are only {self.ring_size} shards; index {index!r} is out of range"
            )
        return self._shards[index]

    def random_index(self) -> int:
        return random.randrange(self.ring_size)

    def _queue_shards(self, queue: str) -> list[Shard]:
        """Shards that may hold ``queue``: its own for ``!``/``?`` names, else all."""
        if queue.endswith("!") or "?" in queue:
            return [self._shards[self.consistent_hash(queue)]]
        return self._shards

    # -- encoding ------------------------------------------------------------------

    @staticmethod
    def make_fernet(key: str | bytes) -> Any:
        """The Fernet for one key string (url-safe base64 of its SHA-256)."""
        return Encryptor.make_fernet(key)

    def serialize(self, message: dict) -> bytes:
        data = serialization.dumps(message)
        if self.crypter is not None:
            data = self.crypter.encrypt(data)
        return data

    def deserialize(self, data: bytes) -> dict:
        if self.crypter is not None:
            data = self.crypter.decrypt(data)
        return serialization.loads(data)

    def _encode(self, target: str, message: dict) -> bytes:
        self.check_message_type(message)
        data = serialization.dumps(message)
        self.check_message_size(len(data), target)
        if self.crypter is not None:
            data = self.crypter.encrypt(data)
        return data

    def _result(self, channel: str, payload: bytes) -> tuple[str | None, Any]:
        try:
            return channel, self.deserialize(payload)
        except Exception as exc:  # noqa: BLE001 - a foreign or corrupt message must not kill a reader
            logger.warning("Dropped a message on %r that could not be decoded: %r", channel, exc)
            return None, None

    # -- send ----------------------------------------------------------------------------

    def send(self, channel: str, message: dict) -> None:
        """Queue ``message`` on ``channel`` in one round trip; raises ChannelFull."""
        queue, key, capacity, shard, tail = self._prepare(channel, message)
        if shard is not None:
            if self._push(shard, key, tail, capacity):
                self._count(shard.index, queue, STAT_MESSAGES_COUNT)
                return
            self._count(shard.index, queue, STAT_CHANNEL_FULL)
            raise self._full(channel, capacity)
        self._send_spread(channel, queue, key, capacity, tail)

    def _prepare(self, channel: str, message: dict) -> tuple[str, str, int, Shard | None, bytes]:
        """``(queue, key, capacity, shard or None, item without its deadline)``
        of a send; raises for a bad name or message."""
        self.check_message_type(message)
        route = self._send_routes.get(channel)
        if route is None:
            route = self._send_route(channel)
        queue, key, capacity, shard, targets = route
        return queue, key, capacity, shard, targets + self._encode(channel, message)

    def send_batch(self, messages: Sequence[tuple[str, dict]]) -> list[BaseException | None]:
        """Send several messages in one round trip per shard (a pipeline of
        ``RPUSH``es); for each, None or the exception a ``send`` of it would
        have raised. Messages to one channel keep their order."""
        results: list[BaseException | None] = [None] * len(messages)
        for index, entries in self._batch_entries(messages, results).items():
            self._push_batch(self._shards[index], entries, results)
        return results

    def _batch_entries(
        self, messages: Sequence[tuple[str, dict]], results: list[BaseException | None]
    ) -> dict[int, list[tuple]]:
        """A batch's messages as ``_push_batch`` entries by shard index; a bad
        message gets its exception in ``results``, and one to a channel spread
        over several shards is sent here, on its own."""
        by_shard: dict[int, list[tuple]] = {}
        for position, (channel, message) in enumerate(messages):
            try:
                queue, key, capacity, shard, tail = self._prepare(channel, message)
                if shard is None:
                    self._send_spread(channel, queue, key, capacity, tail)
                    continue
            except Exception as exc:  # noqa: BLE001 - reported per message
                results[position] = exc
                continue
            entry = (position, channel, queue, key, capacity, tail)
            by_shard.setdefault(shard.index, []).append(entry)
        return by_shard

    def _push_batch(
        self, shard: Shard, entries: list[tuple], results: list[BaseException | None]
    ) -> None:
        """:meth:`_push` for several items on one shard, in one write.

        While every queue has room that is the whole batch. From the first
        item that took a queue past its capacity on, that queue's items are
        taken back (newest first) and sent again one by one, so a refused
        message is never overtaken by a later one of the same batch.
        """
        stamp, commands, renews = self._batch_commands(shard, entries)
        try:
            replies = shard.call_many(commands, raise_errors=False)
        except RedisUnavailable as exc:
            self._batch_lost(shard, entries, renews, exc, results)
            return
        overflow = self._batch_replies(shard, entries, renews, replies, results)
        for backlog in overflow.values():
            self._resend_overflow(shard, stamp, backlog, results)

    def _batch_commands(
        self, shard: Shard, entries: list[tuple]
    ) -> tuple[bytes, list[tuple], list[bool]]:
        """The deadline stamp, the ``RPUSH`` (+ ``PEXPIRE``) commands and the
        TTL renewals of a batch's ``entries`` on ``shard``."""
        stamp = b"%013d" % (int(shard.server_time_ms()) + self._expiry_ms)
        now = time.monotonic()
        commands: list[tuple] = []
        renews: list[bool] = []
        for entry in entries:
            renew = self._renewal_due((shard.index, entry[3]), now)
            commands.append(("RPUSH", entry[3], stamp + entry[5]))
            if renew:
                commands.append(("PEXPIRE", entry[3], self._queue_ttl_ms))
            renews.append(renew)
        return stamp, commands, renews

    def _batch_lost(
        self,
        shard: Shard,
        entries: list[tuple],
        renews: list[bool],
        error: Exception,
        results: list[BaseException | None],
    ) -> None:
        """A batch's write failed: every entry gets ``error``; its TTL
        renewals are forgotten, to be made next time."""
        for entry, renew in zip(entries, renews):
            results[entry[0]] = error
            if renew:
                self._ttl_renewed.pop((shard.index, entry[3]), None)

    def _batch_replies(
        self,
        shard: Shard,
        entries: list[tuple],
        renews: list[bool],
        replies: list[Any],
        results: list[BaseException | None],
    ) -> dict[str, list[tuple]]:
        """Read a batch's replies into ``results``; returns, per queue that
        went past its capacity, its entries from the first one that did."""
        replies = iter(replies)
        overflow: dict[str, list[tuple]] = {}
        for entry, renew in zip(entries, renews):
            position, _, queue, key, capacity, _ = entry
            length = next(replies)
            if renew:
                next(replies)
            if key in overflow:
                overflow[key].append(entry)
            elif isinstance(length, Exception):
                results[position] = length
            elif length > capacity:
                overflow[key] = [entry]
            else:
                if not renew and length == 1:
                    self._defer_ttl((shard.index, key))
                self._count(shard.index, queue, STAT_MESSAGES_COUNT)
        return overflow

    def _resend_overflow(
        self, shard: Shard, stamp: bytes, backlog: list[tuple], results: list[BaseException | None]
    ) -> None:
        """Take back a batch's items from a queue's first overflowing one on,
        then send them one at a time until one is refused (it and the rest
        fail with ChannelFull). Items a reader took meanwhile stay delivered:
        readers pop from the head, so those are the oldest of the backlog."""
        key = backlog[0][3]
        try:
            removed = shard.call_many(
                [("LREM", key, -1, stamp + entry[5]) for entry in reversed(backlog)]
            )
        except RedisUnavailable as exc:
            for entry in backlog:
                results[entry[0]] = exc
            return
        taken_back = sum(1 for count in removed if count)
        delivered = backlog[: len(backlog) - taken_back]
        for _, _, queue, _, _, _ in delivered:
            self._count(shard.index, queue, STAT_MESSAGES_COUNT)
        refused = False
        for position, channel, queue, _, capacity, tail in backlog[len(delivered) :]:
            if not refused:
                try:
                    if self._push(shard, key, tail, capacity):
                        self._count(shard.index, queue, STAT_MESSAGES_COUNT)
                        continue
                except Exception as exc:  # noqa: BLE001 - reported per message
                    results[position] = exc
                    continue
                refused = True
            self._count(shard.index, queue, STAT_CHANNEL_FULL)
            results[position] = self._full(channel, capacity)

    def _full(self, channel: str, capacity: int) -> Exception:
        return self.ChannelFull(f"Channel {channel!r} is at its capacity of {capacity} messages")

    def _send_route(self, channel: str) -> tuple[str, str, int, Shard | None, bytes]:
        """What a send to ``channel`` needs besides the message, worked out once
        per name: ``(queue, key, capacity, its shard or None when the channel
        is spread over the shards, the item's targets part)``."""
        self.valid_channel_name(channel)
        queue = self.non_local_name(channel)
        shard = None
        if queue != channel or "?" in channel or self.ring_size == 1:
            shard = self._shards[self.consistent_hash(queue)]
        targets = item_tail(channel if queue != channel else "", b"")
        route = (queue, self.prefix + queue, self.get_capacity(channel), shard, targets)
        if len(self._send_routes) >= 10_000:
            self._send_routes.clear()
        self._send_routes[channel] = route
        return route

    def _send_spread(self, channel: str, queue: str, key: str, capacity: int, tail: bytes) -> None:
        """A send to a normal channel over several shards. Its messages are
        spread over the shards, and its capacity is split between them (shard
        i holds capacity // n, the first capacity % n one more); a full shard
        passes the message on, so ChannelFull comes exactly at the channel's
        capacity."""
        first = next(self._send_cycle)
        base, extra = divmod(capacity, self.ring_size)
        attempts = [
            (self._shards[i], base + (i < extra))
            for i in itertools.chain(range(first, self.ring_size), range(first))
            if base + (i < extra)
        ]
        # Shards that failed a moment ago go last: while one is down, its
        # share of the traffic goes to the others.
        attempts.sort(key=lambda attempt: not attempt[0].available)
        last = len(attempts) - 1
        errors: list[RedisUnavailable] = []
        for shard, shard_capacity in attempts:
            try:
                if self._push(shard, key, tail, shard_capacity):
                    self._count(shard.index, queue, STAT_MESSAGES_COUNT)
                    return
            except RedisUnavailable as exc:
                if last == 0:
                    raise
                self._shard_failed(shard, exc)
                errors.append(exc)
        if len(errors) == len(attempts):
            raise errors[0]
        self._count(attempts[-1][0].index, queue, STAT_CHANNEL_FULL)
        raise self._full(channel, capacity)

    def _push(self, shard: Shard, key: str, tail: bytes, capacity: int) -> bool:
        """Queue one item on ``shard``; False when the queue is full.

        One ``RPUSH`` is the whole send while the queue has room; only a push
        that goes past the capacity runs a script (which takes the item back
        unless expired messages make room). TTLs: the first push of this
        process to a queue, and one every ``_ttl_renew_s`` after that, carry
        a ``PEXPIRE`` in the same write; a push that created the queue in
        between leaves its ``PEXPIRE`` to the background thread, which sets
        the TTLs of all such queues together within a second (a queue that is
        created and emptied a thousand times a second costs one ``PEXPIRE``
        a second, not a thousand).
        """
        item = b"%013d" % (int(shard.server_time_ms()) + self._expiry_ms) + tail
        slot = (shard.index, key)
        renew = self._renewal_due(slot, time.monotonic())
        try:
            length = shard.push(key, item, self._queue_ttl_ms, renew)
        except BaseException:
            if renew:
                self._ttl_renewed.pop(slot, None)
            raise
        if length == 1 and not renew:
            self._defer_ttl(slot)
        if length <= capacity:
            return True
        return bool(shard.run(SEND_FULL, (key,), (item, capacity, self._queue_ttl_ms)))

    def _renewal_due(self, slot: tuple[int, str], now: float) -> bool:
        """Whether a push to ``slot`` (shard index, key) carries a ``PEXPIRE``:
        the first of this process, then one every ``_ttl_renew_s``. A due
        renewal counts as made; a caller whose write fails forgets it again."""
        renewed = self._ttl_renewed
        if now - renewed.get(slot, -1e9) <= self._ttl_renew_s:
            return False
        if len(renewed) > 50_000:
            renewed.clear()
        renewed[slot] = now
        return True

    def _defer_ttl(self, slot: tuple[int, str]) -> None:
        if slot in self._ttl_due:
            return  # already due (a queue created and emptied again and again)
        with self._ttl_lock:
            self._ttl_due.add(slot)
        background.watch(self)

    def _set_deferred_ttls(self) -> None:
        """Give the queues created by pushes without a ``PEXPIRE`` their TTL:
        one pipelined write per shard."""
        with self._ttl_lock:
            due, self._ttl_due = self._ttl_due, set()
        by_shard: dict[int, list[tuple]] = {}
        for index, key in due:
            by_shard.setdefault(index, []).append(("PEXPIRE", key, self._queue_ttl_ms))
        now = time.monotonic()
        for index, commands in by_shard.items():
            try:
                self._shards[index].call_many(commands)
            except RedisUnavailable:
                with self._ttl_lock:
                    self._ttl_due.update((index, command[1]) for command in commands)
                raise
            for _, key, _ in commands:
                self._ttl_renewed[(index, key)] = now

    def flush_background(self) -> None:
        """Do now what this process's background thread does every second:
        set the TTLs of queues its pushes created and write its statistics
        counts (also done at exit)."""
        self._set_deferred_ttls()
        self.flush_statistics()

    def _shard_failed(self, shard: Shard, error: Exception) -> None:
        """Leave a failing shard out of normal-channel traffic for a moment."""
        if shard.mark_down():
            logger.warning("%s; normal channels use the other shards until it answers again", error)

    # -- receive -------------------------------------------------------------------------

    def receive(self, channels: list[str], block: bool = False) -> tuple[str | None, Any]:
        """``(channel, message)`` from any of ``channels``, or ``(None, None)``.

        With ``block=True`` waits up to ``blpop_timeout`` seconds inside Redis
        (BLPOP on every shard concerned); the caller is woken the moment a
        message lands.
        """
        if not block and not self._buffer and self.ring_size == 1:
            # The hot non-blocking case: the keys and pop size per channel
            # list are worked out once.
            known = self._pop_plans.get(tuple(channels))
            if known is None:
                known = self._pop_plan(channels)
            return self._pop_from(*known)
        self.valid_channel_names(channels, receive=True)
        queues = list(dict.fromkeys(channels))
        if self._buffer:
            buffered = self._buffer.take(queues)
            if buffered is not None:
                return self._result(*buffered)
        plan = self._plan(queues)
        if not block or len(plan) > 1:
            # Several shards: look for a waiting message first (one round trip
            # when busy) before the heavier blocking watch of every shard.
            result = self._pop_now(plan)
            if result[0] is not None or not block:
                return result
        if len(plan) == 1:
            ((shard, keys),) = plan
            for reply in self._blocking_pops(shard, keys, self._pop_count(keys)):
                result = self._accept(shard, reply)
                if result[0] is not None:
                    return result
            return None, None
        deadline = time.monotonic() + self.blpop_timeout
        while (remaining := deadline - time.monotonic()) > 0:
            result = self._watch(plan, remaining)
            if result[0] is not None:
                return result
        return None, None

    def _blocking_pops(self, shard: Shard, keys: list[bytes], count: int) -> Iterator[list]:
        """Each ``[key, item, ...]`` of blocking pops on ``shard`` until one
        finds nothing or ``blpop_timeout`` has passed (a caller stops early
        once a popped message is unexpired)."""
        deadline = time.monotonic() + self.blpop_timeout
        while (remaining := deadline - time.monotonic()) > 0:
            reply = shard.blpop(keys, remaining, count)
            if reply is None:
                return
            yield reply

    def receive_batch(
        self, channels: list[str], block: bool = False, limit: int = 1
    ) -> list[tuple[str, dict]]:
        """Up to ``limit`` messages of one channel in one round trip (``LMPOP``/
        ``BLMPOP ... COUNT``), for a worker that handles a backlog in batches.
        With several shards, or messages already buffered in this process, it
        returns one message like :meth:`receive`."""
        if limit <= 1 or self._buffer or self.ring_size > 1:
            return super().receive_batch(channels, block=block)
        self.valid_channel_names(channels, receive=True)
        ((shard, keys),) = self._plan(list(dict.fromkeys(channels)))
        while not block:
            reply = shard.pop(keys, limit, RECEIVE)
            if not reply:
                return []
            found = self._accept_all(shard, reply)
            if found:
                return found
        for reply in self._blocking_pops(shard, keys, limit):
            found = self._accept_all(shard, reply)
            if found:
                return found
        return []

    def _pop_plan(self, channels: list[str]) -> tuple[Shard, list[bytes], int]:
        """``(shard, keys, pop size)`` of a non-blocking receive on one shard.
        Only single keys are remembered: several keys are shuffled anew by
        :meth:`_plan` on every call."""
        self.valid_channel_names(channels, receive=True)
        ((shard, keys),) = self._plan(list(dict.fromkeys(channels)))
        known = (shard, keys, self._pop_count(keys))
        if len(keys) == 1:
            if len(self._pop_plans) >= 10_000:
                self._pop_plans.clear()
            self._pop_plans[tuple(channels)] = known
        return known

    def _pop_count(self, keys: list[bytes]) -> int:
        """Messages one pop may take from ``keys``: a batch from process
        inboxes (only this process reads them), one from shared channels."""
        return self.inbox_batch if all(key.endswith(b"!") for key in keys) else 1

    def _pop_from(self, shard: Shard, keys: list[bytes], count: int) -> tuple[str | None, Any]:
        """Pop from ``keys`` on one shard until an unexpired message turns up
        or they are empty."""
        while True:
            reply = shard.pop(keys, count, RECEIVE)
            if not reply:
                return None, None
            result = self._accept(shard, reply)
            if result[0] is not None:
                return result

    def _pop_now(self, plan: list[tuple[Shard, list[bytes]]]) -> tuple[str | None, Any]:
        """A non-blocking receive over ``plan``, shards in random order."""
        random.shuffle(plan)
        errors = []
        for shard, keys in plan:
            try:
                result = self._pop_from(shard, keys, self._pop_count(keys))
            except RedisUnavailable as exc:
                if len(plan) == 1:
                    raise
                self._shard_failed(shard, exc)
                errors.append(exc)
                continue
            if result[0] is not None:
                return result
        if errors and len(errors) == len(plan):
            raise errors[0]
        return None, None

    def _plan(self, queues: list[str]) -> list[tuple[Shard, list[bytes]]]:
        """Which list keys to pop on which shard, each shard's keys shuffled
        (so a busy channel cannot starve a quiet one)."""
        by_shard: dict[int, list[bytes]] = {}
        prefix = self.prefix
        for queue in queues:
            key = (prefix + queue).encode()
            if self.ring_size == 1:
                by_shard.setdefault(0, []).append(key)
            elif queue.endswith("!") or "?" in queue:
                by_shard.setdefault(self.consistent_hash(queue), []).append(key)
            else:
                for index in self._healthy_indexes():
                    by_shard.setdefault(index, []).append(key)
        plan = []
        for index, keys in by_shard.items():
            if len(keys) > 1:
                random.shuffle(keys)
            plan.append((self._shards[index], keys))
        return plan

    def _healthy_indexes(self) -> list[int]:
        """Shards to watch for normal channels: those not marked down (all of
        them when every one is)."""
        healthy = [i for i, shard in enumerate(self._shards) if shard.available]
        return healthy or list(range(self.ring_size))

    def _unexpired(
        self, shard: Shard, reply: list[bytes]
    ) -> tuple[str, list[tuple[float, list[str], bytes]]]:
        """The queue of a popped ``[key, item, ...]`` and its unexpired items
        as ``(seconds left, channel names, payload)``."""
        queue = reply[0].decode()[len(self.prefix) :]
        now_ms = shard.server_time_ms()
        items = []
        for item in reply[1:]:
            deadline, targets, payload = parse_item(item)
            if deadline > now_ms:
                items.append(((deadline - now_ms) / 1000, targets or [queue], payload))
        return queue, items

    def _accept(self, shard: Shard, reply: list[bytes]) -> tuple[str | None, Any]:
        """Turn a popped ``[key, item, ...]`` into ``(channel, message)``.

        The first message is returned; the others (further items popped from
        a process inbox, and the extra channels of a group message that one
        process inbox carried for several of its channels) are kept in the
        local buffer for the next receives.
        """
        queue, items = self._unexpired(shard, reply)
        result: tuple[str | None, Any] = (None, None)
        for left, names, payload in items:
            if result[0] is None:
                result = self._result(names[0], payload)
                names = names[1:]
            if names:
                self._keep(queue, left, names, payload)
        return result

    def _accept_all(self, shard: Shard, reply: list[bytes]) -> list[tuple[str, dict]]:
        """Every unexpired message of a popped ``[key, item, ...]``, in order."""
        found = []
        for _, names, payload in self._unexpired(shard, reply)[1]:
            for name in names:
                channel, message = self._result(name, payload)
                if channel is not None:
                    found.append((channel, message))
        return found

    def _stash(self, shard: Shard, reply: list[bytes]) -> None:
        """Keep every message of an extra popped reply for a later receive."""
        queue, items = self._unexpired(shard, reply)
        for left, names, payload in items:
            self._keep(queue, left, names, payload)

    def _keep(self, queue: str, left: float, names: list[str], payload: bytes) -> None:
        """Buffer ``payload`` for each of ``names`` until it expires in ``left`` s."""
        local_deadline = time.time() + left
        for name in names:
            self._buffer.put(queue, local_deadline, name, payload)

    def _watch(  # noqa: C901 - moves with the receiving split of core.py (issue 22, 3)
        self, plan: list[tuple[Shard, list[bytes]]], timeout: float
    ) -> tuple[str | None, Any]:
        """Block on several shards at once: BLPOP on each, take the first
        answer, unblock the rest (a message that raced in is kept)."""
        started: list[tuple[Shard, Any]] = []
        replies: list[tuple[Shard, Any]] = []
        waiting: dict[Shard, Any] = {}
        try:
            failures = []
            for shard, keys in plan:
                try:
                    link = shard.start_blpop(keys, timeout)
                except RedisUnavailable as exc:
                    self._shard_failed(shard, exc)
                    failures.append(exc)
                    continue
                started.append((shard, link))
                waiting[shard] = link
            if not started:
                raise failures[0]
            by_link = {link: shard for shard, link in started}
            ready = ready_links(list(by_link), timeout + 5.0)
            if not ready:
                raise RedisUnavailable(
                    f"No shard answered a blocking receive within {timeout + 5.0:.1f} s"
                )
            for link in ready:
                shard = by_link[link]
                try:
                    replies.append((shard, link.read(timeout=5.0)))
                except RedisUnavailable as exc:
                    self._shard_failed(shard, exc)  # the next receive skips it
                    raise
                del waiting[shard]
            until = time.monotonic() + timeout
            for shard, link in list(waiting.items()):
                replies.append((shard, shard.cancel_blpop(link, until)))
                del waiting[shard]
        except BaseException:
            for shard, link in started:
                if shard in waiting:
                    link.close()
            raise
        finally:
            for shard, link in started:
                shard.links.release(link)
        result: tuple[str | None, Any] = (None, None)
        for shard, reply in replies:
            if reply is None:
                continue
            if result[0] is None:
                result = self._accept(shard, reply)
            else:
                self._stash(shard, reply)
        return result

    # -- new_channel ---------------------------------------------------------------------

    def new_channel(self, pattern: str) -> str:
        """A new single-reader channel name: ``pattern`` (ending in ``?``) plus
        12 random letters (71 bits, so no existence check is needed)."""
        if not isinstance(pattern, str) or not pattern.endswith("?"):
            raise TypeError(
                f"new_channel() takes a pattern ending in '?', got {pattern!r}; "
                "process-specific '!' names are made by the process itself"
            )
        name = pattern + "".join(random.choices(string.ascii_letters, k=12))
        self.valid_channel_name(name)
        return name

    # -- flush -----------------------------------------------------------------------------

    def flush(self) -> None:
        """Delete every key of this layer (messages, groups, statistics) on every shard."""
        self._buffer.clear()
        with self._ttl_lock:
            self._ttl_due.clear()
        self._ttl_renewed.clear()
        if self._send_counts is not None:
            self._send_counts.take()
        patterns = [_glob_escape(self.prefix) + "*"]
        if self.stats_prefix:
            patterns.append(_glob_escape(self.stats_prefix) + "*")
        for shard in self._shards:
            for pattern in patterns:
                cursor = b"0"
                while True:
                    cursor, keys = shard.call("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
                    if keys:
                        shard.call("UNLINK", *keys)
                    if cursor in (b"0", 0):
                        break

    def __str__(self) -> str:
        return f"{type(self).__name__}(hosts={self.hosts!r})"


class RedisChannelLayer(BaseRedisChannelLayer):
    """The Redis channel layer over one or more (sharded) servers.

    ``hosts`` is a list of ``(host, port)`` tuples or ``redis://``,
    ``rediss://`` (TLS) or ``unix://`` URLs, which may carry a password and a
    database number (``redis://:secret@10.0.0.1:6379/2``). Default:
    ``[("localhost", 6379)]``.
    """

    def _make_shards(self, hosts: Any) -> list[Shard]:
        self.hosts = self._setup_hosts(hosts)
        shards = []
        for url in self.hosts:
            kwargs = dict(self.connection_kwargs)
            if not url.startswith("unix:"):
                kwargs.setdefault("socket_keepalive", True)
            pool = redis.ConnectionPool.from_url(url, **kwargs)
            shards.append(Shard(pool, _describe(url)))
        return shards

    @staticmethod
    def _setup_hosts(hosts: Any) -> list[str]:
        if hosts is None:
            hosts = [("localhost", 6379)]
        if isinstance(hosts, (str, bytes)):
            raise ValueError(
                f"hosts must be a list of (host, port) tuples or URLs, not a single string: {hosts!r}"
            )
        if not isinstance(hosts, Iterable):
            raise ValueError(f"hosts must be a list of (host, port) tuples or URLs, got {hosts!r}")
        urls = []
        for entry in hosts:
            if isinstance(entry, (tuple, list)) and len(entry) == 2:
                host, port = entry
                if not isinstance(host, str) or not isinstance(port, int):
                    raise ValueError(f"A host tuple must be (str host, int port), got {entry!r}")
                urls.append(f"redis://{host}:{port}/0")
            elif isinstance(entry, str) and urlsplit(entry).scheme in _URL_SCHEMES:
                urls.append(entry)
            else:
                raise ValueError(
                    "Each host must be a (host, port) tuple or a redis://, rediss:// or "
                    f"unix:// URL, got {entry!r}"
                )
        if not urls:
            raise ValueError("hosts must name at least one Redis server")
        return urls


def _check_spin_wait(value: Any) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 <= value <= MAX_SPIN_WAIT
    ):
        raise ValueError(
            f"spin_wait must be seconds from 0 (off) to {MAX_SPIN_WAIT} "
            f"(default {DEFAULT_SPIN}), got {value!r}"
        )


def _check_positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _describe(url: str) -> str:
    """A URL without its password, for error messages."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.rsplit("@", 1)[-1]
        return parts._replace(netloc=f"***@{netloc}").geturl()
    return url
