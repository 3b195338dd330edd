"""Helpers for protocol tests: an ``HTTPFactory`` on a fake clock and fake
transports, raw HTTP requests and client WebSocket frames."""

from __future__ import annotations

import base64
import os
import struct

from twisted.internet import task
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from asgi.inmemory import ChannelLayer
from daphne.http_protocol import HTTPFactory

CLIENT = IPv4Address("TCP", "10.0.0.1", 5555)
SERVER = IPv4Address("TCP", "127.0.0.1", 8000)


class Harness:
    """One factory, its clock and layer, and the connections made to it."""

    def __init__(self, layer=None, **options):
        self.clock = task.Clock()
        self.layer = layer or ChannelLayer(capacity=100)
        options.setdefault("send_channel", "daphne.response.test!")
        self.factory = HTTPFactory(self.layer, reactor=self.clock, **options)

    def connect(self):
        protocol = self.factory.buildProtocol(CLIENT)
        transport = StringTransport(peerAddress=CLIENT, hostAddress=SERVER)
        protocol.makeConnection(transport)
        return Connection(self, protocol, transport)

    def receive(self, channel):
        name, message = self.layer.receive([channel])
        assert name is not None, f"nothing on {channel}"
        return message

    def nothing_on(self, channel):
        return self.layer.receive([channel]) == (None, None)


class Connection:
    def __init__(self, harness, protocol, transport):
        self.harness = harness
        self.protocol = protocol
        self.transport = transport

    @property
    def channel(self):
        """The HTTP/1.x channel: the one inside twisted.web's HTTP/2
        negotiation, or the protocol itself when that is off."""
        return getattr(self.protocol, "_channel", self.protocol)

    def send(self, data: bytes):
        self.protocol.dataReceived(data)

    def output(self) -> bytes:
        data = self.transport.value()
        self.transport.clear()
        return data

    def lose(self):
        self.protocol.connectionLost(Failure(ConnectionDone()))

    def upgrade(self, path=b"/ws/", extra=b"", trailing=b""):
        """Send an upgrade request (and ``trailing`` bytes in the same read)."""
        key = base64.b64encode(os.urandom(16))
        self.send(
            b"GET " + path + b" HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: " + key + b"\r\n"
            b"Sec-WebSocket-Version: 13\r\n" + extra + b"\r\n" + trailing
        )


def request(method=b"GET", path=b"/", headers=(), body=b"") -> bytes:
    lines = [method + b" " + path + b" HTTP/1.1", b"Host: test"]
    lines += [name + b": " + value for name, value in headers]
    if body:
        lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def frame(payload: bytes, opcode: int = 1) -> bytes:
    """A masked client frame (text by default)."""
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    length = len(payload)
    if length < 126:
        head = bytes([0x80 | opcode, 0x80 | length])
    elif length < 65536:
        head = bytes([0x80 | opcode, 0x80 | 126]) + struct.pack("!H", length)
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + struct.pack("!Q", length)
    return head + mask + masked


def close_frame(code: int) -> bytes:
    return frame(struct.pack("!H", code), opcode=8)


def server_frames(data: bytes) -> list[tuple[int, bytes]]:
    """Parse unmasked server frames into (opcode, payload)."""
    frames = []
    while data:
        opcode = data[0] & 0x0F
        length = data[1] & 0x7F
        offset = 2
        if length == 126:
            (length,) = struct.unpack("!H", data[2:4])
            offset = 4
        elif length == 127:
            (length,) = struct.unpack("!Q", data[2:10])
            offset = 10
        frames.append((opcode, data[offset : offset + length]))
        data = data[offset + length :]
    return frames


class BrokenLayer(ChannelLayer):
    """Sends to ``broken`` channels fail as if the layer's server were down."""

    def __init__(self, broken):
        super().__init__(capacity=100)
        self.broken = broken

    def send(self, channel, message):
        if channel in self.broken:
            raise ConnectionError("layer unreachable at 10.1.2.3")
        super().send(channel, message)
