"""The IRC-client interface server (spec section 1.8, "IRC client") on ``twisted.words``.

:class:`IRCInterface` connects out to one IRC server as a user, joins the
configured channels, and bridges to the channel layer:

- on sign-on it sends ``irc-client.connect``, and ``irc-client.join`` for
  every channel it joins;
- every message, action (CTCP ACTION) and notice it hears becomes
  ``irc-client.receive`` (``channel`` is where an answer should go: the IRC
  channel, or the sender's nick for a private message);
- control messages on its reply channel ``irc-client.send.<id>!client``
  (join, part, message, action) are obeyed, read by a
  :class:`~daphne._reply_reader.ReplyReader` thread.

Lines sent are flood-controlled (:class:`~daphne.irc._throttle.LineThrottle`:
``flood_burst`` lines at once, then one per ``flood_interval`` seconds;
``flood_interval=None`` turns it off). A lost or refused connection is
retried with exponential backoff (``initial_delay`` doubling up to
``max_delay``, with jitter); the delay resets once signed on. The reply channel and the joined channels survive
reconnections. A control message arriving while disconnected is dropped
with a warning (joins and parts still update the channels to rejoin).
"""

from __future__ import annotations

import logging
import secrets
from collections import deque
from collections.abc import Iterable
from typing import Any

from twisted.internet import defer, protocol, task
from twisted.python.failure import Failure
from twisted.words.protocols import irc

from asgi import irc as asgi_irc
from asgi.exceptions import InvalidMessage
from asgi.heartbeat import Activity
from asgi.types import ChannelLayer

from .. import _drops
from .._offload import OffReactorSend
from .._reply_reader import ReplyReader
from ._throttle import LineThrottle

__all__ = ["IRCClientFactory", "IRCClientProtocol", "IRCInterface"]

logger = logging.getLogger(__name__)

_CHANNEL_PREFIXES = "#&!+"


def channel_name(name: str) -> str:
    """``name`` with a ``#`` in front unless it already has a channel prefix."""
    return name if name[:1] in _CHANNEL_PREFIXES else "#" + name


class IRCClientProtocol(irc.IRCClient):
    """One connection to the IRC server; reports events to its factory."""

    def __init__(self, factory: IRCClientFactory) -> None:
        self.factory = factory
        self.nickname = factory.nickname
        self.realname = factory.realname
        self.username = factory.username
        self.password = factory.password
        self.heartbeatInterval = factory.heartbeat_interval
        self.signed_on = False
        self._pending: deque[str] = deque()
        self._drain_call: Any = None
        self._throttle = factory.make_throttle()
        self._ping_loop: task.LoopingCall | None = None

    def sendLine(self, line: str) -> None:
        # Lines wait their turn in the flood-control bucket (Twisted's own
        # lineRate would schedule on the global reactor).
        if self._throttle is None:
            super().sendLine(line)  # twisted.words' own lineRate is off: sent now
            return
        self._pending.append(line)
        if self._drain_call is None:
            self._drain()

    def _drain(self) -> None:
        self._drain_call = None
        while self._pending:
            wait = self._throttle.delay()
            if wait > 0:
                self._drain_call = self.factory.reactor.callLater(wait, self._drain)
                return
            self._throttle.take()
            irc.IRCClient.sendLine(self, self._pending.popleft())

    def flush_and_close(self) -> None:
        """Write every waiting line now (flood control no longer matters) and hang up."""
        if self._drain_call is not None and self._drain_call.active():
            self._drain_call.cancel()
        self._drain_call = None
        while self._pending:
            irc.IRCClient.sendLine(self, self._pending.popleft())
        self.transport.loseConnection()

    def lineReceived(self, line: bytes) -> None:
        # Twisted decodes strictly; one Latin-1 line must not drop the connection.
        if isinstance(line, bytes):
            line = line.decode("utf-8", "replace")
        super().lineReceived(line)

    # The keepalive PINGs, on the factory's clock (Twisted's own would use
    # the global reactor): twisted.words calls these two public methods on
    # sign-on and on connection loss.
    def startHeartbeat(self) -> None:
        self.stopHeartbeat()
        if self.heartbeatInterval is None:
            return
        self._ping_loop = task.LoopingCall(self._send_ping)
        self._ping_loop.clock = self.factory.reactor
        self._ping_loop.start(self.heartbeatInterval, now=False)

    def stopHeartbeat(self) -> None:
        if self._ping_loop is not None:
            self._ping_loop.stop()
            self._ping_loop = None

    def _send_ping(self) -> None:
        self.sendLine("PING " + self.hostname)

    def signedOn(self) -> None:
        self.signed_on = True
        self.factory.signed_on(self)

    def joined(self, channel: str) -> None:
        self.factory.joined(channel)

    def privmsg(self, user: str, channel: str, message: str) -> None:
        self.factory.heard("message", user, self._answer_to(user, channel), message)

    def action(self, user: str, channel: str, data: str) -> None:
        self.factory.heard("action", user, self._answer_to(user, channel), data)

    def noticed(self, user: str, channel: str, message: str) -> None:
        # Notices before sign-on are the server's own chatter ("Looking up your hostname").
        if self.signed_on:
            self.factory.heard("notice", user, self._answer_to(user, channel), message)

    def connectionLost(self, reason: Any) -> None:
        if self._drain_call is not None and self._drain_call.active():
            self._drain_call.cancel()
        self._pending.clear()
        super().connectionLost(reason)
        self.factory.lost(self)

    def _answer_to(self, user: str, channel: str) -> str:
        if channel[:1] in _CHANNEL_PREFIXES:
            return channel
        return user.split("!", 1)[0]


class IRCClientFactory(protocol.ReconnectingClientFactory):
    """Keeps the client's identity across reconnections and talks to the layer."""

    noisy = False

    def __init__(
        self,
        channel_layer: ChannelLayer,
        server: tuple[str, int],
        *,
        reactor: Any,
        nickname: str,
        channels: Iterable[str] = (),
        password: str | None = None,
        realname: str | None = None,
        username: str | None = None,
        initial_delay: float = 1.0,
        max_delay: float = 60.0,
        heartbeat_interval: float | None = 120,
        flood_burst: int = 5,
        flood_interval: float | None = 1.0,
    ) -> None:
        if not nickname or any(c in nickname for c in " !@\r\n"):
            raise ValueError(f"nickname must be one word without '!' or '@', got {nickname!r}")
        self.channel_layer = channel_layer
        self.server = (server[0], int(server[1]))
        self.reactor = self.clock = reactor
        self.offload = OffReactorSend(channel_layer, reactor)
        self.nickname = nickname
        self.channels = [channel_name(c) for c in channels]
        self.password = password
        self.realname = realname or nickname
        self.username = username or nickname
        self.heartbeat_interval = heartbeat_interval
        self.flood_burst = flood_burst
        self.flood_interval = flood_interval
        if flood_interval is not None:
            LineThrottle(reactor.seconds, flood_burst, flood_interval)  # checks the values
        self.initialDelay = self.delay = initial_delay
        self.maxDelay = max_delay
        self.factor = 2.0
        self.reply_prefix = f"{asgi_irc.REPLY_CHANNEL_PREFIX}.{secrets.token_hex(6)}!"
        self.reply_channel = self.reply_prefix + "client"
        self.client: IRCClientProtocol | None = None
        self.connections = 0
        self.dropped = 0
        #: The messages the layer took, and when the last one was (the heartbeat's activity).
        self.activity = Activity()
        self._lost_waiters: dict[IRCClientProtocol, list[defer.Deferred]] = {}

    def buildProtocol(self, addr: Any) -> IRCClientProtocol:
        return IRCClientProtocol(self)

    def make_throttle(self) -> LineThrottle | None:
        """A fresh flood-control bucket per connection, or None when disabled."""
        if self.flood_interval is None:
            return None
        return LineThrottle(self.reactor.seconds, self.flood_burst, self.flood_interval)

    # -- events from the protocol ---------------------------------------------------

    def signed_on(self, client: IRCClientProtocol) -> None:
        self.resetDelay()
        self.client = client
        self.connections += 1
        logger.info("Signed on to %s:%d as %s", *self.server, client.nickname)
        self._send(
            asgi_irc.CONNECT_CHANNEL,
            asgi_irc.irc_connect(reply_channel=self.reply_channel, server=list(self.server)),
        )
        for channel in self.channels:
            client.join(channel)

    def joined(self, channel: str) -> None:
        logger.info("Joined %s", channel)
        self._send(
            asgi_irc.JOIN_CHANNEL,
            asgi_irc.irc_join(reply_channel=self.reply_channel, channel=channel),
        )

    def heard(self, kind: str, user: str, channel: str, body: str) -> None:
        self._send(
            asgi_irc.RECEIVE_CHANNEL,
            asgi_irc.irc_receive(
                reply_channel=self.reply_channel, type=kind, user=user, channel=channel, body=body
            ),
        )

    def lost(self, client: IRCClientProtocol) -> None:
        if self.client is client:
            self.client = None
            if self.continueTrying:
                logger.warning("Lost the connection to %s:%d", *self.server)
        for waiter in self._lost_waiters.pop(client, []):
            waiter.callback(None)

    def when_lost(self, client: IRCClientProtocol) -> defer.Deferred:
        """A Deferred firing when ``client``'s connection is closed."""
        waiter: defer.Deferred = defer.Deferred()
        self._lost_waiters.setdefault(client, []).append(waiter)
        return waiter

    def clientConnectionFailed(self, connector: Any, reason: Any) -> None:
        logger.warning(
            "Cannot connect to %s:%d (%s); retrying", *self.server, reason.getErrorMessage()
        )
        super().clientConnectionFailed(connector, reason)

    # -- control messages from the application ------------------------------------------

    def control_received(self, channel: str, message: dict) -> None:
        try:
            control = asgi_irc.parse_irc_control(message)
        except InvalidMessage as exc:
            logger.warning("Ignored an invalid control message on %s: %s", channel, exc)
            return
        if control.type == "join":
            target = channel_name(control.channel)
            if target not in self.channels:
                self.channels.append(target)
        elif control.type == "part":
            target = channel_name(control.channel)
            if target in self.channels:
                self.channels.remove(target)
        client = self.client
        if client is None:
            logger.warning("Dropped a %r control message: not connected", control.type)
            return
        if control.type == "join":
            client.join(control.channel)
        elif control.type == "part":
            client.leave(control.channel)
        elif control.type == "message":
            client.msg(control.channel, control.body)
        else:
            client.describe(control.channel, control.body)

    def _send(self, channel: str, message: dict) -> None:
        # off the reactor thread, in order: a slow layer must not stall the
        # IRC connection (and its PING answers)
        self.offload.send(channel, message).addCallbacks(
            self._sent, self._send_failed, errbackArgs=(channel,)
        )

    def _sent(self, _: None) -> None:
        self.activity.note()

    def _send_failed(self, failure: Failure, channel: str) -> None:
        self.dropped += 1
        layer = self.channel_layer
        if failure.check(layer.ChannelFull, layer.MessageTooLarge):
            full = failure.check(layer.ChannelFull)
            _drops.report_drop(_drops.CHANNEL_FULL if full else _drops.TOO_LARGE, channel)
            logger.warning("Dropped a message for %s: %s", channel, type(failure.value).__name__)
        else:
            _drops.report_drop(_drops.LAYER_DOWN, channel)
            logger.warning("Dropped a message for %s: the layer failed: %s", channel, failure.value)


class IRCInterface:
    """Runs one IRC client connection against a channel layer.

    Options are those of :class:`IRCClientFactory` (``nickname``,
    ``channels``, ``password``, ``initial_delay``, ``max_delay``, ...).
    """

    def __init__(
        self,
        channel_layer: ChannelLayer,
        host: str,
        port: int = 6667,
        *,
        reactor: Any = None,
        **options: Any,
    ) -> None:
        if reactor is None:
            from twisted.internet import reactor
        self.reactor = reactor
        self.factory = IRCClientFactory(channel_layer, (host, port), reactor=reactor, **options)
        self._reader = ReplyReader(
            channel_layer, self.factory.reply_prefix, reactor, self.factory.control_received
        )
        self._connector: Any = None

    @property
    def reply_channel(self) -> str:
        return self.factory.reply_channel

    @property
    def activity(self) -> Activity:
        """The messages sent to the layer, for the heartbeat record."""
        return self.factory.activity

    def consumed_channels(self) -> list[str]:
        """The channels read from the layer, for the heartbeat record: the
        control channel pattern ``irc-client.send.<id>!*``."""
        return [self.factory.reply_prefix + "*"]

    def start(self) -> None:
        """Start connecting and reading control messages. Call in the reactor thread."""
        host, port = self.factory.server
        logger.info("Connecting to IRC server %s:%d", host, port)
        self._reader.start()
        self._connector = self.reactor.connectTCP(host, port, self.factory)

    def stop(self, grace: float = 3.0) -> defer.Deferred:
        """Stop reconnecting, say QUIT, and close the connection.

        Returns a Deferred that fires once the connection is closed (at most
        ``grace`` seconds later), so a reactor shutdown waits for the QUIT
        to be written.
        """
        self.factory.stopTrying()
        self._reader.stop()
        self.factory.offload.stop()
        client, connector = self.factory.client, self._connector
        self._connector = None
        if client is None:
            if connector is not None:
                connector.disconnect()
            return defer.succeed(None)
        closed = self.factory.when_lost(client)
        client.quit("Shutting down")
        client.flush_and_close()
        timer = self.reactor.callLater(grace, client.transport.abortConnection)
        closed.addBoth(lambda result: timer.cancel() if timer.active() else None)
        return closed
