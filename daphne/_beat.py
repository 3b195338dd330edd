"""The heartbeats of daphne's processes, and the poll that keeps daphne's
health answer fresh.

On a layer with the ``inspect`` extension, ``Server`` starts one
:class:`ServerBeat`: an ``asgi.heartbeat.Heartbeat`` (its own thread, never
the reactor's) announcing the process with its reply channel pattern and the
messages it sent to the layer, and a timer asking the layer every interval
which processes are alive (``HealthChecker``, off the reactor thread), so
that the 503 of an unanswered request can say at once when no worker
consumes ``http.request``. On any other layer nothing is started.

The other interface servers (``daphne-smtp``, ``daphne-irc``, ``daphne-udp``,
``daphne-slack``) have no health check, only the record:
:func:`start_heartbeat` starts it under the same conditions and
:func:`stop_heartbeat` removes it off the reactor thread
(``daphne/_protocol_cli.py`` wires both into their commands).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from twisted.internet import defer, task, threads

from asgi.heartbeat import DEFAULT_TTL, Heartbeat, has_inspect

__all__ = ["ServerBeat", "start_heartbeat", "start_server_beat", "stop_heartbeat"]

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
        return stop_heartbeat(self.heartbeat, self.reactor)


def start_server_beat(
    factory: Any, reactor: Any, *, kind: str, ttl: float, interval: float | None
) -> ServerBeat | None:
    """Start the heartbeat when the layer offers ``inspect`` and ``ttl`` is not 0."""
    if not ttl or not has_inspect(factory.channel_layer):
        return None
    beat = ServerBeat(factory, reactor, kind, ttl, interval)
    beat.start()
    return beat


def start_heartbeat(
    layer: Any,
    *,
    kind: str,
    channels: Callable[[], Iterable[str]],
    activity: Callable[[], tuple[int, float | None]],
    ttl: float,
    interval: float | None,
) -> Heartbeat | None:
    """Start a process's heartbeat thread when ``layer`` offers ``inspect``
    and ``ttl`` is not 0; None (nothing started) otherwise.

    ``channels`` and ``activity`` are read from the heartbeat thread at each
    renewal (see :class:`asgi.heartbeat.Heartbeat`). The first renewal is
    made by that thread, so calling this on the reactor thread never waits
    for the layer.
    """
    if not ttl or not has_inspect(layer):
        return None
    heartbeat = Heartbeat(layer, kind, channels, activity, ttl=ttl, interval=interval)
    heartbeat.start()
    logger.info("Heartbeat %s every %g s (ttl %g s)", heartbeat.process_id, heartbeat.interval, ttl)
    return heartbeat


def stop_heartbeat(heartbeat: Heartbeat, reactor: Any) -> defer.Deferred[None]:
    """Stop ``heartbeat`` and remove its record in the reactor's thread pool
    (the removal is a blocking layer call); fires once it is gone."""
    return threads.deferToThreadPool(reactor, reactor.getThreadPool(), heartbeat.stop)
