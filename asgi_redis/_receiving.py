"""The receive path of the Redis layer: one pop per receive.

See docs/topics/backends.rst, "How a message travels".

A non-blocking receive is one ``LMPOP``; a blocking one is one ``BLPOP``/
``BLMPOP`` on the shard concerned, woken by the server the moment a message
lands, so nothing polls; on normal channels over several shards it first
looks for a waiting message shard by shard, starting after the shard that
last gave one (a busy system answers on the first; none is left behind),
then watches every shard at once and unblocks the others when one answers.
``receive_batch`` over several shards writes a pop to every shard before
reading any reply, each shard asked for its share of the batch: one wait
for the lot, and nothing popped is left over; while messages come one at a
time it goes straight to the watch, whose pops take each shard's share
too. A process inbox (only this
process reads it) is popped a batch at a time, the rest kept in the
process's buffer (:mod:`asgi_redis._buffer`) for the next receives.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from typing import Any

from . import _scripts
from ._buffer import ReceiveBuffer
from ._codec import parse_item
from ._link import ready_links
from ._resp import REPLY_GRACE
from ._ring import ShardRing
from ._shard import Script, Shard, pop_items
from ._shard_pops import pop_shares, split_limit
from .exceptions import RedisCommandError, RedisUnavailable

__all__ = ["RECEIVE", "ReceivePath"]

RECEIVE = Script(_scripts.RECEIVE)

#: One shard's part of a receive: the shard and the list keys to pop there.
Plan = list[tuple[Shard, list[bytes]]]


class ReceivePath:
    """Pop plans, the local buffer, and watching several shards, on ``ring``.

    The layer hands in ``check_names(channels)`` (its receive name rules)
    and ``decode(channel, payload)``, which gives ``(channel, message)`` or
    ``(None, None)`` for a payload that cannot be read. The blocking
    timeout and the inbox batch size are the layer's tunable attributes,
    passed to each call.
    """

    def __init__(
        self,
        ring: ShardRing,
        *,
        prefix: str,
        check_names: Callable[[list[str]], None],
        decode: Callable[[str, bytes], tuple[str | None, Any]],
    ) -> None:
        self.ring = ring
        self.shards = ring.shards
        self.prefix = prefix
        self.check_names = check_names
        self.decode = decode
        #: Messages popped with others and not handed out yet.
        self.buffer = ReceiveBuffer()
        self._pop_plans: dict[tuple[str, ...], tuple[Shard, list[bytes], int]] = {}
        #: The shard the next pop over several shards starts after: the one
        #: that last gave a message (after a batch: the first one it asked).
        self._after = -1
        #: Whether the last blocking batch over several shards had to wait
        #: and came back with one message: messages are sparse, so the next
        #: one watches at once instead of popping every shard first.
        self._quiet = False

    def use_prefix(self, prefix: str) -> None:
        """Read the queues under ``prefix`` from now on."""
        self.prefix = prefix
        self._pop_plans.clear()

    def receive(
        self, channels: list[str], block: bool, timeout: float, inbox_batch: int
    ) -> tuple[str | None, Any]:
        """See ``RedisChannelLayer.receive``; ``timeout`` bounds a blocking one."""
        if not block and not self.buffer and self.ring.size == 1:
            # The hot non-blocking case: the keys and pop size per channel
            # list are worked out once.
            known = self._pop_plans.get(tuple(channels))
            if known is None:
                known = self._pop_plan(channels, inbox_batch)
            return self._pop_from(*known)
        self.check_names(channels)
        queues = list(dict.fromkeys(channels))
        if self.buffer:
            buffered = self.buffer.take(queues)
            if buffered is not None:
                return self.decode(*buffered)
        plan = self.plan(queues)
        if not block or len(plan) > 1:
            # Several shards: look for a waiting message first (one round trip
            # when busy) before the heavier blocking watch of every shard.
            result = self._pop_now(plan, inbox_batch)
            if result[0] is not None or not block:
                return result
        if len(plan) == 1:
            ((shard, keys),) = plan
            for reply in self._blocking_pops(shard, keys, pop_count(keys, inbox_batch), timeout):
                result = self.accept(shard, reply)
                if result[0] is not None:
                    return result
            return None, None
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            result = self._first_of(self._watch(plan, remaining))
            if result[0] is not None:
                return result
        return None, None

    def receive_batch(
        self, channels: list[str], block: bool, limit: int, timeout: float
    ) -> list[tuple[str, dict]]:
        """Up to ``limit`` messages in one round trip of latency (the layer
        asks with no buffered message and ``limit > 1``): on one shard one
        ``LMPOP``/``BLMPOP``; on several, a pop on each written before any
        reply is read, then (``block``, nothing found) the watch of every
        shard, all it takes returned."""
        self.check_names(channels)
        plan = self.plan(list(dict.fromkeys(channels)))
        if block and len(plan) == 1:
            ((shard, keys),) = plan
            for reply in self._blocking_pops(shard, keys, limit, timeout):
                found = self._accept_all(shard, reply)
                if found:
                    return found
            return []
        if not (block and self._quiet):
            found = self._pop_batch(plan, limit)
            if found or not block:
                self._quiet = False
                return found
        found = self._watch_batch(plan, limit, timeout)
        self._quiet = len(found) < 2
        return found

    def _pop_batch(self, plan: Plan, limit: int) -> list[tuple[str, dict]]:
        """The unexpired messages of one :meth:`_pop_everywhere` (again
        while it pops only expired ones)."""
        while True:
            replies = self._pop_everywhere(plan, limit)
            found = [m for shard, reply in replies for m in self._accept_all(shard, reply)]
            if found or not replies:
                return found

    def _watch_batch(self, plan: Plan, limit: int, timeout: float) -> list[tuple[str, dict]]:
        """Up to ``limit`` messages of a watch of every shard of ``plan``,
        each shard's pop taking up to its share (a backlog on one shard
        comes back as a batch); any more are kept in the buffer."""
        share = max(1, limit // len(plan))
        deadline = time.monotonic() + timeout
        found: list[tuple[str, dict]] = []
        while not found and (remaining := deadline - time.monotonic()) > 0:
            for shard, reply in self._watch(plan, remaining, share):
                if reply is None:
                    continue
                if len(found) < limit:
                    found.extend(self._accept_all(shard, reply))
                else:  # more shards answered than the batch has room for
                    self._stash(shard, reply)
        return found

    def _pop_everywhere(self, plan: Plan, limit: int) -> list[tuple[Shard, list]]:
        """``(shard, [key, item, ...])`` of each shard of ``plan`` that had
        something: one non-blocking pop per shard, each for its share of
        ``limit`` (so no more than ``limit`` come), all written before any
        reply is read (:func:`~asgi_redis._shard_pops.pop_shares`). What was
        popped beside an error is kept in the buffer before it is raised."""
        shares = split_limit(self._in_turn(plan), limit)
        self._after = shares[0][0].index  # the next batch starts one shard on
        replies, error = pop_shares(shares, RECEIVE, self.ring, self._stash)
        if error is not None:
            for shard, reply in replies:
                self._stash(shard, reply)
            raise error
        return replies

    def _in_turn(self, plan: Plan) -> Plan:
        """``plan`` ordered round the ring from the shard after ``_after``:
        a busy system finds a message on the first shard asked, and every
        shard comes first in its turn (none starves behind a busier one)."""
        if len(plan) < 2:
            return plan
        start, size = self._after + 1, self.ring.size
        return sorted(plan, key=lambda part: (part[0].index - start) % size)

    def take_buffered(self, channels: list[str]) -> tuple[str, Any] | None:
        """A message already in this process (popped in a batch), if any."""
        if not self.buffer:
            return None
        buffered = self.buffer.take(list(dict.fromkeys(channels)))
        if buffered is None:
            return None
        result = self.decode(*buffered)
        return result if result[0] is not None else None

    def _blocking_pops(
        self, shard: Shard, keys: list[bytes], count: int, timeout: float
    ) -> Iterator[list]:
        """Each ``[key, item, ...]`` of blocking pops on ``shard`` until one
        finds nothing or ``timeout`` has passed (a caller stops early once a
        popped message is unexpired)."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            reply = shard.blpop(keys, remaining, count)
            if reply is None:
                return
            yield reply

    def _pop_plan(self, channels: list[str], inbox_batch: int) -> tuple[Shard, list[bytes], int]:
        """``(shard, keys, pop size)`` of a non-blocking receive on one shard.
        Only single keys are remembered: several keys are shuffled anew by
        :meth:`plan` on every call."""
        self.check_names(channels)
        ((shard, keys),) = self.plan(list(dict.fromkeys(channels)))
        known = (shard, keys, pop_count(keys, inbox_batch))
        if len(keys) == 1:
            if len(self._pop_plans) >= 10_000:
                self._pop_plans.clear()
            self._pop_plans[tuple(channels)] = known
        return known

    def _pop_from(self, shard: Shard, keys: list[bytes], count: int) -> tuple[str | None, Any]:
        """Pop from ``keys`` on one shard until an unexpired message turns up
        or they are empty."""
        while True:
            reply = shard.pop(keys, count, RECEIVE)
            if not reply:
                return None, None
            result = self.accept(shard, reply)
            if result[0] is not None:
                return result

    def _pop_now(self, plan: Plan, inbox_batch: int) -> tuple[str | None, Any]:
        """A non-blocking receive over ``plan``, shard by shard in turn
        (:meth:`_in_turn`), until one gives a message."""
        errors = []
        for shard, keys in self._in_turn(plan):
            try:
                result = self._pop_from(shard, keys, pop_count(keys, inbox_batch))
            except RedisUnavailable as exc:
                if len(plan) == 1:
                    raise
                self.ring.failed(shard, exc)
                errors.append(exc)
                continue
            if result[0] is not None:
                self._after = shard.index
                return result
        if errors and len(errors) == len(plan):
            raise errors[0]
        return None, None

    def plan(self, queues: list[str]) -> Plan:
        """Which list keys to pop on which shard, each shard's keys shuffled
        (so a busy channel cannot starve a quiet one)."""
        by_shard: dict[int, list[bytes]] = {}
        prefix = self.prefix
        ring = self.ring
        shards = self.shards
        for queue in queues:
            if ring.size == 1:
                by_shard.setdefault(0, []).append((prefix + shards[0].tag + queue).encode())
            elif queue.endswith("!") or "?" in queue:
                index = ring.index_of(queue)
                key = prefix + shards[index].tag + queue
                by_shard.setdefault(index, []).append(key.encode())
            else:
                for index in ring.healthy_indexes():
                    key = prefix + shards[index].tag + queue
                    by_shard.setdefault(index, []).append(key.encode())
        plan = []
        for index, keys in by_shard.items():
            if len(keys) > 1:
                random.shuffle(keys)
            plan.append((self.shards[index], keys))
        return plan

    def _unexpired(
        self, shard: Shard, reply: list[bytes]
    ) -> tuple[str, list[tuple[float, list[str], bytes]]]:
        """The queue of a popped ``[key, item, ...]`` and its unexpired items
        as ``(seconds left, channel names, payload)``."""
        queue = reply[0].decode()[len(self.prefix) + len(shard.tag) :]
        now_ms = shard.server_time_ms()
        items = []
        for item in reply[1:]:
            deadline, targets, payload = parse_item(item)
            if deadline > now_ms:
                items.append(((deadline - now_ms) / 1000, targets or [queue], payload))
        return queue, items

    def accept(self, shard: Shard, reply: list[bytes]) -> tuple[str | None, Any]:
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
                result = self.decode(names[0], payload)
                names = names[1:]
            if names:
                self._keep(queue, left, names, payload)
        return result

    def _accept_all(self, shard: Shard, reply: list[bytes]) -> list[tuple[str, dict]]:
        """Every unexpired message of a popped ``[key, item, ...]``, in order."""
        found = []
        for _, names, payload in self._unexpired(shard, reply)[1]:
            for name in names:
                channel, message = self.decode(name, payload)
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
            self.buffer.put(queue, local_deadline, name, payload)

    def _watch(self, plan: Plan, timeout: float, count: int = 1) -> list[tuple[Shard, Any]]:
        """Block on several shards at once: a blocking pop on each (of up to
        ``count`` items) until one answers, then unblock the rest; every
        shard's reply (None: nothing), as ``[key, item, ...]``, a message
        that raced in on another shard included. A shard that fails
        meanwhile is marked (the next receive skips it) and its error raised
        only when no other shard gave a message, so nothing popped is lost."""
        started = self._start_blpops(plan, timeout, count)
        replies: list[tuple[Shard, Any]] = []
        waiting: dict[Shard, Any] = dict(started)
        try:
            by_link = {link: shard for shard, link in started}
            ready = ready_links(list(by_link), timeout + REPLY_GRACE)
            if not ready:
                raise RedisUnavailable(
                    f"No shard answered a blocking receive within {timeout + REPLY_GRACE:.1f} s"
                )
            failures = [
                self._collect(by_link[link], link.read, (REPLY_GRACE,), replies, waiting)
                for link in ready
            ]
            until = time.monotonic() + timeout
            for shard, link in list(waiting.items()):
                failures.append(
                    self._collect(shard, shard.cancel_blpop, (link, until), replies, waiting)
                )
        except BaseException:
            for link in waiting.values():
                link.close()
            for shard, reply in replies:
                if reply is not None:
                    self._stash(shard, reply)
            raise
        finally:
            for shard, link in started:
                shard.links.release(link)
        failure = next((exc for exc in failures if exc is not None), None)
        if failure is not None and all(reply is None for _, reply in replies):
            raise failure
        return replies

    def _collect(
        self,
        shard: Shard,
        read: Callable[..., Any],
        args: tuple,
        replies: list[tuple[Shard, Any]],
        waiting: dict[Shard, Any],
    ) -> RedisUnavailable | None:
        """Add ``shard``'s answer to a watch (``read(*args)``) to ``replies``;
        a shard that fails is marked and its error returned."""
        link = waiting.pop(shard)
        try:
            reply = self._answer(shard, read, *args)
        except RedisUnavailable as exc:
            link.close()
            self.ring.failed(shard, exc)
            return exc
        except BaseException:
            waiting[shard] = link  # closed by the caller
            raise
        replies.append((shard, reply))
        if reply is not None:
            self._after = shard.index
        return None

    def _answer(self, shard: Shard, read: Callable[..., Any], *args: Any) -> Any:
        """``read(*args)``: one shard's answer to a watch's pop, None when it
        was redirected (nothing was popped there, and the other shards'
        pops are still cancelled properly, so nothing they took is lost)."""
        try:
            return pop_items(read(*args))
        except RedisCommandError as exc:
            if not self.redirected(shard, exc):
                raise
            return None

    def redirected(self, shard: Shard, error: Exception) -> bool:
        """Whether ``error``, the answer of a blocking pop on ``shard``, only
        sent the pop elsewhere (a Redis Cluster's ``MOVED``/``ASK``): then the
        watch ends with nothing and the next one asks again. Plain servers
        never redirect."""
        return False

    def _start_blpops(self, plan: Plan, timeout: float, count: int) -> list[tuple[Shard, Any]]:
        """A blocking pop (of up to ``count`` items) on each shard of
        ``plan`` that answers; raises the first failure when none does (the
        failed shards are marked)."""
        started: list[tuple[Shard, Any]] = []
        failures = []
        try:
            for shard, keys in plan:
                try:
                    started.append((shard, shard.start_blpop(keys, timeout, count)))
                except RedisUnavailable as exc:
                    self.ring.failed(shard, exc)
                    failures.append(exc)
        except BaseException:
            for shard, link in started:  # interrupted: their BLPOPs are abandoned
                link.close()
                shard.links.release(link)
            raise
        if not started:
            raise failures[0]
        return started

    def _first_of(self, replies: list[tuple[Shard, Any]]) -> tuple[str | None, Any]:
        """The first message among ``replies``; the others are buffered."""
        result: tuple[str | None, Any] = (None, None)
        for shard, reply in replies:
            if reply is None:
                continue
            if result[0] is None:
                result = self.accept(shard, reply)
            else:
                self._stash(shard, reply)
        return result


def pop_count(keys: list[bytes], inbox_batch: int) -> int:
    """Messages one pop may take from ``keys``: a batch from process
    inboxes (only this process reads them), one from shared channels."""
    return inbox_batch if all(key.endswith(b"!") for key in keys) else 1
