"""This daphne's heartbeat, and the poll that keeps its health answer fresh.

On a layer with the ``inspect`` extension, ``Server`` starts one
:class:`ServerBeat`: an ``asgi.heartbeat.Heartbeat`` (its own thread, never
the reactor's) announcing the process with its reply channel pattern and the
messages it sent to the layer, and a timer asking the layer every interval
which processes are alive (``HealthChecker``, off the reactor thread), so
that the 503 of an unanswered request can say at once when no worker
consumes ``http.request``. On any other layer nothing is started.
"""

from __future__ import annotations

import logging
from typing import Any

from twisted.internet import defer, task, threads

from asgi.heartbeat import DEFAULT_TTL, Heartbeat, has_inspect

__all__ = ["ServerBeat", "start_server_beat"]

logger = logging.getLogger(__name__)


def _activity(senders: list[Any]) -> tuple[int, float | None]:
    handled = sum(sender.sent for sender in senders)
    times = [sender.last_sent for sender in senders if sender.last_sent is not None]
    return handled, max(times) if times else None


class ServerBeat:
    """The heartbeat thread and the health poll of one running server."""

    def __init__(
        self,
        factory: Any,
        reactor: Any,
        kind: str = "daphne",
        ttl: float = DEFAULT_TTL,
        interval: float | None = None,
    ) -> None:
        self.reactor = reactor
        self.factory = factory
        senders = list({id(s): s for s in (factory.sender, factory.connect_sender)}.values())
        pattern = factory.send_channel + "*"
        self.heartbeat = Heartbeat(
            factory.channel_layer,
            kind,
            lambda: [pattern],
            lambda: _activity(senders),
            ttl=ttl,
            interval=interval,
        )
        self._poll = task.LoopingCall(factory.health.check)
        self._poll.clock = reactor

    def start(self) -> None:
        self.heartbeat.start()
        self._poll.start(self.heartbeat.interval, now=True)
        logger.info(
            "Heartbeat %s every %g s (ttl %g s)",
            self.heartbeat.process_id,
            self.heartbeat.interval,
            self.heartbeat.ttl,
        )

    def stop(self) -> defer.Deferred[None]:
        """Stop polling, stop the heartbeat and remove the record (in a thread)."""
        if self._poll.running:
            self._poll.stop()
        return threads.deferToThreadPool(
            self.reactor, self.reactor.getThreadPool(), self.heartbeat.stop
        )


def start_server_beat(
    factory: Any, reactor: Any, *, kind: str, ttl: float, interval: float | None
) -> ServerBeat | None:
    """Start the heartbeat when the layer offers ``inspect`` and ``ttl`` is not 0."""
    if not ttl or not has_inspect(factory.channel_layer):
        return None
    beat = ServerBeat(factory, reactor, kind, ttl, interval)
    beat.start()
    return beat
