"""The UDP interface server (spec section 1.8, "UDP") on Twisted.

:class:`UDPServer` listens on one UDP port. Each datagram goes to the
channel layer as ``udp.receive`` (built by :mod:`asgi.udp`) with a reply
channel ``udp.send.<server>!<client>``; a :class:`~daphne._reply_reader.ReplyReader`
thread blocks on ``udp.send.<server>!`` and each ``udp.send`` reply is
written back to the client it names. UDP is lossy by nature, so a full
layer (``ChannelFull``) or a reply for a forgotten client drops that one
datagram with a log line.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from twisted.internet.protocol import DatagramProtocol
from twisted.python.failure import Failure

from asgi import udp
from asgi.exceptions import InvalidMessage
from asgi.heartbeat import Activity
from asgi.types import ChannelLayer

from .. import _drops
from .._offload import OffReactorSend
from .._reply_reader import ReplyReader
from ._clients import ClientTable

__all__ = ["UDPServer"]

logger = logging.getLogger(__name__)


class _DatagramProtocol(DatagramProtocol):
    def __init__(self, server: UDPServer) -> None:
        self.server = server

    def datagramReceived(self, data: bytes, addr: Any) -> None:
        self.server.datagram_received(data, (addr[0], addr[1]))


class UDPServer:
    """Bridges one UDP port and a channel layer.

    ``port=0`` picks a free port; after :meth:`start`, ``address`` holds the
    bound ``(host, port)``. ``client_timeout`` is how long a client that
    stopped sending can still be answered. ``activity`` counts the datagrams
    the layer took.
    """

    def __init__(
        self,
        channel_layer: ChannelLayer,
        host: str = "127.0.0.1",
        port: int = 9000,
        *,
        reactor: Any = None,
        client_timeout: float = 300.0,
        max_clients: int = 100_000,
    ) -> None:
        if reactor is None:
            from twisted.internet import reactor
        self.channel_layer = channel_layer
        self.host = host
        self.port = port
        self.reactor = reactor
        self.clients = ClientTable(
            reactor.seconds, idle_timeout=client_timeout, max_clients=max_clients
        )
        self.reply_prefix = f"{udp.REPLY_CHANNEL_PREFIX}.{secrets.token_hex(6)}!"
        self.address: tuple[str, int] | None = None
        self.dropped = 0
        self.activity = Activity()
        self._protocol = _DatagramProtocol(self)
        self._listening: Any = None
        self._reader = ReplyReader(channel_layer, self.reply_prefix, reactor, self.reply_received)
        self._offload = OffReactorSend(channel_layer, reactor)

    def consumed_channels(self) -> list[str]:
        """The channels read from the layer, for the heartbeat record: the
        reply channel pattern ``udp.send.<server>!*``."""
        return [self.reply_prefix + "*"]

    def start(self) -> None:
        """Bind the port and start reading replies. Call in the reactor thread."""
        self._listening = self.reactor.listenUDP(self.port, self._protocol, interface=self.host)
        bound = self._listening.getHost()
        self.address = (bound.host, bound.port)
        self._reader.start()
        logger.info("UDP server listening on %s:%d", bound.host, bound.port)

    def stop(self) -> Any:
        """Stop reading replies and close the port; may return a Deferred."""
        self._reader.stop()
        self._offload.stop()
        listening, self._listening = self._listening, None
        if listening is not None:
            logger.info("UDP server on %s:%d stopping", *self.address)
            return listening.stopListening()
        return None

    def datagram_received(self, data: bytes, client: tuple[str, int]) -> None:
        token = self.clients.token_for(client)
        message = udp.udp_receive(
            reply_channel=self.reply_prefix + token,
            data=data,
            client=list(client),
            server=list(self.address) if self.address else None,
        )
        # off the reactor thread: a slow layer must not hold up the datagrams
        # (and replies) of every other client
        self._offload.send(udp.RECEIVE_CHANNEL, message).addCallbacks(
            self._datagram_sent, self._datagram_refused, errbackArgs=(client, len(data))
        )

    def _datagram_sent(self, _: None) -> None:
        self.activity.note()

    def _datagram_refused(self, failure: Failure, client: tuple[str, int], size: int) -> None:
        self.dropped += 1
        layer = self.channel_layer
        if failure.check(layer.ChannelFull):
            _drops.report_drop(_drops.CHANNEL_FULL, udp.RECEIVE_CHANNEL)
            logger.warning(
                "Dropped a datagram from %s:%d: %s is full", *client, udp.RECEIVE_CHANNEL
            )
        elif failure.check(layer.MessageTooLarge):
            _drops.report_drop(_drops.TOO_LARGE, udp.RECEIVE_CHANNEL)
            logger.warning(
                "Dropped a %d-byte datagram from %s:%d: too large for the layer", size, *client
            )
        else:
            _drops.report_drop(_drops.LAYER_DOWN, udp.RECEIVE_CHANNEL)
            logger.warning(
                "Dropped a datagram from %s:%d: the layer failed: %s", *client, failure.value
            )

    def reply_received(self, channel: str, message: dict) -> None:
        token = channel[len(self.reply_prefix) :]
        address = self.clients.address_for(token)
        if address is None:
            logger.warning("Dropped a reply on %s: no client with that channel (expired?)", channel)
            _drops.report_drop(_drops.CLIENT_GONE, udp.REPLY_CHANNEL_PREFIX)
            return
        try:
            data = udp.parse_udp_send(message)
        except InvalidMessage as exc:
            logger.warning("Dropped an invalid reply on %s: %s", channel, exc)
            return
        if self._listening is not None:
            self._protocol.transport.write(data, address)
