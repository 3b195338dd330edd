#!/usr/bin/env python
"""Throughput of the Redis channel layer, with redis-benchmark as the ceiling.

    python benchmarks/layer_bench.py                 # starts its own redis-server
    python benchmarks/layer_bench.py --redis redis://127.0.0.1:6379/0

Steps (each --duration seconds, separate processes talk through Redis):

  pingpong        one sender, one receiver: a "daphne" process sends a request
                  on a normal channel and blocks on its process inbox; a
                  "worker" process blocks on the channel and replies.
                  -> round trips/s, latency p50/p99
  pingpong_nb     the reference harness's shape in one process: send, then
                  receive(block=False) -> round trips/s
  pingpong_bare   the same two round trips (RPUSH, then LMPOP of one) on a
                  bare Python socket, no layer, sleeping in recv for each
                  reply: what a plain client gets from this machine's
                  loopback round trip (the layer polls first, see spin_wait)
  pickup          one hop: a blocked receiver on a normal channel (and on a
  pickup_inbox    process inbox) wakes for a message sent 500 times/s
                  -> delay from send to receive returning, p50/p99
  batch           --senders processes send as fast as they can to one normal
                  channel, --receivers processes block-receive it
                  -> messages/s received
  batch_inbox     the same, but each receiver reads its own process inbox
                  (daphne's reply path), which it may pop in batches
  batch_api       the batch step with the batching calls: send_batch of
                  --batch (50) messages, receive_batch of up to as many (what daphne's sender
                  thread and a worker with quick consumers do under load)
  batch_bare      the batch step's shape with no layer: RPUSH and BLPOP per
                  message on bare Python sockets, the ceiling of any client
                  that makes one call per message on this machine
  fanout_N        send_group to N normal-channel members, one call each
                  -> deliveries (copies queued)/s
  fanout_N_procs  N members spread over 4 process inboxes, 4 receiver
                  processes expand and count them -> deliveries received/s
  harness         the shared layer_asgi1.py harness run unchanged on this
                  layer (the harness the 1.4.3 figure of 2,500/s comes from)
  redis-benchmark redis-benchmark -t lpush,rpop -q on the same server

Prints a table and one JSON line. Keep runs short on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from asgi_redis import RedisChannelLayer

MSG = {
    "reply_channel": "daphne.response.benchABCDEF!ghijklmnopqr",
    "path": "/ws/echo/",
    "order": 1,
    "text": "x" * 64,
}
PREFIX = "bench:"
#: Messages per send_batch / receive_batch call in the batch_api step (--batch).
BATCH = 50
ASGI_REDIS_1_4_3_PINGPONG = 2500  # round trips/s measured here for the original


def make_layer(url: str, **options) -> RedisChannelLayer:
    options.setdefault("capacity", 1000)
    return RedisChannelLayer(hosts=[url], prefix=PREFIX, stats_prefix="bench-meta:", **options)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))] * 1000, 3)


# -- worker processes ---------------------------------------------------------------


def echo_worker(url: str, start, stop, _results) -> None:
    layer = make_layer(url)
    layer.blpop_timeout = 1
    start.wait()
    while not stop.is_set():
        channel, message = layer.receive(["bench.request"], block=True)
        if channel is not None:
            layer.send(message["reply_channel"], message)


def batch_sender(url: str, start, stop, results, channels: list[str], batch: int = 1) -> None:
    """Sends as fast as it can: ``send`` per message, or with ``batch`` > 1
    ``send_batch`` of that many messages per call."""
    layer = make_layer(url)
    sent = full = 0
    count = len(channels)
    messages = [(channels[n % count], MSG) for n in range(batch)]
    start.wait()
    while not stop.is_set():
        if batch == 1:
            try:
                layer.send(channels[sent % count], MSG)
                refused = 0
            except layer.ChannelFull:
                refused = 1
        else:
            refused = sum(1 for error in layer.send_batch(messages) if error is not None)
        sent += batch - refused
        if refused:
            full += refused
            time.sleep(0.0005)
    results.put(("sent", sent, full))


def batch_receiver(url: str, start, stop, results, channel: str, batch: int = 1) -> None:
    """Block-receives: ``receive`` per message, or with ``batch`` > 1
    ``receive_batch`` of up to that many."""
    layer = make_layer(url)
    layer.blpop_timeout = 1
    received = 0
    start.wait()
    begun = time.perf_counter()
    while not stop.is_set():
        if batch == 1:
            received += layer.receive([channel], block=True)[0] is not None
        else:
            received += len(layer.receive_batch([channel], block=True, limit=batch))
    results.put(("received", received, time.perf_counter() - begun))


def pickup_receiver(url: str, start, stop, results, channel: str) -> None:
    layer = make_layer(url)
    layer.blpop_timeout = 1
    delays = []
    start.wait()
    while not stop.is_set():
        name, message = layer.receive([channel], block=True)
        if name is not None:
            delays.append(time.time() - message["sent_at"])
    results.put(("pickup", delays, 0))


def inbox_receiver(url: str, start, stop, results, inbox: str) -> None:
    layer = make_layer(url)
    layer.blpop_timeout = 1
    received = 0
    start.wait()
    while not stop.is_set():
        if layer.receive([inbox], block=True)[0] is not None:
            received += 1
    results.put(("received", received, 0))


def _bare_socket(url: str):
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _bare_item() -> bytes:
    from asgi import serialization

    return b"0" * 13 + serialization.dumps(MSG)


def _command(*parts: bytes) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        out.append(b"$%d\r\n%s\r\n" % (len(part), part))
    return b"".join(out)


def bare_sender(url: str, start, stop, results, key: bytes) -> None:
    """``batch_sender`` without a layer: one RPUSH per message on a bare
    socket, each reply read before the next."""
    sock = _bare_socket(url)
    push = _command(b"RPUSH", key, _bare_item())
    sent = 0
    start.wait()
    while not stop.is_set():
        sock.sendall(push)
        reply = sock.recv(64)
        while not reply.endswith(b"\r\n"):
            reply += sock.recv(64)
        sent += 1
    sock.close()
    results.put(("sent", sent, 0))


def bare_receiver(url: str, start, stop, results, key: bytes) -> None:
    """``batch_receiver`` without a layer: one BLPOP per message on a bare
    socket (a 1 s timeout, like the layer receivers')."""
    sock = _bare_socket(url)
    pop = _command(b"BLPOP", key, b"1")
    whole = len(_command(key, _bare_item()))  # the reply's size: the same framing
    received = 0
    start.wait()
    while not stop.is_set():
        sock.sendall(pop)
        reply = sock.recv(4096)
        while len(reply) < whole and not reply.startswith(b"*-1"):
            reply += sock.recv(4096)
        received += len(reply) >= whole
    sock.close()
    results.put(("received", received, 0))


def run_processes(targets: list[tuple], duration: float) -> list[tuple]:
    context = multiprocessing.get_context("spawn")
    start, stop, results = context.Event(), context.Event(), context.Queue()
    processes = [
        context.Process(target=target, args=(*args[:1], start, stop, results, *args[1:]))
        for target, args in targets
    ]
    for process in processes:
        process.start()
    time.sleep(1.0)  # let them import and connect
    start.set()
    return processes, start, stop, results


def finish(processes, stop, results, expected: int) -> list[tuple]:
    stop.set()
    collected = [results.get(timeout=30) for _ in range(expected)]
    for process in processes:
        process.join(30)
    return collected


# -- steps ----------------------------------------------------------------------------


def bench_pingpong(url: str, duration: float) -> dict:
    processes, start, stop, results = run_processes([(echo_worker, (url,))], duration)
    layer = make_layer(url)
    reply = "bench.reply.daphne1!conn1"
    message = dict(MSG, reply_channel=reply)
    latencies = []
    # warm up
    layer.send("bench.request", message)
    layer.receive(["bench.reply.daphne1!"], block=True)
    end = time.perf_counter() + duration
    begun = time.perf_counter()
    while time.perf_counter() < end:
        sent_at = time.perf_counter()
        layer.send("bench.request", message)
        channel, _ = layer.receive(["bench.reply.daphne1!"], block=True)
        assert channel == reply, channel
        latencies.append(time.perf_counter() - sent_at)
    elapsed = time.perf_counter() - begun
    finish(processes, stop, results, 0)
    return {
        "round_trips_per_s": round(len(latencies) / elapsed),
        "p50_ms": percentile(latencies, 0.5),
        "p99_ms": percentile(latencies, 0.99),
    }


def bench_pickup(url: str, duration: float, channel: str, queue: str) -> dict:
    """How long a message waits between send and a blocked receiver's return
    (one hop), at a gentle 500 messages/s."""
    processes, start, stop, results = run_processes([(pickup_receiver, (url, queue))], duration)
    layer = make_layer(url)
    end = time.perf_counter() + duration
    while time.perf_counter() < end:
        layer.send(channel, dict(MSG, sent_at=time.time()))
        time.sleep(0.002)
    time.sleep(0.2)
    ((_, delays, _),) = finish(processes, stop, results, 1)
    return {
        "messages": len(delays),
        "p50_ms": percentile(delays, 0.5),
        "p99_ms": percentile(delays, 0.99),
    }


def bench_pingpong_nonblocking(url: str, duration: float) -> dict:
    layer = make_layer(url)
    count = 0
    end = time.perf_counter() + duration
    begun = time.perf_counter()
    while time.perf_counter() < end:
        layer.send("bench.chan", MSG)
        while layer.receive(["bench.chan"])[0] is None:
            pass
        count += 1
    return {"round_trips_per_s": round(count / (time.perf_counter() - begun))}


def bench_pingpong_bare(url: str, duration: float) -> dict:
    """``pingpong_nb`` with no layer: the same commands and item size written
    on a bare socket, each reply read before the next command."""
    sock = _bare_socket(url)
    key = f"{PREFIX}bench.bare".encode()
    item = _bare_item()
    push = _command(b"RPUSH", key, item)
    pop = _command(b"LMPOP", b"1", key, b"LEFT", b"COUNT", b"1")
    count = 0
    end = time.perf_counter() + duration
    begun = time.perf_counter()
    try:
        while time.perf_counter() < end:
            sock.sendall(push)
            sock.recv(64)  # ":1\r\n"
            sock.sendall(pop)
            reply = sock.recv(4096)
            while not reply.endswith(b"\r\n") or len(reply) < len(item):
                reply += sock.recv(4096)
            count += 1
    finally:
        sock.close()
    return {"round_trips_per_s": round(count / (time.perf_counter() - begun))}


def bench_batch(
    url: str,
    duration: float,
    senders: int,
    receivers: int,
    inboxes: bool,
    api_batch: int = 0,
) -> dict:
    """Normal channel: senders and receivers share "bench.batch" (the worker
    shape). Inboxes: each receiver reads its own process inbox and the
    senders spread over them (the reply path into daphne processes). With
    ``api_batch`` > 0, senders use send_batch of that many messages and
    receivers receive_batch of up to that many."""
    if inboxes:
        queues = [f"bench.reply.daphne{r}!" for r in range(receivers)]
        channels = [f"{queue}conn{n}" for n in range(10) for queue in queues]
    else:
        queues = ["bench.batch"] * receivers
        channels = ["bench.batch"]
    batch = api_batch or 1
    targets = [(batch_sender, (url, channels, batch))] * senders
    targets += [(batch_receiver, (url, queue, batch)) for queue in queues]
    processes, start, stop, results = run_processes(targets, duration)
    time.sleep(duration)
    collected = finish(processes, stop, results, senders + receivers)
    received = sum(r[1] for r in collected if r[0] == "received")
    sent = sum(r[1] for r in collected if r[0] == "sent")
    full = sum(r[2] for r in collected if r[0] == "sent")
    make_layer(url).flush()
    return {
        "messages_per_s": round(received / duration),
        "messages_per_call": batch,
        "sent": sent,
        "received": received,
        "channel_full": full,
        "senders": senders,
        "receivers": receivers,
    }


def bench_batch_bare(url: str, duration: float, senders: int, receivers: int) -> dict:
    """The ``batch`` step's shape with no layer: RPUSH and BLPOP per message
    on bare sockets. The most any client that makes one call per message
    reaches here; what it spends is Python, syscalls and loopback."""
    key = f"{PREFIX}bench.bare.batch".encode()
    targets = [(bare_sender, (url, key))] * senders
    targets += [(bare_receiver, (url, key))] * receivers
    processes, start, stop, results = run_processes(targets, duration)
    time.sleep(duration)
    collected = finish(processes, stop, results, senders + receivers)
    received = sum(r[1] for r in collected if r[0] == "received")
    make_layer(url).flush()
    return {
        "messages_per_s": round(received / duration),
        "sent": sum(r[1] for r in collected if r[0] == "sent"),
        "received": received,
        "senders": senders,
        "receivers": receivers,
    }


def bench_fanout(url: str, duration: float, size: int) -> dict:
    layer = make_layer(url, capacity=100000)
    members = [f"bench.member{i}" for i in range(size)]
    for member in members:
        layer.group_add("bench-fanout", member)
    calls = 0
    end = time.perf_counter() + duration
    begun = time.perf_counter()
    while time.perf_counter() < end and calls * size < 2_000_000:
        layer.send_group("bench-fanout", MSG)
        calls += 1
    elapsed = time.perf_counter() - begun
    layer.flush()
    return {
        "deliveries_per_s": round(calls * size / elapsed),
        "group_sends": calls,
        "members": size,
    }


def bench_fanout_processes(url: str, duration: float, size: int, processes_count: int = 4) -> dict:
    inboxes = [f"bench.ws.daphne{p}!" for p in range(processes_count)]
    targets = [(inbox_receiver, (url, inbox)) for inbox in inboxes]
    processes, start, stop, results = run_processes(targets, duration)
    layer = make_layer(url)
    for i in range(size):
        layer.group_add("bench-procs", f"{inboxes[i % processes_count]}conn{i}")
    calls = 0
    end = time.perf_counter() + duration
    begun = time.perf_counter()
    while time.perf_counter() < end:
        layer.send_group("bench-procs", MSG)
        calls += 1
        # Stay under the inbox capacity: wait while the readers are behind.
        if calls % 50 == 0:
            while layer.channel_statistics(inboxes[0])["messages_pending"] > 200:
                time.sleep(0.001)
    elapsed = time.perf_counter() - begun
    collected = finish(processes, stop, results, processes_count)
    received = sum(r[1] for r in collected)
    layer.flush()
    return {
        "deliveries_per_s": round(received / elapsed),
        "group_sends": calls,
        "members": size,
        "processes": processes_count,
    }


def reference_harness(path: str, url: str, duration: float) -> dict:
    """The shared ASGI-1 layer harness (layer_asgi1.py), run unchanged on this layer."""
    if not path or not os.path.exists(path):
        return {"skipped": f"no harness at {path!r}"}
    output = subprocess.run(
        [sys.executable, path, "--redis", url, "--duration", str(duration)],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **os.environ,
            "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        },
    )
    try:
        result = json.loads(output.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"error": output.stderr[-500:]}
    return {
        name: result[name]["rate"]
        for name in ("pingpong", "batch", "local_pingpong", "group_send")
        if name in result
    }


def redis_benchmark(port: int, requests: int) -> dict:
    binary = shutil.which("redis-benchmark")
    if not binary:
        return {"error": "redis-benchmark not found"}
    output = subprocess.run(
        [binary, "-p", str(port), "-t", "lpush,rpop", "-q", "-n", str(requests)],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    rates = {}
    for name, rate in re.findall(
        r"(\w+): ([\d.]+) requests per second", output.replace("\r", "\n")
    ):
        rates[name.lower()] = float(rate)
    return rates


# -- main -----------------------------------------------------------------------------


class PrivateRedis:
    def __init__(self) -> None:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.directory = tempfile.mkdtemp(prefix="layer-bench-")
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", self.directory,
            ],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        self.url = f"redis://127.0.0.1:{self.port}/0"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                make_layer(self.url).global_statistics()
                return
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.05)
        raise SystemExit("redis-server did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        shutil.rmtree(self.directory, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--redis", help="URL of a server to use (default: start a private one)")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per step")
    parser.add_argument("--senders", type=int, default=2)
    parser.add_argument("--receivers", type=int, default=2)
    parser.add_argument(
        "--batch",
        type=int,
        default=BATCH,
        help=f"messages per send_batch / receive_batch in the batch_api step ({BATCH})",
    )
    parser.add_argument("--only", default="", help="comma-separated steps to run")
    parser.add_argument(
        "--harness",
        default="/work/shared/bench/layer/layer_asgi1.py",
        help="path of the shared layer_asgi1.py harness (step 'harness'; skipped if absent)",
    )
    args = parser.parse_args()
    if args.batch < 2:
        parser.error("--batch must be at least 2 (the batch step sends one message per call)")
    only = set(filter(None, args.only.split(",")))
    server = None if args.redis else PrivateRedis()
    url = args.redis or server.url
    port = int(re.search(r":(\d+)", url.split("@")[-1]).group(1))
    out: dict = {"python": sys.version.split()[0], "duration_s": args.duration}
    steps = [
        ("pingpong", lambda: bench_pingpong(url, args.duration)),
        ("pingpong_nb", lambda: bench_pingpong_nonblocking(url, args.duration)),
        (
            "pickup",
            lambda: bench_pickup(url, args.duration, "bench.pickup", "bench.pickup"),
        ),
        (
            "pickup_inbox",
            lambda: bench_pickup(url, args.duration, "bench.pick.d1!c1", "bench.pick.d1!"),
        ),
        ("pingpong_bare", lambda: bench_pingpong_bare(url, args.duration)),
        ("batch", lambda: bench_batch(url, args.duration, args.senders, args.receivers, False)),
        (
            "batch_inbox",
            lambda: bench_batch(url, args.duration, args.senders, args.receivers, True),
        ),
        (
            "batch_api",
            lambda: bench_batch(
                url, args.duration, args.senders, args.receivers, False, args.batch
            ),
        ),
        (
            "batch_bare",
            lambda: bench_batch_bare(url, args.duration, args.senders, args.receivers),
        ),
        ("fanout_100", lambda: bench_fanout(url, args.duration, 100)),
        ("fanout_1000", lambda: bench_fanout(url, args.duration, 1000)),
        ("fanout_1000_procs", lambda: bench_fanout_processes(url, args.duration, 1000)),
        ("harness", lambda: reference_harness(args.harness, url, args.duration)),
        ("redis_benchmark", lambda: redis_benchmark(port, 100000)),
    ]
    try:
        make_layer(url).flush()
        for name, step in steps:
            if only and name not in only:
                continue
            out[name] = step()
            print(f"{name:18} {out[name]}", flush=True)
        leftover = sum(1 for _ in _scan(url))
        out["keys_left_after_run"] = leftover
        make_layer(url).flush()
    finally:
        if server:
            server.stop()
    lpush = out.get("redis_benchmark", {}).get("lpush")
    for step in ("batch", "batch_inbox", "batch_api", "batch_bare"):
        if lpush and step in out:
            out[f"{step}_vs_lpush"] = round(out[step]["messages_per_s"] / lpush, 3)
    bare_batch = out.get("batch_bare", {}).get("messages_per_s")
    if bare_batch and "batch" in out:
        out["batch_vs_bare"] = round(out["batch"]["messages_per_s"] / bare_batch, 2)
    harness_pingpong = out.get("harness", {}).get("pingpong")
    if harness_pingpong:
        out["harness_pingpong_vs_asgi_redis_1_4_3"] = round(
            harness_pingpong / ASGI_REDIS_1_4_3_PINGPONG, 2
        )
    bare = out.get("pingpong_bare", {}).get("round_trips_per_s")
    if bare:
        if "pingpong_nb" in out:
            out["pingpong_nb_vs_bare"] = round(out["pingpong_nb"]["round_trips_per_s"] / bare, 2)
        out["bare_vs_asgi_redis_1_4_3"] = round(bare / ASGI_REDIS_1_4_3_PINGPONG, 2)
    print(json.dumps(out))


def _scan(url: str):
    import redis

    with redis.Redis.from_url(url) as client:
        yield from client.scan_iter(match=PREFIX + "*")


if __name__ == "__main__":
    main()
