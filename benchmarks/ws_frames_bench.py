"""CPU per incoming WebSocket frame in daphne's ``WebSocketProtocol``, in-process.

Feeds the same masked client frames, in chunks of ``--per-chunk`` frames,
through one open ``WebSocketProtocol`` on a fake transport and clock, once
through the stock path (Autobahn's own ``dataReceived``, what daphne runs when
``daphne._compat.WEBSOCKET_FRAMES`` is off) and once through the fast path
(with its Autobahn fallback). The protocol's ``onMessage`` only counts, so the
numbers are the parsing cost, not the channel layer's. Each case runs
``--repeat`` times and the best ``time.process_time`` is kept (other work on
the machine only ever adds time). No sockets, no load generator:
``python benchmarks/ws_frames_bench.py``. Prints a table; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from asgi import www  # noqa: E402
from daphne._compat import stock_frames_protocol  # noqa: E402
from tests.daphne.wire import Harness  # noqa: E402

CASES = [
    ("64 B text", 1, 64),
    ("4 KiB binary", 2, 4096),
]


def client_frame(opcode: int, payload: bytes) -> bytes:
    """One masked, final client frame (random mask) carrying ``payload``."""
    mask = os.urandom(4)
    n = len(payload)
    key = (mask * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0xFE, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0xFF, n)
    return head + mask + masked


def open_protocol(counter: list[int], fast: bool):
    """An accepted ``WebSocketProtocol`` (on the fast path or the stock
    path) whose ``onMessage`` only counts."""
    harness = Harness(ping_interval=10**6, websocket_connect_timeout=5)
    if not fast:
        ws_factory = harness.factory.ws_factory
        ws_factory.protocol = stock_frames_protocol(ws_factory.protocol)
    conn = harness.connect()
    conn.upgrade()
    _, connect = harness.layer.receive(["websocket.connect"])
    harness.factory.dispatch_reply(connect["reply_channel"], www.websocket_reply(accept=True))
    conn.output()
    protocol = harness.factory.websockets()[0]

    def on_message(payload: bytes, is_binary: bool) -> None:
        counter[0] += 1

    protocol.onMessage = on_message
    return protocol


def run(opcode: int, size: int, frames: int, per_chunk: int, fast: bool) -> float:
    """Microseconds of process CPU per frame for one pass over ``frames`` frames."""
    payload = (b"abcdefghijklmnopqrstuvwxyz012345" * (size // 32 + 1))[:size]
    chunks = [
        b"".join(client_frame(opcode, payload) for _ in range(per_chunk))
        for _ in range(frames // per_chunk)
    ]
    counter = [0]
    protocol = open_protocol(counter, fast)
    feed = protocol.dataReceived
    start = time.process_time()
    for chunk in chunks:
        feed(chunk)
    elapsed = time.process_time() - start
    delivered = per_chunk * len(chunks)
    assert counter[0] == delivered, f"{counter[0]} of {delivered} frames delivered"
    assert protocol.state == protocol.STATE_OPEN
    return elapsed / delivered * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--per-chunk", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{args.frames} frames in chunks of {args.per_chunk}, best of {args.repeat}")
    print(f"{'frame':<14}{'autobahn us/frame':>20}{'fast path us/frame':>20}{'ratio':>8}")
    for name, opcode, size in CASES:
        best = {}
        for fast in (False, True):
            best[fast] = min(
                run(opcode, size, args.frames, args.per_chunk, fast) for _ in range(args.repeat)
            )
        ratio = best[False] / best[True]
        print(f"{name:<14}{best[False]:>20.2f}{best[True]:>20.2f}{ratio:>7.1f}x")


if __name__ == "__main__":
    main()
