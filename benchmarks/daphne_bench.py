"""Benchmark daphne + Redis + one worker process on this machine, in one run.

Measures: a trivial HTTP consumer (sequential latency and concurrent
throughput over keep-alive connections), a WebSocket echo (round-trip
latency), daphne's idle CPU over 10 s, and daphne's memory per idle
WebSocket (1,000 sockets). Run: ``python benchmarks/daphne_bench.py``.
Needs redis-server on PATH. Prints a table; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import websockets  # noqa: E402
from websockets.sync.client import connect as ws_connect  # noqa: E402

from tests.daphne.processes import Daphne, Process  # noqa: E402
from tests.support.redis import RedisServer  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def latency_line(name: str, seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return (
        f"{name:<34} n={len(ms):<6} p50={percentile(ms, 0.5):6.2f} ms  "
        f"p90={percentile(ms, 0.9):6.2f} ms  p99={percentile(ms, 0.99):6.2f} ms  "
        f"mean={statistics.fmean(ms):6.2f} ms"
    )


def http_latency(url: str, count: int) -> list[float]:
    times = []
    with httpx.Client(base_url=url, timeout=30) as client:
        client.get("/trivial")
        for _ in range(count):
            start = time.perf_counter()
            response = client.get("/trivial")
            times.append(time.perf_counter() - start)
            assert response.text == "OK"
    return times


def http_throughput(url: str, clients: int, duration: float) -> tuple[float, int]:
    counts = [0] * clients
    errors = [0]
    stop_at = time.monotonic() + duration

    def run(index: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            while time.monotonic() < stop_at:
                if client.get("/trivial").status_code == 200:
                    counts[index] += 1
                else:
                    errors[0] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.monotonic() - started), errors[0]


def ws_latency(url: str, count: int) -> list[float]:
    times = []
    with ws_connect(url + "/echo") as ws:
        for index in range(count):
            start = time.perf_counter()
            ws.send(f"m{index}")
            assert ws.recv() == f"m{index}"
            times.append(time.perf_counter() - start)
    return times


async def open_idle_sockets(url: str, count: int, hold) -> None:
    sockets = []
    for _ in range(count // 50):
        batch = await asyncio.gather(
            *[
                websockets.connect(url + "/idle", open_timeout=60, ping_interval=None)
                for _ in range(50)
            ]
        )
        sockets.extend(batch)
    await asyncio.get_running_loop().run_in_executor(None, hold, len(sockets))
    await asyncio.gather(*[ws.close() for ws in sockets])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--echoes", type=int, default=1000)
    parser.add_argument("--idle", type=float, default=10.0)
    parser.add_argument("--sockets", type=int, default=1000)
    args = parser.parse_args()

    redis = RedisServer().start()
    env = {"DAPHNE_TEST_REDIS_URL": redis.url, "DAPHNE_TEST_PREFIX": "bench:"}
    worker = Process("-m", "tests.daphne.worker_process", "4", env=env)
    worker.wait_for("worker ready")
    daphne = Daphne(
        "-m", "daphne", "-e", "tcp:port=0:interface=127.0.0.1", "--access-log", os.devnull,
        "--ping-interval", "3600", "tests.daphne.redis_layer:channel_layer", env=env,
    )  # fmt: skip
    pid = daphne.popen.pid
    lines = [
        f"machine: {os.cpu_count()} cores; daphne + redis-server + 1 worker process (4 threads)"
    ]
    try:
        lines.append(
            latency_line(
                "HTTP trivial, 1 client keep-alive", http_latency(daphne.url, args.requests)
            )
        )
        rate, errors = http_throughput(daphne.url, args.clients, args.duration)
        lines.append(
            f"{'HTTP trivial, ' + str(args.clients) + ' clients':<34} {rate:8.0f} req/s  errors={errors}"
        )
        lines.append(
            latency_line("WebSocket echo, 1 socket", ws_latency(daphne.ws_url, args.echoes))
        )

        time.sleep(1.0)
        before = cpu_seconds(pid)
        time.sleep(args.idle)
        idle_cpu = (cpu_seconds(pid) - before) / args.idle * 100
        lines.append(f"{'idle CPU of daphne over ' + str(args.idle) + ' s':<34} {idle_cpu:6.2f} %")

        rss_before = rss_bytes(pid)
        measured = {}

        def hold(opened: int) -> None:
            time.sleep(2.0)
            measured["rss"] = rss_bytes(pid)
            measured["opened"] = opened

        asyncio.run(open_idle_sockets(daphne.ws_url, args.sockets, hold))
        per_socket = (measured["rss"] - rss_before) / measured["opened"]
        lines.append(
            f"{'memory per idle WebSocket':<34} {per_socket / 1024:6.1f} KiB "
            f"({measured['opened']} sockets, RSS {rss_before / 2**20:.1f} -> {measured['rss'] / 2**20:.1f} MiB)"
        )
    finally:
        daphne.terminate()
        worker.terminate()
        redis.cleanup()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
