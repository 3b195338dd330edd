"""Many idle WebSocket clients at once, for the mass-close and shutdown tests.

Plain asyncio streams speaking just enough RFC 6455 (a handshake, a masked
close frame), so a thousand sockets cost one thread and no client library.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct

__all__ = ["open_sockets", "close_sockets", "wait_for_closes"]

Client = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _open_one(host: str, port: int, path: str) -> Client:
    reader, writer = await asyncio.open_connection(host, port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(f"handshake refused: {head[:40]!r}")
    return reader, writer


async def open_sockets(host: str, port: int, count: int, path: str = "/ws/") -> list[Client]:
    """``count`` accepted WebSockets, opened 100 at a time."""
    clients: list[Client] = []
    for start in range(0, count, 100):
        batch = [_open_one(host, port, path) for _ in range(min(100, count - start))]
        clients += await asyncio.gather(*batch)
    return clients


def _masked_close(code: int) -> bytes:
    mask = os.urandom(4)
    payload = struct.pack("!H", code)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x88, 0x80 | len(payload)]) + mask + masked


def close_sockets(clients: list[Client]) -> None:
    """Close the first half with a close frame (1000), reset the second half
    (SO_LINGER 0: the kernel sends RST), all in one go."""
    half = len(clients) // 2
    for _, writer in clients[:half]:
        writer.write(_masked_close(1000))
    for _, writer in clients[half:]:
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()


async def wait_for_closes(clients: list[Client], timeout: float = 30) -> list[int | None]:
    """Each socket's close code from the server (None: reset or no close frame)."""

    async def one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int | None:
        try:
            head = await asyncio.wait_for(reader.readexactly(4), timeout)
        except (TimeoutError, OSError, asyncio.IncompleteReadError):
            head = b""
        code = struct.unpack("!H", head[2:4])[0] if head[:1] == b"\x88" else None
        if code is not None:
            # answer the close, as a browser does, so the server may hang up
            writer.write(_masked_close(code))
        writer.close()
        return code

    return await asyncio.gather(*(one(r, w) for r, w in clients))
