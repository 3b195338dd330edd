"""Receiving without blocking an event loop: the ``twisted`` and ``asyncio``
extensions (docs/asgi/layers.rst, "Extensions").

Both hand the ordinary blocking receive (a server-side ``BLPOP``, no
polling) to a small private thread pool and deliver its result on the
caller's loop. An idle caller therefore costs one sleeping thread and one
blocked Redis connection, and a message is picked up as soon as it lands.

daphne calls ``receive_twisted(channels)`` with its process inbox prefix,
handles the result in the callback, and calls it again (see the docs page).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ._receiving import pop_count
from .exceptions import RedisUnavailable

__all__ = ["AsyncReceiveMixin"]

logger = logging.getLogger(__name__)


class AsyncReceiveMixin:
    """``receive_twisted(channels)`` -> Deferred and ``receive_async(channels)``."""

    #: Threads available for concurrent event-loop receives per layer.
    receive_threads = 4
    #: ``receive_twisted`` and ``send_batch_twisted`` use connections the
    #: reactor itself reads (see :mod:`asgi_redis._reactor_io`); False
    #: sends every call through the thread pool instead.
    reactor_io = True

    _executor: ThreadPoolExecutor | None = None
    _executor_lock = threading.Lock()

    def _receive_executor(self) -> ThreadPoolExecutor:
        if self._executor is None:
            with self._executor_lock:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(
                        max_workers=self.receive_threads, thread_name_prefix="asgi_redis-receive"
                    )
        return self._executor

    def receive_twisted(self, channels: list[str]) -> Any:
        """A Deferred firing ``(channel, message)``, or ``(None, None)`` after
        the blocking timeout. Errors (e.g. ``RedisUnavailable``) errback."""
        from twisted.internet import defer

        reactor = self.twisted_reactor()
        self.valid_channel_names(channels, receive=True)
        ready = self._receiving.take_buffered(channels)
        if ready is not None:
            return defer.succeed(ready)
        if self.reactor_io:
            plan = self._receiving.plan(list(dict.fromkeys(channels)))
            if len(plan) == 1:
                links = self._reactor_links_for(plan[0][0], reactor)
                if links is not None:
                    return self._receive_on_reactor(links, plan[0][1], channels)
        return self._receive_in_thread(reactor, channels)

    def send_batch_twisted(self, messages: Sequence[tuple[str, dict]]) -> Any:
        """:meth:`send_batch` without blocking the reactor: a Deferred firing
        with one outcome per message (None or the exception a ``send`` would
        raise). Each shard's part of the batch is one pipelined write on a
        connection the reactor reads, the shards' parts on their way at once.
        A shard that cannot be reached that way (TLS, a stand-in reactor, its
        clock check due, ``reactor_io`` off) gets its part from the receive
        thread pool instead, as do the blocking follow-ups (a queue past its
        capacity, a spread message its shard refused)."""
        from twisted.internet import defer

        reactor = self.twisted_reactor()
        sending = self._sending
        results: list[BaseException | None] = [None] * len(messages)
        by_shard = sending.batch_entries(messages, results)
        if not self.reactor_io:
            # one trip to the pool for the whole batch
            return self._in_pool(reactor, sending.push_entries, by_shard, results)
        if len(by_shard) == 1:
            ((index, entries),) = by_shard.items()
            return self._send_part(reactor, self._shards[index], entries, results)
        if not by_shard:
            return defer.succeed(results)
        parts = [
            self._send_part(reactor, self._shards[index], entries, results)
            for index, entries in by_shard.items()
        ]
        return defer.gatherResults(parts, consumeErrors=True).addCallbacks(
            lambda _: results, lambda failure: failure.value.subFailure
        )

    def _send_part(
        self, reactor: Any, shard: Any, entries: list[tuple], results: list[BaseException | None]
    ) -> Any:
        """Send one shard's entries of a batch: a Deferred firing with
        ``results`` once their outcomes are in it."""
        from ._reactor_io import NotAdoptable
        from ._resp import pack

        sending = self._sending
        links = None if shard.clock_due() else self._reactor_links_for(shard, reactor)
        if links is None:
            return self._in_pool(reactor, sending.push_entries, {shard.index: entries}, results)
        stamp, commands, renews = sending.batch_commands(shard, entries)
        written = links.pipeline(
            b"".join(pack(command) for command in commands), len(commands), links.timeout
        )

        def replied(replies: list) -> Any:
            overflow = sending.batch_replies(shard, entries, renews, replies, results)
            if not overflow:
                return results

            def resend() -> list[BaseException | None]:
                for backlog in overflow.values():
                    sending.resend_overflow(shard, stamp, backlog, results)
                return results

            return self._in_pool(reactor, resend)

        def failed(failure: Any) -> Any:
            if failure.check(NotAdoptable):
                # nothing was written: the thread path sends the part afresh
                sending.batch_lost(shard, entries, renews, failure.value, results)
                for entry in entries:
                    results[entry[0]] = None
                links.usable = False
                return self._in_pool(reactor, sending.push_entries, {shard.index: entries}, results)
            failure.trap(RedisUnavailable)
            spread = sending.batch_lost(shard, entries, renews, failure.value, results)
            if spread:
                return self._in_pool(reactor, sending.resend_spread, spread, results)
            return results

        return written.addCallbacks(replied, failed)

    def _receive_in_thread(self, reactor: Any, channels: list[str]) -> Any:
        return self._in_pool(reactor, self.receive, list(channels), True)

    def _in_pool(self, reactor: Any, function: Any, *args: Any) -> Any:
        """A Deferred of ``function(*args)`` run in the receive thread pool."""
        from twisted.internet import defer

        deferred = defer.Deferred()

        def done(future: Any) -> None:
            error = future.exception()
            if error is not None:
                reactor.callFromThread(deferred.errback, error)
            else:
                reactor.callFromThread(deferred.callback, future.result())

        future = self._receive_executor().submit(function, *args)
        future.add_done_callback(done)
        return deferred

    def _reactor_links_for(self, shard: Any, reactor: Any) -> Any:
        """The shard's reactor-owned connections, or None where the
        thread path must serve (a stand-in reactor, a TLS shard)."""
        links = self._reactor_links.get(shard.index)
        if links is None:
            from ._reactor_io import ReactorLinks, adoptable

            if not adoptable(reactor):
                return None
            links = self._reactor_links[shard.index] = ReactorLinks(
                shard, reactor, self._receive_executor
            )
        return links if links.usable else None

    def _receive_on_reactor(self, links: Any, keys: list[bytes], channels: list[str]) -> Any:
        from ._reactor_io import NotAdoptable

        shard, receiving = links.shard, self._receiving
        pending = links.blocking_pop(keys, self.blpop_timeout, pop_count(keys, self.inbox_batch))

        def got(reply: Any) -> tuple[str | None, Any]:
            # Every popped message expired: "nothing", as a timeout would say.
            return (None, None) if reply is None else receiving.accept(shard, reply)

        def tls(failure: Any) -> Any:
            failure.trap(NotAdoptable)
            links.usable = False
            return self._receive_in_thread(links.reactor, channels)

        return pending.addCallbacks(got, tls)

    def twisted_reactor(self) -> Any:
        """The reactor results are delivered on (override to inject one)."""
        from twisted.internet import reactor

        return reactor

    async def receive_async(self, channels: list[str]) -> tuple[str | None, Any]:
        """Coroutine: ``(channel, message)``, or ``(None, None)`` after the
        blocking timeout."""
        self.valid_channel_names(channels, receive=True)
        ready = self._receiving.take_buffered(channels)
        if ready is not None:
            return ready
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._receive_executor(), self.receive, list(channels), True
        )

    def close(self) -> None:
        """Make the deferred writes, stop the receive threads (after their
        current receives) and close links."""
        try:
            self.flush_background()
        except Exception as exc:  # noqa: BLE001 - closing must work with Redis gone
            logger.warning("%s closed with writes it could not make: %s", self, exc)
        for links in self._reactor_links.values():
            links.close()
        self._reactor_links.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None
        for shard in self._shards:
            shard.disconnect()
