"""The send path of the Redis layer: one ``RPUSH`` per send.

See docs/topics/backends.rst, "How a message travels".

A send is one ``RPUSH`` while the queue has room (a script runs only when a
push takes it past its capacity, to take the item back unless expired
messages make room); ``send_batch`` is one pipelined write per shard. A
normal channel over several shards is spread over them, its capacity split
between them. Queues expire: the first push of this process to a queue,
and one every half ``expiry`` after that, carry a ``PEXPIRE`` in the same
write; a push that created the queue in between leaves its ``PEXPIRE`` to
the background writer, which sets the TTLs of all such queues together
within a second. :mod:`asgi_redis._scripts` documents the data layout.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from . import _scripts
from ._codec import item_tail
from ._ring import ShardRing
from ._shard import Script, Shard
from ._stats import STAT_CHANNEL_FULL, STAT_MESSAGES_COUNT
from .exceptions import RedisUnavailable

__all__ = ["SEND_FULL", "SendPath"]

SEND_FULL = Script(_scripts.SEND_FULL)

#: Send routes (and process prefixes) remembered at most; see ``SendPath._route``.
ROUTES_KEPT = 4096

#: What a send to one channel needs besides the message: ``(queue, key,
#: capacity, its shard or None when spread over the shards, the item's
#: targets part)``.
Route = tuple[str, str, int, "Shard | None", bytes]


class SendPath:
    """Sends, batches, overflow and queue TTLs on the shards of ``ring``.

    The layer hands in what it owns: ``route_name(channel)`` checks a
    channel name and gives ``(queue name, capacity)``; ``check_message``
    and ``encode(target, message)`` check and serialize a message;
    ``count(shard index, queue, stat)`` counts for the statistics;
    ``channel_full`` is the exception class of a refused send; ``watch``
    is called when TTLs start to wait for the background writer.
    """

    def __init__(
        self,
        ring: ShardRing,
        *,
        prefix: str,
        expiry: float,
        route_name: Callable[[str], tuple[str, int]],
        check_message: Callable[[dict], None],
        encode: Callable[[str, dict], bytes],
        count: Callable[[int, str, str], None],
        channel_full: type[Exception],
        watch: Callable[[], None],
    ) -> None:
        self.ring = ring
        self.shards = ring.shards
        self.prefix = prefix
        self.route_name = route_name
        self.check_message = check_message
        self.encode = encode
        self.count = count
        self.channel_full = channel_full
        self.watch = watch
        self.expiry_ms = int(expiry * 1000)
        # Queues outlive their newest message by one expiry, so a send_group
        # can still see that a member let a message expire unread. A process
        # renews a queue's TTL at most every half expiry (a push that creates
        # the queue always sets it), hence the extra half expiry.
        self.ttl_renew_s = expiry / 2
        self.queue_ttl_ms = 2 * self.expiry_ms + 1000 + int(self.ttl_renew_s * 1000)
        self.ttl_renewed: dict[tuple[int, str], float] = {}
        self.ttl_due: set[tuple[int, str]] = set()
        self._ttl_lock = threading.Lock()
        self._routes: dict[str, Route] = {}
        #: ``(queue, key, shard)`` of each process prefix, shared by its names' routes.
        self._queues: dict[str, tuple[str, str, Shard]] = {}
        self._cycle = itertools.cycle(range(ring.size))

    def use_prefix(self, prefix: str) -> None:
        """Put the queues under ``prefix`` from now on."""
        self.prefix = prefix
        self._routes.clear()
        self._queues.clear()

    # -- one message ---------------------------------------------------------------------

    def send(self, channel: str, message: dict) -> None:
        """Queue ``message`` on ``channel`` in one round trip; raises ChannelFull."""
        queue, key, capacity, shard, tail = self.prepare(channel, message)
        if shard is not None:
            if self.push(shard, key, tail, capacity):
                self.count(shard.index, queue, STAT_MESSAGES_COUNT)
                return
            self.count(shard.index, queue, STAT_CHANNEL_FULL)
            raise self.full(channel, capacity)
        self.send_spread(channel, queue, key, capacity, tail)

    def prepare(self, channel: str, message: dict) -> tuple[str, str, int, Shard | None, bytes]:
        """``(queue, key, capacity, shard or None, item without its deadline)``
        of a send; raises for a bad name or message."""
        self.check_message(message)
        route = self._routes.get(channel)
        if route is None:
            route = self._route(channel)
        queue, key, capacity, shard, targets = route
        return queue, key, capacity, shard, targets + self.encode(channel, message)

    def full(self, channel: str, capacity: int) -> Exception:
        return self.channel_full(f"Channel {channel!r} is at its capacity of {capacity} messages")

    def _route(self, channel: str) -> Route:
        """Work out (once per name, for the last ``ROUTES_KEPT`` names) what a
        send to ``channel`` needs.

        Most names seen are reply channels (``prefix!local``), one per
        socket or request, so the routes of one process prefix share its
        queue name, key and shard: an entry costs its tuple and its target
        bytes, not three more strings. When the cache is full it starts
        again: a process's memory levels off once it has seen that many
        names, instead of growing with every socket ever served.
        """
        queue, capacity = self.route_name(channel)
        if queue != channel:
            shared = self._queues.get(queue)
            if shared is None:
                if len(self._queues) >= ROUTES_KEPT:
                    self._queues.clear()
                shard = self.shards[self.ring.index_of(queue)]
                shared = self._queues[queue] = (queue, self.prefix + shard.tag + queue, shard)
            queue, key, shard = shared
            targets = item_tail(channel, b"")
        else:
            shard = None
            key = self.prefix + queue
            if "?" in channel or self.ring.size == 1:
                shard = self.shards[self.ring.index_of(queue)]
                key = self.prefix + shard.tag + queue
            targets = item_tail("", b"")
        route = (queue, key, capacity, shard, targets)
        if len(self._routes) >= ROUTES_KEPT:
            self._routes.clear()
        self._routes[channel] = route
        return route

    def send_spread(self, channel: str, queue: str, key: str, capacity: int, tail: bytes) -> None:
        """A send to a normal channel over several shards. Its messages are
        spread over the shards, and its capacity is split between them (shard
        i holds capacity // n, the first capacity % n one more); a full shard
        passes the message on, so ChannelFull comes exactly at the channel's
        capacity."""
        size = self.ring.size
        first = next(self._cycle)
        base, extra = divmod(capacity, size)
        attempts = [
            (self.shards[i], base + (i < extra))
            for i in itertools.chain(range(first, size), range(first))
            if base + (i < extra)
        ]
        # Shards that failed a moment ago go last: while one is down, its
        # share of the traffic goes to the others.
        attempts.sort(key=lambda attempt: not attempt[0].available)
        last = len(attempts) - 1
        errors: list[RedisUnavailable] = []
        for shard, shard_capacity in attempts:
            shard_key = self.prefix + shard.tag + queue if shard.tag else key
            try:
                if self.push(shard, shard_key, tail, shard_capacity):
                    self.count(shard.index, queue, STAT_MESSAGES_COUNT)
                    return
            except RedisUnavailable as exc:
                if last == 0:
                    raise
                self.ring.failed(shard, exc)
                errors.append(exc)
        if len(errors) == len(attempts):
            raise errors[0]
        self.count(attempts[-1][0].index, queue, STAT_CHANNEL_FULL)
        raise self.full(channel, capacity)

    def push(self, shard: Shard, key: str, tail: bytes, capacity: int) -> bool:
        """Queue one item on ``shard``; False when the queue is full.

        One ``RPUSH`` is the whole send while the queue has room; only a push
        that goes past the capacity runs a script (which takes the item back
        unless expired messages make room). TTLs: the first push of this
        process to a queue, and one every ``ttl_renew_s`` after that, carry
        a ``PEXPIRE`` in the same write; a push that created the queue in
        between leaves its ``PEXPIRE`` to the background thread, which sets
        the TTLs of all such queues together within a second (a queue that is
        created and emptied a thousand times a second costs one ``PEXPIRE``
        a second, not a thousand).
        """
        item = b"%013d" % (int(shard.server_time_ms()) + self.expiry_ms) + tail
        slot = (shard.index, key)
        renew = self.renewal_due(slot, time.monotonic())
        try:
            length = shard.push(key, item, self.queue_ttl_ms, renew)
        except BaseException:
            if renew:
                self.ttl_renewed.pop(slot, None)
            raise
        if length == 1 and not renew:
            self.defer_ttl(slot)
        if length <= capacity:
            return True
        return bool(shard.run(SEND_FULL, (key,), (item, capacity, self.queue_ttl_ms)))

    # -- batches -------------------------------------------------------------------------

    def send_batch(self, messages: Sequence[tuple[str, dict]]) -> list[BaseException | None]:
        """Send several messages in one round trip per shard (a pipeline of
        ``RPUSH``es); for each, None or the exception a ``send`` of it would
        have raised. Messages to one channel keep their order."""
        results: list[BaseException | None] = [None] * len(messages)
        return self.push_entries(self.batch_entries(messages, results), results)

    def push_entries(
        self, by_shard: dict[int, list[tuple]], results: list[BaseException | None]
    ) -> list[BaseException | None]:
        """:meth:`push_batch` for each shard's entries in turn; ``results``."""
        for index, entries in by_shard.items():
            self.push_batch(self.shards[index], entries, results)
        return results

    def batch_entries(
        self, messages: Sequence[tuple[str, dict]], results: list[BaseException | None]
    ) -> dict[int, list[tuple]]:
        """A batch's messages as ``push_batch`` entries by shard index; a bad
        message gets its exception in ``results``.

        An entry is ``(position, channel, queue, key, capacity, item tail,
        spread)``. A message to a channel spread over several shards goes to
        the next shard of the round with room in its share (``capacity`` is
        that share, ``spread`` the channel's whole capacity, 0 for the other
        messages): it rides in that shard's pipeline like any other, and is
        passed on to the other shards only if its shard refuses it
        (:meth:`resend_spread`), as :meth:`send_spread` would.
        """
        by_shard: dict[int, list[tuple]] = {}
        for position, (channel, message) in enumerate(messages):
            try:
                queue, key, capacity, shard, tail = self.prepare(channel, message)
            except Exception as exc:  # noqa: BLE001 - reported per message
                results[position] = exc
                continue
            spread = 0
            if shard is None:
                turn = self.spread_turn(capacity)
                if turn is None:
                    results[position] = self.full(channel, capacity)
                    continue
                spread, (shard, capacity) = capacity, turn
                if shard.tag:
                    key = self.prefix + shard.tag + queue
            entry = (position, channel, queue, key, capacity, tail, spread)
            by_shard.setdefault(shard.index, []).append(entry)
        return by_shard

    def spread_turn(self, capacity: int) -> tuple[Shard, int] | None:
        """The shard whose turn it is for a message to a spread channel of
        ``capacity``, with its share of that capacity: the next in the round
        with a share, passing over shards that failed a moment ago unless
        all have. None when no shard has a share (a capacity of 0)."""
        size = self.ring.size
        base, extra = divmod(capacity, size)
        fallback = None
        for _ in range(size):
            index = next(self._cycle)
            share = base + (index < extra)
            if share:
                shard = self.shards[index]
                if shard.available:
                    return shard, share
                if fallback is None:
                    fallback = (shard, share)
        return fallback

    def resend_spread(
        self, entries: list[tuple], results: list[BaseException | None]
    ) -> list[BaseException | None]:
        """Send spread entries their shard refused (full, or unreachable) with
        :meth:`send_spread`: over the other shards, ChannelFull only at the
        channel's whole capacity; ``results``. Blocking: never on the
        reactor thread."""
        for position, channel, queue, _, _, tail, capacity in entries:
            try:
                self.send_spread(channel, queue, self.prefix + queue, capacity, tail)
            except Exception as exc:  # noqa: BLE001 - reported per message
                results[position] = exc
            else:
                results[position] = None
        return results

    def push_batch(
        self, shard: Shard, entries: list[tuple], results: list[BaseException | None]
    ) -> None:
        """:meth:`push` for several items on one shard, in one write.

        While every queue has room that is the whole batch. From the first
        item that took a queue past its capacity on, that queue's items are
        taken back (newest first) and sent again one by one, so a refused
        message is never overtaken by a later one of the same batch.
        """
        stamp, commands, renews = self.batch_commands(shard, entries)
        try:
            replies = shard.call_many(commands, raise_errors=False)
        except RedisUnavailable as exc:
            self.resend_spread(self.batch_lost(shard, entries, renews, exc, results), results)
            return
        overflow = self.batch_replies(shard, entries, renews, replies, results)
        for backlog in overflow.values():
            self.resend_overflow(shard, stamp, backlog, results)

    def batch_commands(
        self, shard: Shard, entries: list[tuple]
    ) -> tuple[bytes, list[tuple], list[bool]]:
        """The deadline stamp, the ``RPUSH`` (+ ``PEXPIRE``) commands and the
        TTL renewals of a batch's ``entries`` on ``shard``."""
        stamp = b"%013d" % (int(shard.server_time_ms()) + self.expiry_ms)
        now = time.monotonic()
        commands: list[tuple] = []
        renews: list[bool] = []
        for entry in entries:
            renew = self.renewal_due((shard.index, entry[3]), now)
            commands.append(("RPUSH", entry[3], stamp + entry[5]))
            if renew:
                commands.append(("PEXPIRE", entry[3], self.queue_ttl_ms))
            renews.append(renew)
        return stamp, commands, renews

    def batch_lost(
        self,
        shard: Shard,
        entries: list[tuple],
        renews: list[bool],
        error: Exception,
        results: list[BaseException | None],
    ) -> list[tuple]:
        """A batch's write failed: every entry gets ``error``; its TTL
        renewals are forgotten, to be made next time. Returns the entries
        of spread channels, to send on the other shards with
        :meth:`resend_spread` (the shard is left out for a moment) when the
        shard is unreachable and there are other shards."""
        for entry, renew in zip(entries, renews):
            results[entry[0]] = error
            if renew:
                self.ttl_renewed.pop((shard.index, entry[3]), None)
        if not isinstance(error, RedisUnavailable) or self.ring.size == 1:
            return []
        spread = [entry for entry in entries if entry[6]]
        if spread:
            self.ring.failed(shard, error)
        return spread

    def batch_replies(
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
            position, _, queue, key, capacity, _, _ = entry
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
                    self.defer_ttl((shard.index, key))
                self.count(shard.index, queue, STAT_MESSAGES_COUNT)
        return overflow

    def resend_overflow(
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
        for entry in delivered:
            self.count(shard.index, entry[2], STAT_MESSAGES_COUNT)
        if backlog[0][6]:
            # a spread channel: the other shards may have room in their shares
            self.resend_spread(backlog[len(delivered) :], results)
            return
        refused = False
        for position, channel, queue, _, capacity, tail, _ in backlog[len(delivered) :]:
            if not refused:
                try:
                    if self.push(shard, key, tail, capacity):
                        self.count(shard.index, queue, STAT_MESSAGES_COUNT)
                        continue
                except Exception as exc:  # noqa: BLE001 - reported per message
                    results[position] = exc
                    continue
                refused = True
            self.count(shard.index, queue, STAT_CHANNEL_FULL)
            results[position] = self.full(channel, capacity)

    # -- queue TTLs ----------------------------------------------------------------------

    def renewal_due(self, slot: tuple[int, str], now: float) -> bool:
        """Whether a push to ``slot`` (shard index, key) carries a ``PEXPIRE``:
        the first of this process, then one every ``ttl_renew_s``. A due
        renewal counts as made; a caller whose write fails forgets it again."""
        renewed = self.ttl_renewed
        if now - renewed.get(slot, -1e9) <= self.ttl_renew_s:
            return False
        if len(renewed) > 50_000:
            renewed.clear()
        renewed[slot] = now
        return True

    def defer_ttl(self, slot: tuple[int, str]) -> None:
        if slot in self.ttl_due:
            return  # already due (a queue created and emptied again and again)
        with self._ttl_lock:
            self.ttl_due.add(slot)
        self.watch()

    def set_deferred_ttls(self) -> None:
        """Give the queues created by pushes without a ``PEXPIRE`` their TTL:
        one pipelined write per shard."""
        with self._ttl_lock:
            due, self.ttl_due = self.ttl_due, set()
        by_shard: dict[int, list[tuple]] = {}
        for index, key in due:
            by_shard.setdefault(index, []).append(("PEXPIRE", key, self.queue_ttl_ms))
        now = time.monotonic()
        for index, commands in by_shard.items():
            try:
                self.shards[index].call_many(commands)
            except RedisUnavailable:
                with self._ttl_lock:
                    self.ttl_due.update((index, command[1]) for command in commands)
                raise
            for _, key, _ in commands:
                self.ttl_renewed[(index, key)] = now

    def forget_ttls(self) -> None:
        """Forget which TTLs were set or are due (the layer was flushed)."""
        with self._ttl_lock:
            self.ttl_due.clear()
        self.ttl_renewed.clear()
