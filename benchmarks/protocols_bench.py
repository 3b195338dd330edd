"""Benchmark daphne-udp, daphne-smtp and daphne-irc on Redis, on this machine.

Measures: UDP round-trip latency through the layer (datagram -> udp.receive
-> consumer -> udp.send -> datagram), SMTP throughput (mails per second over
one smtplib session, each one email.receive message), and the idle CPU of
each command over a few seconds (the reply readers block; nothing polls).
Run: ``python benchmarks/protocols_bench.py``. Needs redis-server on PATH.
Prints a table; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from asgi_redis import RedisChannelLayer  # noqa: E402
from tests.daphne.irc.irc_peer import MiniIRCServer  # noqa: E402
from tests.support.redis import RedisServer  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
LAYER_MODULE = (
    "import os\nfrom asgi_redis import RedisChannelLayer\n"
    "channel_layer = RedisChannelLayer(hosts=[os.environ['BENCH_REDIS_URL']])\n"
)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def start(module: str, args: list[str], cwd: Path, env: dict) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", module, "bench_layer:channel_layer", *args],
        cwd=cwd,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    first = ""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        first += line
        if "listening on" in line or "Signed on" in line:
            threading.Thread(target=process.stderr.read, daemon=True).start()
            return process, line
    raise RuntimeError(f"{module} did not start:\n{first}")


def echo_consumer(layer: RedisChannelLayer, stop: threading.Event, counts: dict) -> None:
    while not stop.is_set():
        channel, message = layer.receive(["udp.receive", "email.receive", "bench.stop"], block=True)
        if channel == "udp.receive":
            layer.send(message["reply_channel"], {"data": message["data"]})
        elif channel == "email.receive":
            counts["mails"] += 1


def idle_cpu(pid: int, seconds: float) -> float:
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) / seconds * 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datagrams", type=int, default=500)
    parser.add_argument("--mails", type=int, default=200)
    parser.add_argument("--idle", type=float, default=5.0)
    options = parser.parse_args()

    redis = RedisServer()
    redis.start()
    workdir = Path(tempfile.mkdtemp(prefix="protocols-bench-"))
    (workdir / "bench_layer.py").write_text(LAYER_MODULE)
    env = dict(os.environ, BENCH_REDIS_URL=redis.url, PYTHONPATH=str(ROOT))
    layer = RedisChannelLayer(hosts=[redis.url])
    stop, counts = threading.Event(), {"mails": 0}
    consumer = threading.Thread(target=echo_consumer, args=(layer, stop, counts), daemon=True)
    consumer.start()
    irc = MiniIRCServer().start()
    processes = []
    results = []
    try:
        udp, line = start("daphne.udp", ["-p", "0"], workdir, env)
        processes.append(udp)
        port = int(re.search(r":(\d+)$", line.strip()).group(1))
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.settimeout(10)
        latencies = []
        for number in range(options.datagrams):
            started = time.perf_counter()
            sock.sendto(b"%d" % number, ("127.0.0.1", port))
            sock.recvfrom(100)
            latencies.append((time.perf_counter() - started) * 1000)
        latencies.sort()
        results.append(("UDP round trip p50", f"{statistics.median(latencies):.2f} ms"))
        results.append(("UDP round trip p99", f"{latencies[int(len(latencies) * 0.99)]:.2f} ms"))

        smtp, line = start("daphne.smtp", ["-p", "0"], workdir, env)
        processes.append(smtp)
        smtp_port = int(re.search(r":(\d+)$", line.strip()).group(1))
        mail = b"Subject: bench\r\nContent-Type: text/plain\r\n\r\n" + b"line of text\r\n" * 50
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
            started = time.perf_counter()
            for _ in range(options.mails):
                client.sendmail("a@example.org", ["b@example.com"], mail)
            elapsed = time.perf_counter() - started
        results.append(("SMTP mails accepted", f"{options.mails / elapsed:.0f} /s (one session)"))

        irc_process, _ = start(
            "daphne.irc", ["-s", "127.0.0.1", "-p", str(irc.port), "-n", "benchbot"], workdir, env
        )
        processes.append(irc_process)
        time.sleep(0.5)
        for name, process in (
            ("daphne-udp", udp),
            ("daphne-smtp", smtp),
            ("daphne-irc", irc_process),
        ):
            results.append((f"{name} idle CPU", f"{idle_cpu(process.pid, options.idle):.2f} %"))
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(20)
        stop.set()
        layer.send("bench.stop", {})
        consumer.join(10)
        irc.stop()
        redis.cleanup()
    width = max(len(name) for name, _ in results)
    for name, value in results:
        print(f"{name:<{width}}  {value}")
    print(f"(mails seen by the consumer: {counts['mails']})")


if __name__ == "__main__":
    main()
