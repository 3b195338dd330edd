"""Sending to the channel layer without stalling the reactor.

A network layer's ``send`` is a round trip to its broker. Made on the
reactor thread, every connection of the process waits for it: profiles of
the benchmark (``benchmarks/run.py``) showed daphne's reactor blocked in
Redis sends for about a third of its wall time while its CPU sat at half a
core. :class:`LayerSender` in threaded mode queues the sends of the hot
paths (``http.request``, ``websocket.receive``, the disconnects) for one
thread that makes them in the order they were queued, so the messages of a
connection keep their order, and reports a failure back on the reactor
thread. In direct mode (in-memory layers, ``--force-sync``, the sans-IO
tests) it is a plain synchronous ``send``.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["LayerSender"]

logger = logging.getLogger(__name__)

#: Called with the exception of a failed send (on the reactor thread).
ErrorHandler = Callable[[BaseException], None]


class LayerSender:
    """``send(channel, message, on_error)`` now (direct) or from a thread, in order."""

    def __init__(self, layer: Any, reactor: Any, *, threaded: bool = False) -> None:
        self.layer = layer
        self.reactor = reactor
        self.threaded = threaded
        self._queue: deque[tuple[str, dict, ErrorHandler | None]] = deque()
        self._lock = threading.Condition(threading.Lock())
        self._thread: threading.Thread | None = None
        self._stopping = False

    def send(self, channel: str, message: dict, on_error: ErrorHandler | None = None) -> None:
        """Send ``message``; a failure goes to ``on_error`` (raised when it is None
        in direct mode, logged in threaded mode)."""
        if not self.threaded:
            try:
                self.layer.send(channel, message)
            except Exception as exc:
                if on_error is None:
                    raise
                on_error(exc)
            return
        with self._lock:
            if self._stopping:
                raise RuntimeError("LayerSender is stopped; no more sends")
            was_empty = not self._queue
            self._queue.append((channel, message, on_error))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="daphne layer sender", daemon=True
                )
                self._thread.start()
            elif was_empty:
                # the thread only ever waits on an empty queue
                self._lock.notify()

    def pending(self) -> int:
        """Sends queued and not yet made."""
        with self._lock:
            return len(self._queue)

    def stop(self, timeout: float = 2.0) -> None:
        """Make the queued sends (for up to ``timeout`` s), then end the thread."""
        with self._lock:
            self._stopping = True
            self._lock.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        queue, lock = self._queue, self._lock
        while True:
            with lock:
                while not queue and not self._stopping:
                    lock.wait()
                if not queue:
                    return
                channel, message, on_error = queue.popleft()
            try:
                self.layer.send(channel, message)
            except Exception as exc:
                if on_error is None:
                    logger.info("Could not send on %s: %s", channel, exc)
                    continue
                try:
                    self.reactor.callFromThread(on_error, exc)
                except Exception:
                    logger.debug("The reactor is gone; dropping the error of a send on %s", channel)
