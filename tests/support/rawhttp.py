"""Raw bytes over a TCP socket, for requests no well-behaved client would send.

``exchange`` writes bytes and reads until the server closes or goes quiet;
``status_of`` parses the status line of what came back; ``ws_handshake`` and
``ws_frame`` build WebSocket bytes by hand (RFC 6455), masked or not.
"""

from __future__ import annotations

import base64
import os
import re
import socket
import struct
import time

__all__ = ["exchange", "parse_close", "status_of", "ws_frame", "ws_handshake", "ws_open"]

_STATUS = re.compile(rb"^HTTP/1\.[01] (\d{3}) ")


def exchange(port: int, data: bytes, timeout: float = 10, quiet: float = 2.0) -> bytes:
    """Send ``data``; everything received until close, ``quiet`` seconds of silence, or ``timeout``."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except OSError:
            pass  # the server may close before it read everything (e.g. 431)
        return _read(sock, timeout, quiet)


def _read(sock: socket.socket, timeout: float, quiet: float) -> bytes:
    received = b""
    deadline = time.monotonic() + timeout
    sock.settimeout(quiet)
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except OSError:
            break
        if not chunk:
            break
        received += chunk
    return received


def status_of(response: bytes) -> int | None:
    """The status code of an HTTP/1.x response, or None if it is not one."""
    match = _STATUS.match(response)
    return int(match.group(1)) if match else None


def ws_handshake(path: str = "/echo/raw/", extra: bytes = b"", key: bool = True) -> bytes:
    lines = [
        f"GET {path} HTTP/1.1".encode(),
        b"Host: 127.0.0.1",
        b"Upgrade: websocket",
        b"Connection: Upgrade",
        b"Sec-WebSocket-Version: 13",
    ]
    if key:
        lines.append(b"Sec-WebSocket-Key: " + base64.b64encode(os.urandom(16)))
    return b"\r\n".join(lines) + b"\r\n" + extra + b"\r\n"


def ws_open(port: int, path: str = "/echo/raw/", timeout: float = 10) -> socket.socket:
    """A socket whose handshake succeeded (101), ready for hand-made frames."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.sendall(ws_handshake(path))
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError(f"closed during the handshake: {head!r}")
        head += chunk
    if status_of(head) != 101:
        raise ConnectionError(f"handshake refused: {head!r}")
    return sock


def ws_frame(
    opcode: int, payload: bytes, mask: bool = True, fin: bool = True, rsv: int = 0
) -> bytes:
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    length = len(payload)
    mask_bit = 0x80 if mask else 0
    if length < 126:
        header = struct.pack("!BB", first, mask_bit | length)
    elif length < 65536:
        header = struct.pack("!BBH", first, mask_bit | 126, length)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, length)
    if not mask:
        return header + payload
    key = os.urandom(4)
    if not payload:
        return header + key
    stream = (key * (length // 4 + 1))[:length]
    masked = int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")
    return header + key + masked.to_bytes(length, "big")


def parse_close(data: bytes) -> int | None:
    """The status code of the first close frame the server sent in ``data`` (server frames are unmasked)."""
    while len(data) >= 2:
        opcode = data[0] & 0x0F
        length = data[1] & 0x7F
        offset = 2
        if length == 126:
            length, offset = struct.unpack("!H", data[2:4])[0], 4
        elif length == 127:
            length, offset = struct.unpack("!Q", data[2:10])[0], 10
        payload = data[offset : offset + length]
        if opcode == 8:
            return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
        data = data[offset + length :]
    return None


def read_until_close(sock, timeout: float) -> bytes:
    """What the server sends up to its first close frame, or until it hangs
    up, fails, or sends nothing for ``timeout`` seconds (for ``parse_close``)."""
    sock.settimeout(timeout)
    received = b""
    try:
        while parse_close(received) is None:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    except OSError:
        pass
    return received
