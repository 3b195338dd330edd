#!/usr/bin/env python
"""Idle CPU of a stack's processes while many WebSockets sit open and silent.

    python benchmarks/idle_cpu.py --bench ../shared/bench --stack ours --conns 1000

Runs with the shared harness' load-generator interpreter (it needs ``psutil``
and ``websockets``) and reuses the harness' own pieces (``run_bench.py``):
a private redis-server, the stack started from its TOML file, and
``wsload.py idle`` holding the sockets. Once every socket is open and the
stack has settled, the CPU time of each stack process (with its threads and
children) and of redis-server is sampled over ``--window`` seconds. An
interface server that polls its channel layer shows up here even with
nothing to do, which is why the figure is worth having.

Prints progress on stderr and one JSON line on stdout::

    {"stack": "ours", "connected": 1000, "window_s": 10.0,
     "cpu": {"daphne": 0.1, "worker": 0.0, "redis": 0.2, "loadgen": 0.0}}

Everything is on 127.0.0.1, and every step has a deadline.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from types import SimpleNamespace


def _harness(bench_dir: str):
    """Import ``run_bench`` from the shared harness directory."""
    sys.path.insert(0, os.path.abspath(bench_dir))
    import run_bench  # a sibling tree, located at run time

    return run_bench


def _wait_ready(proc: subprocess.Popen, timeout: float) -> dict | None:
    """The ``{"ready": ...}`` line of ``wsload.py idle``, or None on timeout/exit."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            return None
        if line.startswith("{") and '"ready"' in line:
            return json.loads(line)
    return None


def measure(args: argparse.Namespace) -> dict:
    """Start redis and the stack, open the sockets, sample CPU, stop everything."""
    rb = _harness(args.bench)
    os.makedirs(args.out, exist_ok=True)
    stack = rb.load_stack(args.stack)
    path = stack["paths"].get("ws_echo")
    result: dict = {"stack": stack["name"], "conns": args.conns, "window_s": args.window}
    if not path:
        result["skipped"] = "stack has no ws_echo path"
        return result
    opts = SimpleNamespace(
        work=os.path.abspath(args.work),
        port=args.port,
        redis_port=args.redis_port,
        layer_duration=1,
        set=dict(kv.split("=", 1) for kv in args.set),
    )
    ctx = rb.make_ctx(opts, stack)
    redis = rb.Redis(args.redis_port, args.out).start()
    running = None
    client = None
    try:
        redis.flush()
        rb.log(f"idle_cpu: starting {stack['name']}")
        running = rb.RunningStack(stack, ctx, args.out).start()
        url = f"ws://127.0.0.1:{args.port}{path}"
        client = subprocess.Popen(
            [
                args.loadgen_python,
                os.path.join(rb.BENCH_DIR, "wsload.py"),
                "idle",
                url,
                "--conns",
                str(args.conns),
                "--hold",
                str(args.window + args.settle + 120),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        ready = _wait_ready(client, 120)
        if ready is None:
            result["error"] = "the idle client never reported ready"
            return result
        result["connected"] = ready.get("connected")
        result["connect_errors"] = ready.get("connect_errors")
        rb.log(f"idle_cpu: {ready.get('connected')} sockets open; settling {args.settle} s")
        time.sleep(args.settle)
        commands0 = redis.commands()
        meter = rb.CpuMeter(running.pids() | {"redis": redis.proc.pid})
        time.sleep(args.window)
        result["cpu"] = meter.done()
        result["cpu"].pop("loadgen", None)
        commands1 = redis.commands()
        if commands0 is not None and commands1 is not None:
            result["redis_cmds_per_s"] = round((commands1 - commands0) / args.window, 1)
        result["alive"] = running.alive()
        rb.log(f"idle_cpu: -> {result['cpu']}")
        return result
    finally:
        if client is not None:
            if client.poll() is None:
                try:
                    client.stdin.write("close\n")
                    client.stdin.flush()
                    client.communicate(timeout=60)
                except (OSError, subprocess.TimeoutExpired):
                    client.kill()
                    client.wait(5)
        if running is not None:
            running.stop()
        redis.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bench", required=True, help="the shared harness directory")
    parser.add_argument("--stack", required=True, help="stack name or TOML path")
    parser.add_argument("--work", default=os.environ.get("BENCH_WORK", "."))
    parser.add_argument(
        "--out",
        default=os.path.join(
            os.path.dirname(os.path.abspath(__file__)), "results", "idle-cpu-logs"
        ),
        help="directory for process logs (default benchmarks/results/idle-cpu-logs, git-ignored)",
    )
    parser.add_argument("--conns", type=int, default=1000)
    parser.add_argument("--window", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds before measuring")
    parser.add_argument("--port", type=int, default=18080)
    parser.add_argument("--redis-port", type=int, default=6390)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--loadgen-python", default=sys.executable)
    args = parser.parse_args()
    # 1,000 sockets on each side: the stack inherits this limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    print(json.dumps(measure(args)), flush=True)


if __name__ == "__main__":
    main()
