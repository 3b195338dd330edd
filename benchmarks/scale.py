"""Scale-out grid: echo, HTTP and fan-out over several daphnes, workers and Redis layouts.

    python benchmarks/scale.py [--daphnes 1,2] [--workers 1,2,4] [--layers redis,shards2]
                               [--workloads echo,http,fanout] [--duration 5]
                               [--fanout-members 200] [--json FILE] [--chart PNG] [--rst FILE]
    python benchmarks/scale.py --daphnes 2 --workers 2 --layers redis --workloads fanout \\
                               --fanout-members 10000     # the 10,000-member fan-out

For every cell of the grid it starts the daphnes and ``runworker`` processes
serving the reliability test project (``tests/reliability/project``) on
private redis-servers, drives one workload at a time from a separate load
process (``_scale_load.py`` for WebSockets, one ``wrk`` per daphne for HTTP,
connections spread over the daphnes' ports), and reads from ``/proc`` the CPU
each process used during the measured window.

Because this machine has two cores, throughput stops growing as soon as the
processes share them; what carries over to a bigger machine is the **CPU cost
per operation of each process kind**, which this script reports beside
throughput and latency: daphne, worker and Redis microseconds per operation
(a round trip, a request or a delivery) and Redis microseconds per command
(commands counted with ``INFO commandstats``). ``docs/scaling.rst`` turns
these costs into a capacity model.

Layers: ``redis`` (one redis-server), ``shards2`` (client-side sharding over
two), ``cluster`` (``RedisClusterChannelLayer`` on a private Redis Cluster of
three masters and three replicas). Everything listens on 127.0.0.1 and every step is bounded in time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from tests.support.redis import RedisServer, free_port  # noqa: E402
from tests.support.stack import Managed  # noqa: E402

ASGI = "tests.reliability.project.asgi:channel_layer"
SETTINGS = "tests.reliability.project.settings"
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` so far (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


class Layout:
    """The redis-servers of one layer configuration and the settings that point at them."""

    backend = "asgi_redis.RedisChannelLayer"

    def __init__(self, name: str, servers: int, capacity: int) -> None:
        self.name = name
        self.capacity = capacity
        self.servers = [RedisServer() for _ in range(servers)]

    def start(self) -> Layout:
        for server in self.servers:
            server.start()
        return self

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
            server.cleanup()

    def env(self) -> dict[str, str]:
        return {
            "REL_BACKEND": self.backend,
            "REL_REDIS_HOSTS": ",".join(s.url for s in self.servers),
            "REL_CAPACITY": str(self.capacity),
        }

    def pids(self) -> list[int]:
        return [s.process.pid for s in self.servers if s.process is not None]

    def commands(self) -> int:
        """Commands every server has run so far (``INFO commandstats``; INFO, PING and the
        cluster's own bookkeeping excluded)."""
        total = 0
        for server in self.servers:
            out = subprocess.run(
                ["redis-cli", "-p", str(server.port), "INFO", "commandstats"],
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            ).stdout
            for line in out.splitlines():
                match = re.match(r"cmdstat_([\w|]+):calls=(\d+)", line)
                if match and match.group(1) not in ("info", "ping", "cluster|info", "cluster"):
                    total += int(match.group(2))
        return total


class ClusterLayout(Layout):
    """A private Redis Cluster (3 masters, 3 replicas) under ``RedisClusterChannelLayer``;
    its CPU and commands count every node, replicas included (they replay the writes)."""

    backend = "asgi_redis.RedisClusterChannelLayer"

    def __init__(self, name: str, capacity: int) -> None:
        from tests.support.redis_cluster import RedisCluster

        self.name = name
        self.capacity = capacity
        self.cluster = RedisCluster(masters=3)
        self.servers = []

    def start(self) -> ClusterLayout:
        self.cluster.start()
        self.servers = list(self.cluster.nodes)
        return self

    def stop(self) -> None:
        self.cluster.cleanup()


LAYOUTS = {"redis": 1, "shards2": 2, "cluster": 0}


def make_layout(name: str, capacity: int) -> Layout:
    if name == "cluster":
        return ClusterLayout(name, capacity)
    return Layout(name, LAYOUTS[name], capacity)


class Site:
    """``daphnes`` daphne processes and ``workers`` runworker processes on one layout."""

    def __init__(
        self, layout: Layout, daphnes: int, workers: int, spin_wait: float | None = None
    ) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="scale-"))
        env = dict(os.environ)
        env.pop("REDIS_URL", None)
        env.update(
            DJANGO_SETTINGS_MODULE=SETTINGS,
            PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
            REL_PREFIX=f"scale{uuid.uuid4().hex[:6]}:",
            **layout.env(),
        )
        if spin_wait is not None:
            env["REL_SPIN_WAIT"] = str(spin_wait)
        self.ports = [free_port() for _ in range(daphnes)]
        self.daphnes = [
            Managed(
                f"daphne{i}",
                [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), ASGI],
                env,
                self.directory,
            )
            for i, port in enumerate(self.ports)
        ]
        worker = [sys.executable, "-m", "django", "runworker", "-v", "0"]
        self.workers = [Managed(f"worker{i}", worker, env, self.directory) for i in range(workers)]

    def start(self, timeout: float = 60) -> Site:
        for process in [*self.workers, *self.daphnes]:
            process.start()
        deadline = time.monotonic() + timeout
        for port in self.ports:
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/hello/", timeout=5).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the site did not serve within {timeout}s: {self.logs()}")
                time.sleep(0.2)
        return self

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.output()[-2000:]}" for p in self.processes())

    def processes(self) -> list[Managed]:
        return [*self.daphnes, *self.workers]

    def stop(self) -> None:
        for process in self.processes():
            try:
                process.terminate(20)
            except AssertionError:
                pass
        shutil.rmtree(self.directory, ignore_errors=True)


@dataclass
class Row:
    layer: str
    daphnes: int
    workers: int
    workload: str
    ops: int = 0
    rate: float = 0.0
    p50_ms: float | None = None
    p99_ms: float | None = None
    lost: int = 0
    errors: int = 0
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds by process kind
    redis_commands: int = 0

    def per_op_us(self, kind: str) -> float | None:
        return round(self.cpu[kind] / self.ops * 1e6, 1) if self.ops and kind in self.cpu else None

    def redis_us_per_command(self) -> float | None:
        if not self.redis_commands:
            return None
        return round(self.cpu.get("redis", 0.0) / self.redis_commands * 1e6, 2)


class _Meter:
    """CPU seconds by process kind and Redis commands, between ``start()`` and ``stop()``."""

    def __init__(self, site: Site, layout: Layout) -> None:
        self.layout = layout
        self.kinds = {"daphne": site.daphnes, "worker": site.workers}
        #: The load generator's processes (set by the load before ``start()``).
        self.client_pids: list[int] = []
        #: CPU seconds of load processes that had ended before ``stop()``.
        self.client_ended = 0.0
        self.cpu: dict[str, float] = {}
        self.commands = 0

    def _sample(self) -> dict[str, float]:
        cpu = {k: sum(cpu_seconds(p.pid) for p in ps) for k, ps in self.kinds.items()}
        cpu["redis"] = sum(cpu_seconds(pid) for pid in self.layout.pids())
        cpu["client"] = sum(cpu_seconds(pid) for pid in self.client_pids)
        return cpu

    def start(self) -> None:
        self.cpu = self._sample()
        self.commands = self.layout.commands()

    def stop(self) -> None:
        after = self._sample()
        after["client"] += self.client_ended
        self.cpu = {k: round(after[k] - self.cpu[k], 3) for k in after}
        self.commands = self.layout.commands() - self.commands


def _measure(site: Site, layout: Layout, row: Row, run) -> Row:
    """``run(meter)`` drives the load, starting and stopping ``meter`` around its measured
    window, and returns the load's result."""
    meter = _Meter(site, layout)
    began = time.monotonic()
    result = run(meter)
    row.seconds = round(time.monotonic() - began, 2)
    row.cpu = meter.cpu
    row.redis_commands = meter.commands
    row.ops = int(result.get("ops", 0))
    row.rate = float(result.get("rate", 0.0))
    row.p50_ms = result.get("p50_ms")
    row.p99_ms = result.get("p99_ms")
    row.lost = int(result.get("lost", 0))
    row.errors = int(result.get("errors", 0))
    return row


def _ws_load(site: Site, args: argparse.Namespace, mode: str, meter: _Meter) -> dict:
    urls = ",".join(f"ws://127.0.0.1:{p}" for p in site.ports)
    command = [sys.executable, str(ROOT / "benchmarks" / "_scale_load.py"), mode, urls]
    if mode == "echo":
        command += [
            "--conns",
            str(args.echo_conns),
            "--duration",
            str(args.duration),
            "--warmup",
            "0",
        ]
    else:
        command += ["--members", str(args.fanout_members), "--duration", str(args.duration)]
        command += ["--settle", str(max(1.0, args.fanout_members / 2000))]
    budget = args.duration + 120 + args.fanout_members / 50
    with tempfile.TemporaryFile("w+") as errors:
        load = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True)
        meter.client_pids = [load.pid]
        timer = threading.Timer(budget, load.kill)
        timer.start()
        try:
            lines = []
            for line in load.stdout:
                lines.append(line)
                event = json.loads(line).get("event")
                if event == "measuring":
                    meter.start()
                elif event == "done":
                    meter.stop()
            code = load.wait()
        finally:
            timer.cancel()
        if code != 0 or not lines:
            errors.seek(0)
            raise RuntimeError(f"load client failed ({code}): {errors.read()[-2000:]}")
    return json.loads(lines[-1])


_WRK_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
_WRK_PCT = re.compile(r"^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _http_load(site: Site, args: argparse.Namespace, meter: _Meter) -> dict:
    """One ``wrk`` per daphne at once; rates add up, the slowest daphne's percentiles count."""
    per_daphne = max(1, args.http_conns // len(site.ports))
    runs = [
        subprocess.Popen(
            [
                "wrk",
                "-t",
                "1",
                "-c",
                str(per_daphne),
                "-d",
                f"{max(1, round(args.duration))}s",
                "--latency",
                f"http://127.0.0.1:{port}/hello/",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        for port in site.ports
    ]
    # wrk is reaped before the meter stops: its CPU comes from the children's rusage
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    meter.start()
    rate, p50, p99, errors, requests = 0.0, 0.0, 0.0, 0, 0
    for run in runs:
        out, _ = run.communicate(timeout=args.duration + 60)
        match = _WRK_RATE.search(out)
        if not match:
            raise RuntimeError(f"wrk printed no rate:\n{out}")
        rate += float(match.group(1))
        requests += int(re.search(r"(\d+) requests in", out).group(1))
        pct = {q: float(v) * _UNIT[u] for q, v, u in _WRK_PCT.findall(out)}
        p50, p99 = max(p50, pct.get("50", 0.0)), max(p99, pct.get("99", 0.0))
        errors += sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    ended = resource.getrusage(resource.RUSAGE_CHILDREN)
    meter.client_ended = (ended.ru_utime + ended.ru_stime) - (children.ru_utime + children.ru_stime)
    meter.stop()
    return {
        "ops": requests,
        "rate": round(rate, 1),
        "p50_ms": p50,
        "p99_ms": p99,
        "errors": errors,
    }


def run_grid(args: argparse.Namespace) -> list[Row]:
    rows: list[Row] = []
    for layer in args.layers:
        layout = make_layout(layer, capacity=max(100, args.fanout_members)).start()
        try:
            for daphnes in args.daphnes:
                for workers in args.workers:
                    site = Site(layout, daphnes, workers, args.spin_wait).start()
                    try:
                        for workload in args.workloads:
                            row = Row(layer, daphnes, workers, workload)
                            if workload == "http":
                                run = lambda meter, site=site: _http_load(site, args, meter)  # noqa: E731
                            else:
                                mode = "echo" if workload == "echo" else "fanout"
                                run = lambda meter, site=site, mode=mode: _ws_load(  # noqa: E731
                                    site, args, mode, meter
                                )
                            rows.append(_measure(site, layout, row, run))
                            print(_line(rows[-1]), file=sys.stderr, flush=True)
                    finally:
                        site.stop()
        finally:
            layout.stop()
    return rows


HEADER = (
    "| layer | daphnes | workers | workload | ops/s | p50 ms | p99 ms | lost | errors "
    "| daphne µs/op | worker µs/op | redis µs/op | client µs/op | redis µs/cmd | cmds/op |"
)


def _line(row: Row) -> str:
    cmds = round(row.redis_commands / row.ops, 2) if row.ops else None
    cells = [
        row.layer, row.daphnes, row.workers, row.workload, row.rate, row.p50_ms, row.p99_ms,
        row.lost, row.errors, row.per_op_us("daphne"), row.per_op_us("worker"),
        row.per_op_us("redis"), row.per_op_us("client"), row.redis_us_per_command(), cmds,
    ]  # fmt: skip
    return "| " + " | ".join("–" if c is None else str(c) for c in cells) + " |"


KINDS = ("daphne", "worker", "redis", "client")

RST_COLUMNS = (
    "layer", "daphnes", "workers", "workload", "ops/s", "p50 ms", "p99 ms", "lost",
    "daphne", "worker", "Redis", "client", "Redis cmds/op",
)  # fmt: skip


def rst_table(rows: list[dict]) -> str:
    """The grid as the ``list-table`` of docs/scaling.rst (CPU in whole µs per operation)."""

    def cpu(row: dict, kind: str) -> str:
        if not row["ops"] or kind not in row["cpu"]:
            return "–"
        return f"{row['cpu'][kind] / row['ops'] * 1e6:.0f}"

    def ms(value: float | None) -> str:
        return "–" if value is None else f"{value:.1f}"

    lines = [
        ".. list-table:: The grid (ops/s: round trips, requests or deliveries a second; "
        "CPU in µs per operation)",
        "   :header-rows: 1",
        "",
    ]
    for row in [None, *rows]:
        if row is None:
            cells = list(RST_COLUMNS)
        else:
            cmds = f"{row['redis_commands'] / row['ops']:.2f}" if row["ops"] else "–"
            cells = [
                row["layer"], str(row["daphnes"]), str(row["workers"]), row["workload"],
                f"{row['rate']:,.0f}", ms(row["p50_ms"]), ms(row["p99_ms"]), str(row["lost"]),
                *(cpu(row, kind) for kind in KINDS), cmds,
            ]  # fmt: skip
        lines.append(f"   * - {cells[0]}")
        lines.extend(f"     - {cell}" for cell in cells[1:])
    return "\n".join(lines) + "\n"


def draw_chart(rows: list[dict], path: str) -> None:
    """One panel per workload: each cell's CPU per operation stacked by process kind
    (bars, left axis) and its throughput (dots, right axis)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workloads = list(dict.fromkeys(r["workload"] for r in rows))
    fig, axes = plt.subplots(len(workloads), 1, figsize=(11, 3.2 * len(workloads)), squeeze=False)
    for ax, workload in zip(axes[:, 0], workloads, strict=True):
        cells = [r for r in rows if r["workload"] == workload]
        labels = [f"{r['layer']}\n{r['daphnes']}d {r['workers']}w" for r in cells]
        bottom = [0.0] * len(cells)
        for kind in KINDS:
            values = [r["cpu"].get(kind, 0) / r["ops"] * 1e6 if r["ops"] else 0 for r in cells]
            ax.bar(range(len(cells)), values, bottom=bottom, label=kind)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        ax.set_ylabel("CPU µs per operation")
        ax.set_title(f"{workload}: CPU per operation (bars) and operations/s (dots)")
        ax.set_xticks(range(len(cells)), labels, fontsize=7)
        rate = ax.twinx()
        rate.plot(range(len(cells)), [r["rate"] for r in cells], "ko", markersize=4)
        rate.set_ylabel("operations/s")
        rate.set_ylim(bottom=0)
    axes[0, 0].legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def _from_json(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """--chart-only / --rst-only: draw or write from an earlier run's --json."""
    if args.chart_only and not args.chart:
        parser.error("--chart-only needs --chart")
    if args.rst_only and not args.rst:
        parser.error("--rst-only needs --rst")
    if args.chart_only:
        draw_chart(json.loads(Path(args.chart_only).read_text()), args.chart)
    if args.rst_only:
        Path(args.rst).write_text(rst_table(json.loads(Path(args.rst_only).read_text())))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ints = lambda text: [int(x) for x in text.split(",")]  # noqa: E731
    names = lambda text: text.split(",")  # noqa: E731
    parser.add_argument("--daphnes", type=ints, default=[1, 2])
    parser.add_argument("--workers", type=ints, default=[1, 2, 4])
    parser.add_argument("--layers", type=names, default=["redis", "shards2", "cluster"])
    parser.add_argument("--workloads", type=names, default=["echo", "http", "fanout"])
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds per cell")
    parser.add_argument("--echo-conns", type=int, default=50)
    parser.add_argument("--http-conns", type=int, default=32)
    parser.add_argument("--fanout-members", type=int, default=200)
    parser.add_argument(
        "--spin-wait",
        type=float,
        help="the layer's spin_wait in every process (seconds; 0 turns polling off)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write every row as JSON")
    parser.add_argument("--chart", metavar="PNG", help="also draw the grid (needs matplotlib)")
    parser.add_argument(
        "--chart-only", metavar="JSON", help="draw --chart from a --json file and stop"
    )
    parser.add_argument(
        "--rst", metavar="FILE", help="also write the grid as docs/scaling.rst's list-table"
    )
    parser.add_argument(
        "--rst-only", metavar="JSON", help="write --rst from a --json file and stop"
    )
    args = parser.parse_args()
    if args.chart_only or args.rst_only:
        return _from_json(parser, args)
    for layer in args.layers:
        if layer not in LAYOUTS:
            parser.error(f"unknown layer {layer!r}; choose from {', '.join(LAYOUTS)}")
    if "http" in args.workloads and not shutil.which("wrk"):
        parser.error("the http workload needs wrk on PATH (Debian: apt-get install wrk)")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the children inherit it
    print(HEADER, file=sys.stderr)
    rows = run_grid(args)
    print(HEADER)
    print("|" + "---|" * (HEADER.count("|") - 1))
    for row in rows:
        print(_line(row))
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in rows], indent=1))
    if args.chart:
        draw_chart([asdict(r) for r in rows], args.chart)
    if args.rst:
        Path(args.rst).write_text(rst_table([asdict(r) for r in rows]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
