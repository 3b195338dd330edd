"""The load client of ``benchmarks/scale.py``: WebSocket echo and fan-out over several daphnes.

    python benchmarks/_scale_load.py echo ws://127.0.0.1:P1,ws://127.0.0.1:P2 --conns 50
    python benchmarks/_scale_load.py fanout ws://127.0.0.1:P1,ws://127.0.0.1:P2 --members 200

Connections are spread round-robin over the given daphnes, so that every
daphne holds its share. It runs in a process of its own so that its CPU is
not counted against the stack's; the last line on stdout is a JSON result.

``echo``: each connection is a closed loop (send a numbered frame, wait for
its echo). Result: round trips, their rate and latency percentiles.
``fanout``: ``members`` sockets on ``/group/`` (the reliability project puts
them in one group); one of them sends a broadcast, every member must receive
it, then the next goes (one in flight). Result: deliveries, their rate, the
latency from send to receipt, and deliveries not received within
``--timeout`` (lost).

Only loopback addresses are accepted; every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from urllib.parse import urlsplit

from websockets.asyncio.client import connect


def _percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(q * len(sorted_values)) - 1))
    return round(sorted_values[index] * 1000, 3)


def _summary(latencies: list[float], count: int, seconds: float, **extra: object) -> dict:
    latencies.sort()
    return {
        "ops": count,
        "rate": round(count / seconds, 1) if seconds > 0 else 0.0,
        "p50_ms": _percentile(latencies, 0.50),
        "p99_ms": _percentile(latencies, 0.99),
        **extra,
    }


async def _open(urls: list[str], paths: list[str], concurrency: int, timeout: float) -> list:
    """One socket per path, on ``urls[i % len(urls)]``, at most ``concurrency`` opening at once."""
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int, path: str):
        async with gate:
            return await connect(
                urls[i % len(urls)] + path, open_timeout=timeout, max_queue=None, ping_interval=None
            )

    return list(await asyncio.gather(*(one(i, p) for i, p in enumerate(paths))))


async def echo(args: argparse.Namespace) -> dict:
    sockets = await _open(
        args.urls, [f"/echo/s{i}/" for i in range(args.conns)], args.concurrency, args.timeout
    )
    latencies: list[float] = []
    errors = 0
    measuring = False
    stop_at = time.monotonic() + args.warmup + args.duration

    async def loop(ws) -> None:
        nonlocal errors
        n = 0
        while time.monotonic() < stop_at:
            text = f"{n}:" + "x" * args.payload
            started = time.monotonic()
            try:
                await ws.send(text)
                reply = await asyncio.wait_for(ws.recv(), args.timeout)
            except Exception:  # noqa: BLE001 - a failed round trip is counted and reported
                errors += 1
                return
            if reply != text:
                errors += 1
            elif measuring:
                latencies.append(time.monotonic() - started)
            n += 1

    async def window() -> float:
        nonlocal measuring
        await asyncio.sleep(args.warmup)
        measuring = True
        began = time.monotonic()
        print(json.dumps({"event": "measuring"}), flush=True)
        await asyncio.sleep(args.duration)
        measuring = False
        print(json.dumps({"event": "done"}), flush=True)
        return time.monotonic() - began

    results = await asyncio.gather(window(), *(loop(ws) for ws in sockets))
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return _summary(latencies, len(latencies), results[0], errors=errors)


async def fanout(args: argparse.Namespace) -> dict:
    sockets = await _open(
        args.urls, [f"/group/m{i}/" for i in range(args.members)], args.concurrency, args.timeout
    )
    await asyncio.sleep(args.settle)  # the connect consumers add the members to the group
    loop = asyncio.get_running_loop()
    # the future each member resolves when the broadcast in flight reaches it
    waiting: list[asyncio.Future | None] = [None] * len(sockets)
    current = ""

    async def member(index: int, ws) -> None:
        try:
            async for text in ws:
                future = waiting[index]
                if text == current and future is not None and not future.done():
                    future.set_result(time.monotonic())
        except Exception:  # noqa: BLE001 - a closed socket ends its reader
            return

    readers = [asyncio.ensure_future(member(i, ws)) for i, ws in enumerate(sockets)]
    latencies: list[float] = []
    lost = broadcasts = 0
    print(json.dumps({"event": "measuring"}), flush=True)
    began = time.monotonic()
    while time.monotonic() - began < args.duration:
        current = f"b{broadcasts}"
        waiting[:] = [loop.create_future() for _ in sockets]
        sent = time.monotonic()
        await sockets[0].send(current)
        done, pending = await asyncio.wait(waiting, timeout=args.timeout)
        latencies.extend(f.result() - sent for f in done)
        lost += len(pending)
        broadcasts += 1
    seconds = time.monotonic() - began
    print(json.dumps({"event": "done"}), flush=True)
    for reader in readers:
        reader.cancel()
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return _summary(
        latencies, len(latencies), seconds, broadcasts=broadcasts, lost=lost, members=len(sockets)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["echo", "fanout"])
    parser.add_argument("urls", help="comma-separated ws:// bases, one per daphne")
    parser.add_argument("--conns", type=int, default=50)
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--settle", type=float, default=1.0)
    parser.add_argument("--payload", type=int, default=32)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=100)
    args = parser.parse_args()
    args.urls = args.urls.split(",")
    for url in args.urls:
        if urlsplit(url).hostname not in ("127.0.0.1", "localhost", "::1"):
            parser.error(f"only loopback targets: {url}")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    result = asyncio.run(echo(args) if args.mode == "echo" else fanout(args))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
