"""WebSocket on Autobahn: ``WebSocketProtocol`` and ``WebSocketFactory``.

See docs/asgi/www.rst, "WebSocket", and docs/topics/daphne.rst, "WebSocket".

The opening handshake is held open (``onConnect`` returns a Deferred) until
the application accepts or rejects on the reply channel. Pings, the
connect/idle/lifetime timeouts and the outgoing-buffer limit run on the
injected clock. ``_ws_state.WebSocketState`` decides; this class moves
frames and guarantees exactly one ``websocket.disconnect`` per connection.
Incoming frames go through the factory's ``LayerSender``, which admits the
sockets' frames fairly; while too many of one socket's frames wait there,
the socket is not read (TCP backpressure on the client). Whole, unfragmented
text and binary frames are read by ``_compat.SimpleFrameReader``
(``_ws_frames``) rather than by Autobahn's general parser, which stays in
charge of everything else.
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

from autobahn.twisted.websocket import (
    ConnectionDeny,
    WebSocketServerFactory,
    WebSocketServerProtocol,
)
from twisted.internet import defer

from asgi import www

from . import _drops
from ._compat import WEBSOCKET_FRAMES, SimpleFrameReader, stock_frames_protocol
from ._layer_errors import OUTAGE_NOTE, layer_unavailable
from ._rate_limit import TokenBucket
from ._scope import request_fields
from ._ws_state import Accept, Close, Phase, Reject, Send, WebSocketState
from .exceptions import InvalidReply

__all__ = ["WebSocketFactory", "WebSocketProtocol"]

logger = logging.getLogger(__name__)

#: A socket stops being read while this many of its frames wait to get into
#: the layer (queued, or refused by a full ``websocket.receive``) ...
READ_PAUSE_BACKLOG = 16
#: ... and is read again once no more than this many are left.
READ_RESUME_BACKLOG = 4
#: Fewest seconds between two pings of a silent socket (see ``_ping_interval``).
MIN_PING_INTERVAL = 2.0


class WebSocketProtocol(SimpleFrameReader, WebSocketServerProtocol):
    """One WebSocket connection, translated to ``websocket.*`` messages."""

    #: Set by the HTTP request that handed this connection over: the fields
    #: daphne parsed from the upgrade request (order and duplicates kept).
    upgrade_fields = None

    def __init__(self) -> None:
        super().__init__()
        self.ws_state = WebSocketState()
        self.reply_channel: str | None = None
        self.path = ""
        self.client_text: str | None = None
        self._handshake: defer.Deferred | None = None
        self._subprotocol: str | None = None
        self._timers: dict[str, Any] = {}
        self._bucket: TokenBucket | None = None
        self._paused = False
        self._written_while_paused = 0
        self._reading_paused = False
        self.last_seen = 0.0
        #: When the handshake began (the handshake latency metric).
        self._connect_started = 0.0

    # -- helpers ------------------------------------------------------------------

    @property
    def main_factory(self) -> Any:
        return self.factory.main_factory

    @property
    def clock(self) -> Any:
        return self.main_factory.clock

    def _schedule(self, name: str, delay: float | None, function: Any) -> None:
        self._cancel(name)
        if delay is not None and delay >= 0:
            self._timers[name] = self.clock.callLater(delay, function)

    def _cancel(self, name: str) -> None:
        call = self._timers.pop(name, None)
        if call is not None and call.active():
            call.cancel()

    def _log(self, action: str) -> None:
        self.main_factory.log_action(
            "websocket", action, {"path": self.path, "client": self.client_text}
        )

    # -- handshake -------------------------------------------------------------

    def onConnect(self, request: Any) -> defer.Deferred:
        factory = self.main_factory
        self.last_seen = self._connect_started = self.clock.seconds()
        fields = self.upgrade_fields
        if fields is None:
            peer, host = self.transport.getPeer(), self.transport.getHost()
            fields = request_fields(
                target=self.http_request_uri.encode("latin-1"),
                raw_headers=[
                    (n.encode("latin-1"), v.encode("latin-1")) for n, v in self.http_headers.items()
                ],
                secure=self.factory.isSecure,
                websocket=True,
                client=[peer.host, peer.port] if hasattr(peer, "port") else None,
                server=[host.host, host.port] if hasattr(host, "port") else None,
                root_path=factory.root_path,
                proxy=factory.proxy_headers,
            )
        self.path = fields.path
        if fields.client:
            self.client_text = f"{fields.client[0]}:{fields.client[1]}"
        for offered in request.protocols or []:
            if offered in (self.factory.protocols or []):
                self._subprotocol = offered
                break
        self.reply_channel = factory.make_send_channel()
        message = www.websocket_connect(
            reply_channel=self.reply_channel,
            path=fields.path,
            headers=fields.headers,
            query_string=fields.query_string,
            scheme=fields.scheme,
            root_path=fields.root_path,
            client=fields.client,
            server=fields.server,
            join_repeated_headers=factory.websocket_join_repeated_headers,
        )
        # Registered before the send: with a threaded sender the answer can
        # come back before the send call has even been made.
        factory.reply_protocols[self.reply_channel] = self
        self.factory.protocols_alive.add(self)
        self._handshake = defer.Deferred()
        self._schedule("connect", factory.websocket_connect_timeout, self._connect_timed_out)
        self._schedule("lifetime", factory.websocket_timeout, self._lifetime_over)
        self._log("connecting")
        handshake = self._handshake
        # Through the handshake lane, never a blocking send here: on a layer
        # that does not answer, a send on the reactor thread froze every
        # other socket (and in the frames' lane it would hold up their frames).
        # (A direct sender may refuse at once, settling ``handshake`` already.)
        try:
            factory.connect_sender.send("websocket.connect", message, self._connect_not_sent)
        except RuntimeError:
            _drops.report_drop(_drops.SHUTDOWN, "websocket.connect")
            logger.info("Server stopping; refusing %s with 503", self.path)
            self._apply(self.ws_state.connect_not_sent(503, "Server shutting down"))
        return handshake

    def _connect_not_sent(self, exc: BaseException) -> None:
        """The layer refused ``websocket.connect``: refuse the handshake with
        503 when the layer is full or unreachable, 500 for anything else (a
        bug); the application never heard of the socket, so no disconnect."""
        factory = self.main_factory
        if isinstance(exc, factory.channel_layer.ChannelFull):
            _drops.report_drop(_drops.CHANNEL_FULL, "websocket.connect")
            logger.warning("websocket.connect is full; refusing %s with 503", self.path)
            status, reason = 503, "Connection queue at capacity"
        elif layer_unavailable(exc):
            _drops.report_drop(_drops.LAYER_DOWN, "websocket.connect")
            first = factory.layer_outage.failed()
            logger.log(
                logging.WARNING if first else logging.DEBUG,
                "Channel layer unavailable; refusing %s with 503%s: %s",
                self.path,
                OUTAGE_NOTE if first else "",
                exc,
            )
            status, reason = 503, "Service unavailable"
        else:
            logger.error(
                "Sending websocket.connect failed; refusing %s with 500",
                self.path,
                exc_info=(type(exc), exc, exc.__traceback__),
            )
            status, reason = 500, "Internal server error"
        self._apply(self.ws_state.connect_not_sent(status, reason))

    def _connect_timed_out(self) -> None:
        self._timers.pop("connect", None)
        _drops.report_drop(_drops.TIMEOUT, "websocket.connect")
        logger.info("No answer to websocket.connect for %s; rejecting", self.path)
        self._apply(self.ws_state.connect_timed_out())

    def onOpen(self) -> None:
        self._simple_frame_limit = self._simple_frame_limit_for_connection()
        rate = self.main_factory.websocket_rate_limit
        if rate:
            # bursts of up to two seconds' worth (at least 10) before the limit bites
            self._bucket = TokenBucket(rate, max(2 * rate, 10), self.clock.seconds())
        self.ws_state.opened()
        self._log("connected")
        self._schedule("ping", self._ping_interval(), self._ping_check)

    # -- replies (called by HTTPFactory.dispatch_reply) --------------------------

    def handle_reply(self, message: Any) -> None:
        """Apply one Send/Close/Accept message from the reply channel."""
        try:
            actions = self.ws_state.reply(message)
        except InvalidReply as exc:
            logger.error("Invalid WebSocket reply for %s: %s", self.path, exc)
            actions = self.ws_state.close(1011)
        self._apply(actions)

    def _apply(self, actions: list) -> None:
        for action in actions:
            if isinstance(action, Accept):
                self._cancel("connect")
                handshake, self._handshake = self._handshake, None
                if handshake is not None:
                    self._count_handshake(accepted=True)
                    handshake.callback(self._subprotocol)
            elif isinstance(action, Reject):
                self._cancel("connect")
                handshake, self._handshake = self._handshake, None
                self._log("rejected")
                if handshake is not None:
                    self._count_handshake(accepted=False)
                    handshake.errback(ConnectionDeny(action.status, action.reason))
            elif isinstance(action, Send):
                self._send(action.data)
            elif isinstance(action, Close):
                if self.state == self.STATE_OPEN:
                    self.sendCloseFrame(code=action.code, isReply=False)

    def _count_handshake(self, accepted: bool) -> None:
        metrics = self.main_factory.metrics
        if metrics is not None:
            metrics.handshake(accepted, self.clock.seconds() - self._connect_started)

    def _send(self, data: str | bytes) -> None:
        if self.state != self.STATE_OPEN:
            return
        payload = data.encode("utf-8") if isinstance(data, str) else data
        self.sendMessage(payload, isBinary=not isinstance(data, str))
        metrics = self.main_factory.metrics
        if metrics is not None:
            metrics.frame_out()
        if self._paused:
            self._written_while_paused += len(payload)
            if self._written_while_paused > self.factory.buffer_limit:
                self._overloaded()

    def _overloaded(self) -> None:
        _drops.report_drop(_drops.SLOW_READER, "websocket.send!")
        logger.warning(
            "Client at %s reads too slowly (%d bytes queued); closing with 1013",
            self.client_text,
            self._written_while_paused,
        )
        self._apply(self.ws_state.close(1013))
        # The peer is not reading, so it will not answer the close frame.
        self.dropConnection(abort=True)

    # 1.x names, kept for code that drove the protocol directly.
    def serverAccept(self) -> None:
        self.handle_reply({"accept": True})

    def serverReject(self) -> None:
        self.handle_reply({"accept": False})

    def serverSend(self, content: str | bytes, binary: bool = False) -> None:
        self.handle_reply({"bytes": content} if binary else {"text": content})

    def serverClose(self, code: bool | int = True) -> None:
        self.handle_reply({"close": code})

    # -- frames and liveness -----------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        self.last_seen = self.clock.seconds()
        self.read_frames(data)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        metrics = self.main_factory.metrics
        if metrics is not None:
            metrics.frame_in()
        if self._bucket is not None and not self._bucket.take(self.clock.seconds()):
            _drops.report_drop(_drops.RATE_LIMIT, "websocket.receive")
            logger.warning(
                "%s sent more than %s messages/s; closing with 1008",
                self.path,
                self._bucket.rate,
            )
            self._apply(self.ws_state.close(1008))
            return
        order = self.ws_state.frame_received()
        if order is None:
            return
        message = www.websocket_receive(
            reply_channel=self.reply_channel,
            path=self.path,
            order=order,
            **({"bytes": payload} if isBinary else {"text": payload.decode("utf-8")}),
        )
        sender = self.main_factory.sender
        sender.send("websocket.receive", message, self._frame_not_sent, retry_full=True)
        if not self._reading_paused and sender.backlog(self.reply_channel) >= READ_PAUSE_BACKLOG:
            self._pause_reading(sender)

    def _pause_reading(self, sender: Any) -> None:
        """Too many of this socket's frames wait for the layer: stop reading it,
        so the kernel's buffers fill and the client slows down, until they are in."""
        if self.transport is None or not sender.when_drained(
            self.reply_channel, READ_RESUME_BACKLOG, self._resume_reading
        ):
            return
        self._reading_paused = True
        self.transport.pauseProducing()

    def _resume_reading(self) -> None:
        if not self._reading_paused:
            return
        self._reading_paused = False
        if self.transport is not None and self.ws_state.phase is not Phase.CLOSED:
            self.transport.resumeProducing()

    def _frame_not_sent(self, exc: BaseException) -> None:
        """``websocket.receive`` was refused: still full after the sender's
        retries, or an unreachable layer, closes with 1013; anything else (a
        bug) with 1011. The sender drops this socket's later frames and keeps
        the disconnect's ``order`` right after the last frame delivered."""
        if isinstance(exc, self.main_factory.channel_layer.ChannelFull):
            _drops.report_drop(_drops.CHANNEL_FULL, "websocket.receive")
            logger.warning(
                "websocket.receive had no room in time (%s); closing %s with 1013", exc, self.path
            )
            self._apply(self.ws_state.close(1013))
        elif layer_unavailable(exc):
            _drops.report_drop(_drops.LAYER_DOWN, "websocket.receive")
            first = self.main_factory.layer_outage.failed()
            logger.log(
                logging.WARNING if first else logging.DEBUG,
                "Channel layer unavailable; closing %s with 1013%s: %s",
                self.path,
                OUTAGE_NOTE if first else "",
                exc,
            )
            self._apply(self.ws_state.close(1013))
        else:
            logger.error(
                "Sending websocket.receive failed; closing %s with 1011",
                self.path,
                exc_info=(type(exc), exc, exc.__traceback__),
            )
            self._apply(self.ws_state.close(1011))

    def _ping_interval(self) -> float:
        """Seconds of silence before a ping: ``ping_interval``, but at least
        ``MIN_PING_INTERVAL`` (1.x looked at its sockets every 2 s, so a
        shorter interval, 0 included, pinged a silent socket every 2 s; taken
        literally it would ping in a busy loop)."""
        return max(self.main_factory.ping_interval, MIN_PING_INTERVAL)

    def _ping_check(self) -> None:
        interval = self._ping_interval()
        idle = self.clock.seconds() - self.last_seen
        if idle >= interval:
            self.sendPing()
            timeout = self.main_factory.ping_timeout
            # a ping_timeout of 0 waits for ever, as autobahn's autoPingTimeout did in 1.x
            if timeout > 0 and "pong" not in self._timers:
                self._schedule("pong", timeout, self._pong_missing)
            self._schedule("ping", interval, self._ping_check)
        else:
            self._schedule("ping", interval - idle, self._ping_check)

    def onPong(self, payload: bytes) -> None:
        self._cancel("pong")

    def _pong_missing(self) -> None:
        self._timers.pop("pong", None)
        if self.clock.seconds() - self.last_seen < self.main_factory.ping_timeout:
            return
        logger.info("No pong from %s within the ping timeout; dropping", self.client_text)
        self.dropConnection(abort=True)

    def _lifetime_over(self) -> None:
        self._timers.pop("lifetime", None)
        logger.info("WebSocket %s reached websocket_timeout; closing", self.path)
        self._apply(self.ws_state.close(1000))

    def close_reaped(self) -> None:
        """A survivor already sent this socket's disconnect (this server's
        lease was lost): close with 1013 and send no disconnect of our own."""
        self._apply(self.ws_state.reaped())

    def close_for_shutdown(self) -> None:
        """Server shutdown: close with 1001 (or refuse a pending handshake with 503)."""
        self._apply(self.ws_state.close(1001))

    # -- flow control (the HTTP channel forwards the transport's signals) --------

    def pauseProducing(self) -> None:
        self._paused = True

    def resumeProducing(self) -> None:
        self._paused = False
        self._written_while_paused = 0

    def stopProducing(self) -> None:
        self._paused = True

    # -- closing ---------------------------------------------------------------

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        for name in list(self._timers):
            self._cancel(name)
        self.factory.protocols_alive.discard(self)
        handshake, self._handshake = self._handshake, None
        if handshake is not None:
            # the client left mid-handshake; nobody waits on this any more
            handshake.addErrback(lambda failure: None)
        was_open = self.ws_state.phase in (Phase.OPEN, Phase.CLOSING)
        disconnect = self.ws_state.closed(code)
        if self.reply_channel is None:
            return
        self.main_factory.reply_protocols.pop(self.reply_channel, None)
        if disconnect is not None:
            # Through the sender, so it follows this socket's queued frames;
            # held and retried while the channel is full or the layer is down
            # (the application must hear of every socket's end). A socket that
            # never opened has no frames, but its connect may still be on its
            # way in the handshake lane: follow that instead.
            reply_channel = self.reply_channel
            factory = self.main_factory
            sender = factory.sender if was_open else factory.connect_sender
            sender.send(
                "websocket.disconnect",
                www.websocket_disconnect(reply_channel=reply_channel, path=self.path, **disconnect),
                lambda exc: logger.info(
                    "Could not send websocket.disconnect for %s", reply_channel
                ),
                deliver=True,
            )
        if was_open:
            self._log("disconnected")

    def duration(self) -> float:
        return self.clock.seconds() - self.last_seen


class WebSocketFactory(WebSocketServerFactory):
    """Autobahn's server factory, tied to the process's ``HTTPFactory``."""

    protocol = WebSocketProtocol

    def __init__(
        self,
        main_factory: Any,
        *args: Any,
        max_message_size: int = 1024 * 1024,
        buffer_limit: int = 4 * 1024 * 1024,
        handshake_timeout: float = 5,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.main_factory = main_factory
        self.buffer_limit = buffer_limit
        self.handshake_timeout = handshake_timeout
        self.protocols_alive: weakref.WeakSet = weakref.WeakSet()
        if not WEBSOCKET_FRAMES.available():
            # Autobahn's internals moved: its own parser reads every frame.
            self.protocol = stock_frames_protocol(self.protocol)
        self.setProtocolOptions(
            allowNullOrigin=True,
            # daphne hands Autobahn a complete upgrade request and times the
            # application's answer itself (websocket_connect_timeout)
            openHandshakeTimeout=0,
            # pings run on daphne's injected clock (ping_interval/ping_timeout)
            autoPingInterval=0,
            maxMessagePayloadSize=max_message_size,
            maxFramePayloadSize=max_message_size,
            # On a protocol error (bad UTF-8, unmasked or reserved frames, an
            # oversized message) send the RFC 6455 close code (1007, 1002,
            # 1009) before hanging up, instead of a bare TCP reset.
            failByDrop=False,
        )
