"""Sends made for the reactor without running on it.

A network layer can take as long as its broker does to answer a send; made
on the reactor thread, that wait would freeze every connection of the
process. The HTTP and WebSocket hot paths go through ``LayerSender``; the
sends that need to know their outcome (a body chunk before the next one, a
mail before the SMTP reply) or that come from the other interface servers
(UDP, IRC) use :class:`OffReactorSend`, which hands back a Deferred:

* ``"reactor"``: the layer writes from the reactor without waiting
  (``send_batch_twisted``, the Redis layer);
* ``"thread"``: a network layer without it (the ``twisted`` extension but
  no ``send_batch_twisted``): one thread of its own makes the sends, in the
  order they were asked for;
* ``"inline"``: a local layer (in-memory), whose send never waits: made at
  once, the Deferred already fired.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from twisted.internet import defer, threads
from twisted.python.threadpool import ThreadPool

__all__ = ["OffReactorSend", "send_in_background", "send_mode"]

logger = logging.getLogger(__name__)


def send_mode(layer: Any) -> str:
    """``"reactor"``, ``"thread"`` or ``"inline"``: how to send to ``layer``
    without blocking the reactor (see the module docstring)."""
    if callable(getattr(layer, "send_batch_twisted", None)):
        return "reactor"
    if "twisted" in getattr(layer, "extensions", ()):
        return "thread"
    return "inline"


class OffReactorSend:
    """``send(channel, message)`` returning a Deferred that fires None once
    the layer took the message, or fails with the layer's exception."""

    def __init__(self, layer: Any, reactor: Any, mode: str | None = None) -> None:
        self.layer = layer
        self.reactor = reactor
        self.mode = mode or send_mode(layer)
        if self.mode not in ("reactor", "thread", "inline"):
            raise ValueError(f"expected mode 'reactor', 'thread' or 'inline', got {self.mode!r}")
        self._pool: ThreadPool | None = None

    def send(self, channel: str, message: dict) -> defer.Deferred:
        if self.mode == "reactor":
            return self.layer.send_batch_twisted([(channel, message)]).addCallback(_first_outcome)
        if self.mode == "thread":
            return threads.deferToThreadPool(
                self.reactor, self._thread(), self.layer.send, channel, message
            )
        try:
            self.layer.send(channel, message)
        except Exception as exc:  # noqa: BLE001 - handed to the caller as the Deferred's failure
            return defer.fail(exc)
        return defer.succeed(None)

    def _thread(self) -> ThreadPool:
        if self._pool is None:
            # one thread: sends land in the order they were asked for
            self._pool = ThreadPool(minthreads=1, maxthreads=1, name="daphne layer sends")
            self._pool.start()
        return self._pool

    def stop(self) -> None:
        """End the thread (after the sends already asked for)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.stop()


def _first_outcome(outcomes: list) -> None:
    error = outcomes[0]
    if error is not None:
        raise error


def send_in_background(layer: Any, channel: str, message: dict) -> threading.Thread:
    """Send ``message`` from a daemon thread of its own and return at once.

    For the wake-up messages that end a reader's blocking receive at stop:
    nothing waits for their outcome, and a layer that does not answer must
    not hold up the reactor's shutdown (a failure is logged at DEBUG).
    """

    def send() -> None:
        try:
            layer.send(channel, message)
        except Exception as exc:  # noqa: BLE001 - only a quicker stop is lost
            logger.debug("Could not send the wake-up message to %s: %s", channel, exc)

    thread = threading.Thread(target=send, name=f"daphne wake-up {channel}", daemon=True)
    thread.start()
    return thread
