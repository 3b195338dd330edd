"""Receiving without blocking an event loop: the ``twisted`` and ``asyncio``
extensions (SPEC 1.3).

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
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["AsyncReceiveMixin"]

logger = logging.getLogger(__name__)


class AsyncReceiveMixin:
    """``receive_twisted(channels)`` -> Deferred and ``receive_async(channels)``."""

    #: Threads available for concurrent event-loop receives per layer.
    receive_threads = 4

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
        ready = self._take_buffered(channels)
        if ready is not None:
            return defer.succeed(ready)
        deferred = defer.Deferred()

        def done(future: Any) -> None:
            error = future.exception()
            if error is not None:
                reactor.callFromThread(deferred.errback, error)
            else:
                reactor.callFromThread(deferred.callback, future.result())

        future = self._receive_executor().submit(self.receive, list(channels), True)
        future.add_done_callback(done)
        return deferred

    def _take_buffered(self, channels: list[str]) -> tuple[str, Any] | None:
        """A message already in this process (popped in a batch), if any: it
        is returned at once, without a trip through the thread pool."""
        if not self._buffer:
            return None
        buffered = self._buffer.take(list(dict.fromkeys(channels)))
        if buffered is None:
            return None
        result = self._result(*buffered)
        return result if result[0] is not None else None

    def twisted_reactor(self) -> Any:
        """The reactor results are delivered on (override to inject one)."""
        from twisted.internet import reactor

        return reactor

    async def receive_async(self, channels: list[str]) -> tuple[str | None, Any]:
        """Coroutine: ``(channel, message)``, or ``(None, None)`` after the
        blocking timeout."""
        self.valid_channel_names(channels, receive=True)
        ready = self._take_buffered(channels)
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
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None
        for shard in self._shards:
            shard.disconnect()
