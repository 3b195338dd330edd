"""Instructions per operation of daphne and a worker, counted by callgrind (noise-free A/B).

    python benchmarks/instructions.py [--count 500] [--shards N] [--tree OTHER_CHECKOUT ...]

Seconds on this shared two-core machine move by ±25 % from run to run, which
hides a change of a few percent on the message path. Instruction counts do
not: ``valgrind --tool=callgrind`` counts what a process executed whatever
else the machine does. This script runs daphne and one ``runworker`` (the
reliability test project on a private redis-server) each under callgrind,
zeroes their counters once both serve (``callgrind_control --zero``), drives
``--count`` sequential WebSocket echo round trips, then ``--count`` HTTP
requests to a Django view, dumping the counters after each, and prints
instructions per operation for each process.

``--shards N`` puts the layer on N private redis-servers (client-side
shards) instead of one, for the sharded paths.

``--tree`` names other checkouts (e.g. a ``git worktree`` of an older
commit) to measure the same way in the same run; each runs with that tree
first on ``PYTHONPATH`` and the interpreter of this one. The table gives
their counts and the ratio to the first tree.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from tests.support.redis import RedisServer, free_port  # noqa: E402

ASGI = "tests.reliability.project.asgi:channel_layer"


def _callgrind(out: Path) -> list[str]:
    return ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--dump-instr=no"]


def _total(path: Path) -> int:
    """The instruction total of one callgrind dump (its ``summary:`` or ``totals:`` line)."""
    for line in path.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {path}")


def _dump(pid: int, directory: Path, stem: str) -> int:
    """Dump ``pid``'s counters since the last zero/dump and return their instruction total."""
    before = set(directory.glob(f"{stem}*"))
    subprocess.run(["callgrind_control", "--dump", str(pid)], check=True, capture_output=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        new = sorted(set(directory.glob(f"{stem}*")) - before)
        if new:
            time.sleep(0.5)  # the dump is written in one go, but give it the moment
            return _total(new[-1])
        time.sleep(0.2)
    raise RuntimeError(f"callgrind wrote no dump for {pid}")


def _wait_serving(base: str, log: Path) -> None:
    deadline = time.monotonic() + 300
    while True:
        try:
            if httpx.get(f"http://{base}/hello/", timeout=30).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(log.read_text()[-3000:])
        time.sleep(1)


def _echo(base: str, count: int, zero) -> None:
    """Warm the path, call ``zero()``, then ``count`` sequential round trips."""
    with connect(f"ws://{base}/echo/w/", open_timeout=60) as ws:
        for _ in range(20):
            ws.send("warm")
            ws.recv(timeout=60)
        zero()
        for n in range(count):
            ws.send(f"frame {n}")
            if ws.recv(timeout=60) != f"frame {n}":
                raise RuntimeError("echo mismatch")


def _http(base: str, count: int) -> None:
    with httpx.Client(timeout=60) as client:
        for _ in range(count):
            if client.get(f"http://{base}/hello/").status_code != 200:
                raise RuntimeError("HTTP request failed")
    # the http.disconnect that follows each response reaches the worker a moment later
    time.sleep(2)


def measure(tree: Path, hosts: list[str], count: int) -> dict[str, dict[str, float]]:
    directory = Path(tempfile.mkdtemp(prefix="instructions-"))
    port = free_port()
    env = dict(os.environ)
    env.pop("REDIS_URL", None)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.reliability.project.settings",
        PYTHONPATH=str(tree),
        REL_REDIS_HOSTS=",".join(hosts),
        REL_PREFIX=f"ins{port}:",
    )
    commands = {
        "daphne": [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), ASGI],
        "worker": [sys.executable, "-m", "django", "runworker", "-v", "0"],
    }
    log_path = directory / "processes.log"
    with open(log_path, "w") as log:
        processes = {
            name: subprocess.Popen(
                _callgrind(directory / f"{name}.out") + command,
                cwd=tree, env=env, stdout=log, stderr=log,
            )
            for name, command in commands.items()
        }  # fmt: skip

        def zero() -> None:
            for process in processes.values():
                subprocess.run(
                    ["callgrind_control", "--zero", str(process.pid)],
                    check=True,
                    capture_output=True,
                )

        def dump() -> dict[str, float]:
            return {
                name: _dump(process.pid, directory, f"{name}.out") / count
                for name, process in processes.items()
            }

        try:
            base = f"127.0.0.1:{port}"
            _wait_serving(base, log_path)
            _echo(base, count, zero)
            result = {"echo": dump()}
            _http(base, count)
            result["http"] = dump()
            return result
        finally:
            for process in processes.values():
                process.terminate()
            for process in processes.values():
                try:
                    process.wait(120)
                except subprocess.TimeoutExpired:
                    process.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500, help="round trips / requests")
    parser.add_argument("--shards", type=int, default=1, help="redis-servers the layer shards over")
    parser.add_argument("--tree", action="append", default=[], help="another checkout")
    args = parser.parse_args()
    for tool in ("valgrind", "callgrind_control"):
        if subprocess.run(["which", tool], capture_output=True).returncode:
            parser.error(f"{tool} is not on PATH (Debian: apt-get install valgrind)")
    trees = [ROOT, *(Path(t).resolve() for t in args.tree)]
    results = []
    servers = [RedisServer().start() for _ in range(args.shards)]
    try:
        for tree in trees:
            results.append((tree, measure(tree, [s.url for s in servers], args.count)))
            print(f"{tree}: {results[-1][1]}", file=sys.stderr, flush=True)
    finally:
        for server in servers:
            server.cleanup()
    first = results[0][1]
    print("| tree | workload | daphne instr/op | worker instr/op | ratio daphne | ratio worker |")
    print("|---|---|---|---|---|---|")
    for tree, result in results:
        label = re.sub(r"^/work/", "", str(tree))
        for workload, counts in result.items():
            ratios = [counts[k] / first[workload][k] for k in ("daphne", "worker")]
            print(
                f"| {label} | {workload} | {counts['daphne']:,.0f} | {counts['worker']:,.0f} "
                f"| {ratios[0]:.3f} | {ratios[1]:.3f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
