#!/usr/bin/env python
"""The project's benchmark: every workload of the performance issue in one run.

    BENCH_WORK=/path/to/harness/venvs python benchmarks/run.py

Drives the shared harness (``../shared/bench/run_bench.py``, or ``--bench``)
for what it already measures side by side (HTTP through a trivial consumer
and through a Django view, WebSocket echo with 50 connections, fan-out to
100 members, memory per idle WebSocket, the ASGI-1 layer ping-pong,
``redis-benchmark`` on the same Redis, and gunicorn serving the same view),
and adds what it lacks:

* the latency of a single echo connection at light load (one message in
  flight at a time);
* fan-out to 1,000 members;
* idle CPU of daphne and a worker over 10 s with 1,000 idle sockets open
  (``benchmarks/idle_cpu.py``);
* the Redis layer's own benchmark (``benchmarks/layer_bench.py``).

Each part is a child process with its own deadline, everything listens on
127.0.0.1, and progress lines go to stderr. The results directory gets
``report.md`` (tables with the medians of the repeats, and the issue's
targets, met or how far) and ``chart.png``, next to the harness' own
``results.json``/``summary.md`` of each part.

The load runs in the harness' load-generator venv (``$BENCH_WORK/loadgen``);
this script only needs matplotlib for the chart (the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DEFAULT_STACKS = "ch1,ours,gunicorn,ch4,ch4-uvicorn"
DEFAULT_EXTRA_STACKS = "ch1,ours"
SUBJECT = "ours"

# Reference figures quoted in the performance issue (this machine, anchors).
CH1_KIB_PER_SOCKET = 16.7


def log(message: str) -> None:
    """A progress line on stderr, time-stamped like the harness' own."""
    print(f"[{time.strftime('%H:%M:%S')}] run.py: {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ running
def run_part(name: str, cmd: list[str], env: dict[str, str], timeout: float) -> int:
    """Run one part with its output streamed through; its return code."""
    log(f"part {name}: {' '.join(shlex.quote(c) for c in cmd)}")
    started = time.monotonic()
    try:
        proc = subprocess.run(cmd, env=env, timeout=timeout, check=False)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        log(f"part {name}: gave up after {timeout:.0f} s")
        code = -1
    log(f"part {name}: done in {time.monotonic() - started:.0f} s (rc {code})")
    return code


def json_line(text: str) -> dict | None:
    """The last JSON object line of a tool's stdout."""
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    return None


def harness_cmd(a: argparse.Namespace, out: str, stacks: str, extra: list[str]) -> list[str]:
    """A ``run_bench.py`` command line sharing this run's ports and settings."""
    cmd = [
        a.loadgen_python,
        os.path.join(a.bench, "run_bench.py"),
        "--stacks",
        stacks,
        "--repeat",
        str(a.repeat),
        "--duration",
        str(a.duration),
        "--layer-duration",
        str(a.layer_duration),
        "--port",
        str(a.port),
        "--redis-port",
        str(a.redis_port),
        "--work",
        a.work,
        "--out",
        out,
    ]
    for kv in a.set:
        cmd += ["--set", kv]
    return cmd + extra


def run_all(a: argparse.Namespace, env: dict[str, str]) -> dict:
    """Every part in turn; returns where each part's results are."""
    parts: dict = {"side": None, "latency1": None, "fanout1000": None, "idle_cpu": [], "layer": []}
    parts["settings"] = {
        k: getattr(a, k) for k in ("stacks", "extra_stacks", "repeat", "duration", "stamp")
    }
    budget = a.duration * 12 + 300
    side_out = os.path.join(a.out, "side-by-side")
    n_stacks = len(a.stacks.split(","))
    if "side" not in a.skip:
        run_part(
            "side-by-side",
            harness_cmd(a, side_out, a.stacks, []),
            env,
            a.repeat * n_stacks * budget,
        )
        parts["side"] = os.path.join(side_out, "results.json")
    extra_stacks = a.extra_stacks
    n_extra = len(extra_stacks.split(","))
    if "latency1" not in a.skip and extra_stacks:
        out = os.path.join(a.out, "latency-1-connection")
        run_part(
            "single-connection echo",
            harness_cmd(
                a,
                out,
                extra_stacks,
                ["--workloads", "ws_echo", "--ws-conns", "1", "--no-redis-bench"],
            ),
            env,
            a.repeat * n_extra * budget,
        )
        parts["latency1"] = os.path.join(out, "results.json")
    if "fanout1000" not in a.skip and extra_stacks:
        out = os.path.join(a.out, "fanout-1000")
        run_part(
            "fan-out to 1000",
            harness_cmd(
                a,
                out,
                extra_stacks,
                ["--workloads", "ws_fanout", "--fanout-members", "1000", "--no-redis-bench"],
            ),
            env,
            a.repeat * n_extra * budget,
        )
        parts["fanout1000"] = os.path.join(out, "results.json")
    if "idle_cpu" not in a.skip and extra_stacks:
        for rep in range(1, a.repeat + 1):
            for stack in extra_stacks.split(","):
                cmd = [
                    a.loadgen_python,
                    os.path.join(HERE, "idle_cpu.py"),
                    "--bench",
                    a.bench,
                    "--stack",
                    stack,
                    "--work",
                    a.work,
                    "--conns",
                    str(a.idle_conns),
                    "--window",
                    str(a.idle_window),
                    "--port",
                    str(a.port),
                    "--redis-port",
                    str(a.redis_port),
                    "--out",
                    os.path.join(a.out, "idle-cpu"),
                ]
                for kv in a.set:
                    cmd += ["--set", kv]
                log(f"part idle CPU: {stack} (repeat {rep})")
                try:
                    proc = subprocess.run(
                        cmd, env=env, capture_output=True, text=True, timeout=a.idle_window + 300
                    )
                    sys.stderr.write(proc.stderr)
                    res = json_line(proc.stdout) or {"stack": stack, "error": proc.stderr[-300:]}
                except subprocess.TimeoutExpired:
                    res = {"stack": stack, "error": "timed out"}
                res["repeat"] = rep
                parts["idle_cpu"].append(res)
                log(f"part idle CPU: {stack} -> {res.get('cpu', res.get('error'))}")
    if "layer" not in a.skip:
        cmd = [
            os.path.join(a.ours_venv, "bin", "python"),
            os.path.join(HERE, "layer_bench.py"),
            "--duration",
            str(a.layer_duration),
        ]
        log("part layer_bench.py (its own private redis-server)")
        try:
            proc = subprocess.run(
                cmd, env=env, capture_output=True, text=True, timeout=a.layer_duration * 40 + 300
            )
            sys.stderr.write(proc.stdout)
            parts["layer"] = json_line(proc.stdout) or {"error": proc.stderr[-300:]}
        except subprocess.TimeoutExpired:
            parts["layer"] = {"error": "timed out"}
    with open(os.path.join(a.out, "parts.json"), "w") as f:
        json.dump(parts, f, indent=1)
    return parts


# ---------------------------------------------------------------- reducing
def load(path: str | None) -> dict:
    """A harness results.json, or an empty one when the part did not run."""
    if not path or not os.path.exists(path):
        return {"runs": [], "redis_reference": []}
    with open(path) as f:
        return json.load(f)


def median(values: list) -> float | None:
    """Median of the numbers in values (None when there are none)."""
    nums = [v for v in values if isinstance(v, (int, float))]
    return statistics.median(nums) if nums else None


def pick(results: dict, workload: str, *keys: str) -> dict[str, float | None]:
    """stack -> median over repeats of results[workload][keys...]."""
    per_stack: dict[str, list] = {}
    for run in results.get("runs", []):
        value = run["workloads"].get(workload)
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        per_stack.setdefault(run["stack"], []).append(value)
    return {stack: median(values) for stack, values in per_stack.items()}


def reduce(parts: dict) -> dict:
    """The medians the report and the chart show: metric -> stack -> value."""
    side = load(parts.get("side"))
    lat = load(parts.get("latency1"))
    fan = load(parts.get("fanout1000"))
    m: dict[str, dict] = {
        "HTTP trivial consumer (req/s)": pick(side, "http", "rate"),
        "HTTP p99 (ms)": pick(side, "http", "p99_ms"),
        "Django view (req/s)": pick(side, "django", "rate"),
        "Django p99 (ms)": pick(side, "django", "p99_ms"),
        "WS echo, 50 conns (round trips/s)": pick(side, "ws_echo", "rate"),
        "WS echo p50 (ms)": pick(side, "ws_echo", "p50_ms"),
        "WS echo p99 (ms)": pick(side, "ws_echo", "p99_ms"),
        "fan-out 100 (deliveries/s)": pick(side, "ws_fanout", "rate"),
        "fan-out 100 p50 (ms)": pick(side, "ws_fanout", "p50_ms"),
        "fan-out 100 p99 (ms)": pick(side, "ws_fanout", "p99_ms"),
        "fan-out 100 lost": pick(side, "ws_fanout", "lost"),
        "memory per idle socket (KiB)": pick(side, "idle_mem", "kb_per_socket_total"),
        "redis cmds per HTTP request": pick(side, "http", "redis_cmds_per_op"),
        "redis cmds per echo message": pick(side, "ws_echo", "redis_cmds_per_op"),
        "layer ping-pong (ops/s)": pick(side, "layer", "pingpong", "rate"),
        "single-conn echo p50 (ms)": pick(lat, "ws_echo", "p50_ms"),
        "single-conn echo p99 (ms)": pick(lat, "ws_echo", "p99_ms"),
        "fan-out 1000 (deliveries/s)": pick(fan, "ws_fanout", "rate"),
        "fan-out 1000 p50 (ms)": pick(fan, "ws_fanout", "p50_ms"),
        "fan-out 1000 p99 (ms)": pick(fan, "ws_fanout", "p99_ms"),
        "fan-out 1000 lost": pick(fan, "ws_fanout", "lost"),
    }
    idle: dict[str, dict[str, list]] = {}
    for res in parts.get("idle_cpu", []):
        for proc, pct in (res.get("cpu") or {}).items():
            idle.setdefault(proc, {}).setdefault(res["stack"], []).append(pct)
    for proc, by_stack in sorted(idle.items()):
        m[f"idle CPU, 1000 sockets: {proc} (% of a core)"] = {
            s: median(v) for s, v in by_stack.items()
        }
    redis_ref = side.get("redis_reference", [])
    m["_redis_benchmark"] = {
        f"{op} {label}": median([r.get(label, {}).get(op) for r in redis_ref])
        for label in ("plain", "pipeline16")
        for op in ("lpush", "rpop")
    }
    m["_layer_bench"] = parts.get("layer") or {}
    return m


def fmt(value: float | None) -> str:
    """A table cell: thousands with separators, small values with decimals."""
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b, or None when either is missing or b is zero."""
    if a is None or not b:
        return None
    return a / b


def targets(m: dict) -> list[tuple[str, bool | None, str]]:
    """The issue's targets for ``ours``: (target, met?, the figures)."""
    s = SUBJECT

    def g(metric: str, stack: str = s) -> float | None:
        return m.get(metric, {}).get(stack)

    out: list[tuple[str, bool | None, str]] = []

    def at_least(name: str, value: float | None, need: float, what: str) -> None:
        if value is None:
            out.append((name, None, f"{what}: not measured"))
        else:
            out.append((name, value >= need, f"{what} = {value:.2f} (need >= {need:g})"))

    def at_most(name: str, value: float | None, limit: float, what: str) -> None:
        if value is None:
            out.append((name, None, f"{what}: not measured"))
        else:
            out.append((name, value <= limit, f"{what} = {value:.2f} (need <= {limit:g})"))

    http, dj = "HTTP trivial consumer (req/s)", "Django view (req/s)"
    echo, fan = "WS echo, 50 conns (round trips/s)", "fan-out 100 (deliveries/s)"
    at_least("HTTP >= 3x ch1", ratio(g(http), g(http, "ch1")), 3, "ours/ch1")
    at_least("Django >= 2x ch1", ratio(g(dj), g(dj, "ch1")), 2, "ours/ch1")
    at_least("Django >= 2x ch4-uvicorn", ratio(g(dj), g(dj, "ch4-uvicorn")), 2, "ours/ch4-uvicorn")
    at_least("Django >= 80% of gunicorn", ratio(g(dj), g(dj, "gunicorn")), 0.8, "ours/gunicorn")
    at_least("WS echo >= 4x ch1", ratio(g(echo), g(echo, "ch1")), 4, "ours/ch1")
    at_least(
        "WS echo >= ch4-uvicorn", ratio(g(echo), g(echo, "ch4-uvicorn")), 1, "ours/ch4-uvicorn"
    )
    p99, ch1_p50 = g("WS echo p99 (ms)"), g("WS echo p50 (ms)", "ch1")
    at_most("WS echo p99 < ch1 p50", ratio(p99, ch1_p50), 1, "ours p99 / ch1 p50")
    at_most("single-conn echo p50 < 1 ms", g("single-conn echo p50 (ms)"), 1, "p50 ms")
    at_least("fan-out >= 10x ch1", ratio(g(fan), g(fan, "ch1")), 10, "ours/ch1")
    best4 = max([v for v in (g(fan, "ch4"), g(fan, "ch4-uvicorn")) if v is not None], default=None)
    at_least("fan-out >= 2x best ch4", ratio(g(fan), best4), 2, "ours/best(ch4, ch4-uvicorn)")
    at_most("fan-out 100: 0 lost", g("fan-out 100 lost"), 0, "lost")
    at_most("fan-out 1000: 0 lost", g("fan-out 1000 lost"), 0, "lost")
    for proc in ("daphne", "worker"):
        at_most(
            f"idle {proc} < 0.5 % of a core",
            g(f"idle CPU, 1000 sockets: {proc} (% of a core)"),
            0.5,
            "% of a core",
        )
    at_most(
        "memory <= ch1's 16.7 KiB/socket",
        g("memory per idle socket (KiB)"),
        CH1_KIB_PER_SOCKET,
        "KiB/socket",
    )
    lay = "layer ping-pong (ops/s)"
    at_least("layer ping-pong >= 4x asgi_redis 1.4.3", ratio(g(lay), g(lay, "ch1")), 4, "ours/ch1")
    # The Redis layer issue's targets, with what no layer could beat here:
    # the same commands on bare Python sockets (informative, never "met").
    layer = m.get("_layer_bench") or {}
    bare = ratio((layer.get("pingpong_bare") or {}).get("round_trips_per_s"), g(lay, "ch1"))
    if bare is not None:
        out.append(
            ("reference: bare-socket ping-pong (sleeping) vs 1.4.3", None, f"bare/ch1 = {bare:.2f}")
        )
    # Batched throughput is the layer's with its batch calls, the way daphne
    # and runworker move messages under load; the per-message calls and
    # bare sockets making one call per message are shown beside it.
    at_least(
        "layer batched >= 30% of LPUSH",
        layer.get("batch_api_vs_lpush"),
        0.3,
        "batch calls/LPUSH",
    )
    for key, name in (
        ("batch_vs_lpush", "reference: batched, one call per message, vs LPUSH"),
        ("batch_bare_vs_lpush", "ceiling: bare sockets, one call per message, vs LPUSH"),
    ):
        if layer.get(key) is not None:
            out.append((name, None, f"{key.removesuffix('_vs_lpush')}/LPUSH = {layer[key]:.2f}"))
    at_most("redis cmds per HTTP request <= 4", g("redis cmds per HTTP request"), 4, "commands")
    at_most("redis cmds per echo message <= 4", g("redis cmds per echo message"), 4, "commands")
    return out


def write_report(a: argparse.Namespace, m: dict, command: str) -> str:
    """report.md: the medians per stack, the references and the targets."""
    stacks = [s for s in a.stacks.split(",") if s]
    lines = [
        "# Benchmark report",
        "",
        f"{a.stamp}, {os.cpu_count()} CPUs, {a.repeat} repeat(s), {a.duration:g} s per load "
        "step; medians of the repeats.",
        "",
        f"Command: `{command}`",
        "",
        "| workload | " + " | ".join(stacks) + " |",
        "|---|" + "---|" * len(stacks),
    ]
    for metric, by_stack in m.items():
        if metric.startswith("_"):
            continue
        if not any(by_stack.get(s) is not None for s in stacks):
            continue
        lines.append(f"| {metric} | " + " | ".join(fmt(by_stack.get(s)) for s in stacks) + " |")
    lines += [
        "",
        "Stacks measured for the single-connection echo, the fan-out to 1,000 and idle "
        f"CPU: {a.extra_stacks or 'none'}.",
        "",
    ]
    ref = m["_redis_benchmark"]
    if any(v is not None for v in ref.values()):
        lines += [
            "## redis-benchmark on the same Redis (ops/s)",
            "",
            "| LPUSH | RPOP | LPUSH -P16 | RPOP -P16 |",
            "|---|---|---|---|",
            "| "
            + " | ".join(
                fmt(ref.get(k))
                for k in ("lpush plain", "rpop plain", "lpush pipeline16", "rpop pipeline16")
            )
            + " |",
            "",
        ]
    layer = m["_layer_bench"]
    if layer:
        lines += [
            "## benchmarks/layer_bench.py (this project's Redis layer)",
            "",
            "| step | figures |",
            "|---|---|",
        ]
        for key, value in layer.items():
            lines.append(f"| {key} | {json.dumps(value) if isinstance(value, dict) else value} |")
        lines.append("")
    lines += [
        "## Targets of the performance issue (ours)",
        "",
        "| target | met | figures |",
        "|---|---|---|",
    ]
    for name, met, detail in targets(m):
        mark = "n/a" if met is None else ("yes" if met else "NO")
        lines.append(f"| {name} | {mark} | {detail} |")
    lines.append("")
    path = os.path.join(a.out, "report.md")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def write_chart(a: argparse.Namespace, m: dict) -> str | None:
    """chart.png: throughput, latency, memory and Redis commands per stack."""
    try:
        import matplotlib  # optional: the bench extra

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib is missing (pip install -e '.[bench]'): no chart")
        return None
    stacks = [s for s in a.stacks.split(",") if s]
    panels = [
        (
            "throughput (per second)",
            [
                "HTTP trivial consumer (req/s)",
                "Django view (req/s)",
                "WS echo, 50 conns (round trips/s)",
                "fan-out 100 (deliveries/s)",
                "fan-out 1000 (deliveries/s)",
            ],
        ),
        (
            "latency (ms)",
            [
                "WS echo p50 (ms)",
                "WS echo p99 (ms)",
                "single-conn echo p50 (ms)",
                "fan-out 100 p50 (ms)",
            ],
        ),
        ("memory per idle WebSocket (KiB)", ["memory per idle socket (KiB)"]),
        (
            "Redis commands per operation",
            ["redis cmds per HTTP request", "redis cmds per echo message"],
        ),
    ]
    fig, axes = plt.subplots(2, 2, figsize=(15, 9))
    for ax, (title, metrics) in zip(axes.flat, panels):
        width = 0.8 / max(1, len(stacks))
        for i, stack in enumerate(stacks):
            values = [m.get(k, {}).get(stack) or 0 for k in metrics]
            xs = [j + i * width for j in range(len(metrics))]
            ax.bar(xs, values, width, label=stack)
        ax.set_xticks([j + width * (len(stacks) - 1) / 2 for j in range(len(metrics))])
        ax.set_xticklabels([k.split(" (")[0] for k in metrics], rotation=12, fontsize=8)
        ax.set_title(title)
        ax.grid(axis="y", alpha=0.3)
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(f"channels-classic benchmark {a.stamp} (medians of {a.repeat} repeat(s))")
    fig.tight_layout()
    path = os.path.join(a.out, "chart.png")
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


# -------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; defaults are the issue's workloads."""
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--bench",
        default=os.environ.get("BENCH_DIR") or os.path.join(REPO, "..", "shared", "bench"),
        help="the shared harness directory",
    )
    p.add_argument(
        "--work",
        default=os.environ.get("BENCH_WORK"),
        help="the harness venvs (default $BENCH_WORK)",
    )
    p.add_argument("--stacks", default=DEFAULT_STACKS, help="side-by-side stacks")
    p.add_argument(
        "--extra-stacks",
        default=DEFAULT_EXTRA_STACKS,
        help="stacks for single-connection echo, fan-out 1000 and idle CPU",
    )
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--duration", type=float, default=10.0, help="seconds per load step")
    p.add_argument("--layer-duration", type=float, default=3.0)
    p.add_argument("--idle-conns", type=int, default=1000)
    p.add_argument("--idle-window", type=float, default=10.0)
    p.add_argument("--port", type=int, default=int(os.environ.get("BENCH_PORT", 18080)))
    p.add_argument("--redis-port", type=int, default=int(os.environ.get("BENCH_REDIS_PORT", 6390)))
    p.add_argument("--ours-venv", default=os.environ.get("OURS_VENV") or sys.prefix)
    p.add_argument("--gunicorn-venv", default=os.environ.get("GUNICORN_VENV"))
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override stack [params], as run_bench.py --set",
    )
    p.add_argument(
        "--skip", default="", help="parts to leave out: side,latency1,fanout1000,idle_cpu,layer"
    )
    p.add_argument("--quick", action="store_true", help="a smoke run: 1 repeat, 3 s steps")
    p.add_argument("--out", default=None, help="results dir (default benchmarks/results/<stamp>)")
    p.add_argument("--report-only", metavar="DIR", help="rebuild report/chart from DIR/parts.json")
    a = p.parse_args(argv)
    if a.quick:
        a.repeat, a.duration, a.layer_duration, a.idle_window = 1, 3.0, 1.0, 3.0
    a.skip = {s for s in a.skip.split(",") if s}
    a.stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return a


def main(argv: list[str] | None = None) -> None:
    """Run every part (or rebuild the report), then write report.md and chart.png."""
    a = parse_args(argv)
    command = " ".join(shlex.quote(c) for c in [os.path.relpath(sys.argv[0], REPO), *sys.argv[1:]])
    if a.report_only:
        a.out = os.path.abspath(a.report_only)
        with open(os.path.join(a.out, "parts.json")) as f:
            parts = json.load(f)
        for key, value in parts.get("settings", {}).items():
            setattr(a, key, value)
        with open(os.path.join(a.out, "command.txt")) as f:
            command = f.read().strip()
    else:
        if not a.work or not os.path.isdir(os.path.join(a.work, "loadgen")):
            raise SystemExit("set BENCH_WORK (or --work) to the harness venvs (setup_anchors.sh)")
        a.work = os.path.abspath(a.work)
        a.bench = os.path.abspath(a.bench)
        a.loadgen_python = os.path.join(a.work, "loadgen", "venv", "bin", "python")
        a.gunicorn_venv = a.gunicorn_venv or os.path.join(a.work, "gunicorn", "venv")
        stacks = [s for s in a.stacks.split(",") if s]
        if "gunicorn" in stacks and not os.path.exists(
            os.path.join(a.gunicorn_venv, "bin", "gunicorn")
        ):
            log(f"no gunicorn in {a.gunicorn_venv} (set GUNICORN_VENV): leaving it out")
            stacks.remove("gunicorn")
        a.stacks = ",".join(stacks)
        a.out = os.path.abspath(a.out or os.path.join(HERE, "results", a.stamp))
        os.makedirs(a.out, exist_ok=True)
        env = dict(
            os.environ,
            BENCH_WORK=a.work,
            OURS_VENV=os.path.abspath(a.ours_venv),
            GUNICORN_VENV=os.path.abspath(a.gunicorn_venv),
        )
        log(f"results -> {a.out}")
        with open(os.path.join(a.out, "command.txt"), "w") as f:
            f.write(command + "\n")
        parts = run_all(a, env)
    m = reduce(parts)
    with open(os.path.join(a.out, "medians.json"), "w") as f:
        json.dump(m, f, indent=1)
    report = write_report(a, m, command)
    chart = write_chart(a, m)
    log(f"report: {report}")
    if chart:
        log(f"chart: {chart}")
    with open(report) as f:
        print(f.read())


if __name__ == "__main__":
    main()
