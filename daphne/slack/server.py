"""The Slack interface server: Events API in, ``chat.postMessage`` out.

:class:`SlackInterface` listens for Slack's Events API callbacks over HTTP
(:class:`~daphne.slack._resource.EventsResource`) and sends each message a
person writes to ``slack.receive``, off the reactor thread
(:class:`~daphne._offload.OffReactorSend`). It reads ``slack.send`` with a
:class:`~daphne._reply_reader.ReplyReader` thread (as ``daphne-irc`` reads
its control channel) and posts each message through a
:class:`~daphne.slack._poster.SlackPoster`.

Messages written by bots (``bot_id`` or subtype ``bot_message``), this
bot's own posts among them, are acknowledged and not put on the channel,
so a bot answering ``slack.receive`` never hears itself.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from twisted.internet import defer
from twisted.python.failure import Failure
from twisted.web import server

from asgi import slack as asgi_slack
from asgi.exceptions import InvalidMessage
from asgi.heartbeat import Activity
from asgi.types import ChannelLayer

from .. import _drops
from .._offload import OffReactorSend
from .._reply_reader import ReplyReader
from ._dedup import RecentEvents
from ._poster import DEFAULT_API_BASE, SlackPoster
from ._resource import DEFAULT_MAX_BODY, EventsResource

__all__ = ["DEFAULT_PATH", "DEFAULT_PORT", "SlackInterface"]

logger = logging.getLogger(__name__)

DEFAULT_PATH = "/slack/events"
DEFAULT_PORT = 8001

#: The process-specific prefix that only carries the reader's stop wake-up.
_PRIVATE_PREFIX = "slack.control"


class SlackInterface:
    """Serves the Events API on ``host:port`` and posts ``slack.send`` messages.

    ``port=0`` picks a free port; after :meth:`start`, ``address`` holds
    the bound ``(host, port)``. The secrets are passed in by the caller
    (the command reads them from the environment) and are never logged.
    ``activity`` counts the messages the layer took.
    """

    def __init__(
        self,
        channel_layer: ChannelLayer,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        signing_secret: str,
        bot_token: str,
        reactor: Any = None,
        path: str = DEFAULT_PATH,
        api_base: str = DEFAULT_API_BASE,
        receive_channel: str = asgi_slack.RECEIVE_CHANNEL,
        send_channel: str = asgi_slack.SEND_CHANNEL,
        queue_size: int = 100,
        timeout: float = 10.0,
        max_body: int = DEFAULT_MAX_BODY,
        dedup_ttl: float = 600.0,
        dedup_size: int = 10_000,
    ) -> None:
        if reactor is None:
            from twisted.internet import reactor
        for name, channel in (("receive_channel", receive_channel), ("send_channel", send_channel)):
            if not channel or any(c in channel for c in "!? "):
                raise ValueError(
                    f"{name} must be a normal channel name (no '!', '?' or space), got {channel!r}"
                )
        self.channel_layer = channel_layer
        self.reactor = reactor
        self.host = host
        self.port = port
        self.receive_channel = receive_channel
        self.send_channel = send_channel
        self.offload = OffReactorSend(channel_layer, reactor)
        self.resource = EventsResource(
            signing_secret,
            self._deliver,
            clock=reactor.seconds,
            path=path,
            recent=RecentEvents(reactor.seconds, dedup_ttl, dedup_size),
            max_body=max_body,
        )
        self.poster = SlackPoster(
            reactor, bot_token, api_base=api_base, queue_size=queue_size, timeout=timeout
        )
        self.site = server.Site(self.resource, reactor=reactor)
        self.site.noisy = False
        self.site.timeOut = 30
        self._reader = ReplyReader(
            channel_layer,
            f"{_PRIVATE_PREFIX}.{secrets.token_hex(6)}!",
            reactor,
            self._send_received,
            channels=[send_channel],
        )
        self.address: tuple[str, int] | None = None
        self.layer_failures = 0
        self.invalid = 0
        self.activity = Activity()
        self._listening: Any = None

    def consumed_channels(self) -> list[str]:
        """The channels read from the layer, for the heartbeat record:
        ``send_channel`` (the private prefix only carries the stop wake-up)."""
        return [self.send_channel]

    def start(self) -> None:
        """Start listening and reading ``slack.send``. Call in the reactor thread."""
        self._listening = self.reactor.listenTCP(self.port, self.site, interface=self.host)
        bound = self._listening.getHost()
        self.address = (bound.host, bound.port)
        self._reader.start()
        logger.info(
            "Slack events on http://%s:%d%s; posting %s to %s",
            bound.host,
            bound.port,
            self.resource.path.decode(),
            self.send_channel,
            self.poster.url.decode(),
        )

    def stop(self) -> defer.Deferred:
        """Stop listening and reading; let the post in flight finish. Returns a Deferred."""
        listening, self._listening = self._listening, None
        waits = []
        if listening is not None:
            waits.append(defer.maybeDeferred(listening.stopListening))
        self._reader.stop()
        self.offload.stop()
        waits.append(self.poster.stop())
        return defer.gatherResults(waits, consumeErrors=True)

    # -- Slack to the layer ------------------------------------------------------------

    def _deliver(self, message: dict) -> None:
        self.offload.send(self.receive_channel, message).addCallbacks(self._sent, self._send_failed)

    def _sent(self, _: None) -> None:
        self.activity.note()

    def _send_failed(self, failure: Failure) -> None:
        self.layer_failures += 1
        layer = self.channel_layer
        if failure.check(layer.ChannelFull, layer.MessageTooLarge):
            reason = type(failure.value).__name__
            full = failure.check(layer.ChannelFull)
            _drops.report_drop(
                _drops.CHANNEL_FULL if full else _drops.TOO_LARGE, self.receive_channel
            )
        else:
            reason = f"the layer failed: {failure.value}"
            _drops.report_drop(_drops.LAYER_DOWN, self.receive_channel)
        logger.warning("Dropped a Slack message for %s: %s", self.receive_channel, reason)

    # -- the layer to Slack ------------------------------------------------------------

    def _send_received(self, channel: str, message: dict) -> None:
        if channel != self.send_channel:
            logger.warning("Ignored a message on %s: nothing is sent there", channel)
            return
        try:
            post = asgi_slack.parse_slack_send(message)
        except InvalidMessage as exc:
            self.invalid += 1
            logger.warning("Ignored an invalid message on %s: %s", channel, exc)
            return
        self.poster.post(post)
