#!/usr/bin/env python
"""What the Prometheus metrics cost, in instructions (callgrind), off and on.

    python benchmarks/metrics_overhead.py [--requests N] [--baseline /path/to/main]

A fixed workload runs in-process on the in-memory layer, on the real code
paths: N HTTP requests through daphne's protocol (a request in over a fake
transport, ``http.request`` off the layer, the response dispatched back and
written), N WebSocket frames echoed on one socket (``websocket.receive`` in,
a ``text`` reply out), and the N + N messages handled by a ``Worker`` with
real consumers. No sockets, no sleeps, no threads: what differs between two
runs is only the code that ran, so the instruction counts of valgrind's
callgrind are stable on a busy machine where wall-clock timings are not.

Each mode runs twice under callgrind, with N and with 0 messages, and the
difference is the workload's own count (start-up and imports cancel out).
The modes: ``off`` (no ``--metrics-port``: the hooks are ``None``), ``on``
(daphne's and the worker's counters live, plus one scrape of each collector
at the end) and, with ``--baseline``, the same workload on another checkout
(e.g. main before the metrics) to show what the disabled hooks cost.
Prints a table of instructions per mode and the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


# ------------------------------------------------------------------ the workload
def workload(count: int, metrics: bool) -> None:
    """``count`` HTTP requests, ``count`` WebSocket frames, and the worker handling them all."""
    import base64

    from twisted.internet import task
    from twisted.internet.address import IPv4Address
    from twisted.internet.testing import StringTransport

    from asgi import www
    from asgi.inmemory import ChannelLayer
    from daphne.http_protocol import HTTPFactory

    client = IPv4Address("TCP", "10.0.0.1", 5555)
    host = IPv4Address("TCP", "127.0.0.1", 8000)
    clock = task.Clock()
    layer = ChannelLayer(capacity=count * 4 + 100)
    factory = HTTPFactory(layer, reactor=clock, send_channel="daphne.response.bench!")
    service = None
    if metrics:
        from daphne._metrics_server import MetricsService

        service = MetricsService(factory, clock)

    # HTTP: keep-alive requests on one connection, answered one by one
    protocol = factory.buildProtocol(client)
    transport = StringTransport(peerAddress=client, hostAddress=host)
    protocol.makeConnection(transport)
    handled: list[tuple[str, dict]] = []
    for _ in range(count):
        protocol.dataReceived(b"GET /bench?x=1 HTTP/1.1\r\nHost: bench\r\n\r\n")
        name, message = layer.receive(["http.request"])
        handled.append((name, message))
        factory.dispatch_reply(message["reply_channel"], www.http_response(200, content=b"ok"))
        transport.clear()

    # WebSocket: one socket, ``count`` masked text frames echoed
    ws_protocol = factory.buildProtocol(client)
    ws_transport = StringTransport(peerAddress=client, hostAddress=host)
    ws_protocol.makeConnection(ws_transport)
    key = base64.b64encode(b"0123456789abcdef")
    ws_protocol.dataReceived(
        b"GET /ws HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    _, connect = layer.receive(["websocket.connect"])
    factory.dispatch_reply(connect["reply_channel"], www.websocket_reply(accept=True))
    mask = b"\x01\x02\x03\x04"
    payload = b"hello"
    frame = bytes([0x81, 0x80 | len(payload)]) + mask
    frame += bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    for _ in range(count):
        ws_protocol.dataReceived(frame)
        name, message = layer.receive(["websocket.receive"])
        handled.append((name, message))
        factory.dispatch_reply(message["reply_channel"], www.websocket_reply(text="hello"))
        ws_transport.clear()

    run_worker(handled, metrics)
    if service is not None:
        service.collector.refresh()
        import prometheus_client

        prometheus_client.generate_latest(service.registry)


def run_worker(messages: list[tuple[str, dict]], metrics: bool) -> None:
    """The worker's side: ``Worker.handle`` with real consumers, on a Django test setup."""
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            INSTALLED_APPS=["channels"],
            DATABASES={},
            CHANNEL_LAYERS={},
            SECRET_KEY="bench",
            USE_TZ=True,
        )
        django.setup()
    from asgi.inmemory import ChannelLayer
    from channels.asgi import ChannelLayerWrapper
    from channels.routing import route
    from channels.worker import Worker

    def http_consumer(message):  # a stand-in for a trivial view: one reply
        message.reply_channel.send({"status": 200, "content": b"ok"})

    def ws_consumer(message):
        message.reply_channel.send({"text": message.content.get("text")})

    layer = ChannelLayerWrapper(
        ChannelLayer(capacity=len(messages) * 2 + 100),
        "default",
        [route("http.request", http_consumer), route("websocket.receive", ws_consumer)],
    )
    worker = Worker(layer, signal_handlers=False)
    collector = None
    if metrics:
        from channels._metrics_exporter import WorkerCollector
        from channels._worker_metrics import FullRetries, WorkerMetrics

        worker.metrics = WorkerMetrics()
        collector = WorkerCollector([worker.metrics], FullRetries())
    for index in range(0, len(messages), 8):
        batch = messages[index : index + 8]
        counts = getattr(worker, "metrics", None)  # None: off, or a tree without metrics
        if counts is not None:
            counts.batch(len(batch))
        for channel, content in batch:
            worker.handle(channel, content)
    if collector is not None:
        list(collector.collect())


# ------------------------------------------------------------------ the driver
def callgrind(count: int, mode: str, tree: str) -> int:
    """Instructions of one child run under callgrind."""
    out = tempfile.NamedTemporaryFile(prefix="callgrind-", suffix=".out", delete=False).name
    env = dict(os.environ, PYTHONPATH=tree, PYTHONHASHSEED="0")
    cmd = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        sys.executable,
        os.path.abspath(__file__),
        "--child",
        str(count),
        "on" if mode == "on" else "off",
    ]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"callgrind run failed ({mode}, {count}):\n{result.stderr[-3000:]}")
    try:
        with open(out) as handle:
            text = handle.read()
    finally:
        os.unlink(out)
    match = re.search(r"^(?:summary|totals): (\d+)", text, re.MULTILINE)
    if match is None:
        sys.exit(f"no instruction total in the callgrind output of {mode}, {count}")
    return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="N (default: %(default)s)")
    parser.add_argument(
        "--baseline",
        default=None,
        help="a checkout without the metrics (e.g. the main branch) to run the off mode on too",
    )
    parser.add_argument("--child", nargs=2, metavar=("COUNT", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        workload(int(args.child[0]), args.child[1] == "on")
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    modes = [("off", REPO), ("on", REPO)]
    if args.baseline:
        modes.insert(0, ("baseline", os.path.abspath(args.baseline)))
    results = {}
    for mode, tree in modes:
        print(f"running {mode} ({tree}) ...", file=sys.stderr, flush=True)
        empty = callgrind(0, "on" if mode == "on" else "off", tree)
        full = callgrind(args.requests, "on" if mode == "on" else "off", tree)
        results[mode] = full - empty
    n = args.requests
    messages = 4 * n  # n requests and n frames through daphne, the same 2n through the worker
    print(
        f"\nWorkload: {n} HTTP requests + {n} WebSocket frames (daphne) + {2 * n} messages (worker)"
    )
    print("\n| mode | instructions | per message | vs off |")
    print("|---|---:|---:|---:|")
    off = results["off"]
    for mode, _ in modes:
        value = results[mode]
        print(f"| {mode} | {value:,} | {value / messages:,.0f} | {value / off:.4f} |")
    print(
        f"\nmetrics on / off: {results['on'] / off:.4f} (+{(results['on'] / off - 1) * 100:.2f} %)"
    )
    if "baseline" in results:
        change = (off / results["baseline"] - 1) * 100
        print(f"metrics off / baseline: {off / results['baseline']:.4f} ({change:+.2f} %)")
    print(json.dumps({"requests": n, "instructions": results, "on_over_off": results["on"] / off}))


if __name__ == "__main__":
    main()
