#!/usr/bin/env python
"""What group history costs a group send on the Redis layer.

    python benchmarks/history_bench.py              # starts its own redis-server
    python benchmarks/history_bench.py --sends 500 --no-valgrind

A fixed layer-level workload, run once with plain ``send_group`` and once
with ``send_group_history`` (size 100, ttl 300): ``--sends`` (2,000) group
sends of the same ~200-byte text frame to a ``--members`` (100) member
group, whose members are reply channels of ``--inboxes`` (1) processes,
as in the fan-out workload of shared/bench (100 sockets on one daphne).

It reports, per mode:

* client instructions per send: ``valgrind --tool=callgrind`` counts the
  instructions of the sending process; a run with no sends (same start-up,
  connection and warm-up) is subtracted, so what is left is the sends alone.
  Instruction counts do not depend on the other load of a shared machine
  (the client runs with ``spin_wait=0``, so it does not poll for replies);
* server time per send: the ``usec`` total of EVALSHA in ``INFO
  commandstats`` (a script's time includes its commands), median of ``--repeat`` runs
  without valgrind; Redis measures it, so it is noisier;
* calls per send: EVALSHA calls the server saw, divided by the sends (one
  round trip per shard per send, the history on or off);
* sends/s of the runs without valgrind (wall clock; noisy on a shared machine).

The loss is history over plain minus one; the target is under 20 %.
Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from asgi._history import OFFSET_MARK
from asgi_redis import RedisChannelLayer

GROUP = "news"
HISTORY_SIZE = 100
HISTORY_TTL = 300
TARGET_LOSS = 0.20

#: The frame channels sends for a history group (channels/_history.py builds
#: it the same way); the plain run sends the same bytes.
FRAME = {
    "text": '{"history":{"group":"news","offset":'
    + OFFSET_MARK
    + '},"text":"'
    + '{\\"line\\": \\"the quick brown fox jumps over the lazy dog\\"}' * 3
    + '"}'
}


# -- the measured process ---------------------------------------------------------------


def child(mode: str, sends: int, url: str, prefix: str, members: int, inboxes: int) -> None:
    """Join the members, warm up (the script is loaded), then do ``sends`` sends."""
    # spin_wait=0: the client sleeps on its socket at once instead of
    # polling it for the reply, so its instructions count its work, not
    # how long the server took (which the server figures report).
    layer = RedisChannelLayer(
        hosts=[url], prefix=prefix, stats_prefix="", capacity=10**6, spin_wait=0
    )
    for n in range(members):
        layer.group_add(GROUP, f"daphne.response.p{n % inboxes}!m{n}")
    send = _sender(layer, mode)
    send()
    layer.connection(0).config_resetstat()  # the server figures count the sends alone
    started = time.perf_counter()
    for _ in range(sends):
        send()
    elapsed = time.perf_counter() - started
    print(json.dumps({"elapsed": elapsed}))
    layer.close()


def _sender(layer: RedisChannelLayer, mode: str):
    if mode == "history":
        return lambda: layer.send_group_history(GROUP, FRAME, HISTORY_SIZE, HISTORY_TTL)
    return lambda: layer.send_group(GROUP, FRAME)


# -- the driver -------------------------------------------------------------------------


class PrivateRedis:
    """A private redis-server (``tests.support.redis.RedisServer``) with the
    statistics this benchmark reads."""

    def __init__(self) -> None:
        import redis

        from tests.support.redis import RedisServer

        self.server = RedisServer().start()
        self.url = self.server.url
        self.client = redis.Redis.from_url(self.url)

    def reset(self) -> None:
        self.client.flushall()
        self.client.config_resetstat()

    def script_stats(self) -> tuple[int, int]:
        """(EVALSHA calls, their usec). A script's usec includes the commands
        it ran (they are also listed on their own; adding them would count
        them twice), and the sends run nothing but EVALSHA."""
        evalsha = self.client.info("commandstats").get("cmdstat_evalsha", {})
        return evalsha.get("calls", 0), evalsha.get("usec", 0)

    def stop(self) -> None:
        self.client.close()
        self.server.stop()
        self.server.cleanup()


def run_child(args, redis: PrivateRedis, mode: str, sends: int, valgrind: bool) -> dict:
    """Run the workload in a new process; its timing, instructions and server stats."""
    redis.reset()
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--child", mode, str(sends), redis.url, "bench:",
        "--members", str(args.members), "--inboxes", str(args.inboxes),
    ]  # fmt: skip
    out_file = None
    if valgrind:
        out_file = tempfile.mktemp(prefix="callgrind-", suffix=".out")
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}", *command]
    env = dict(os.environ, PYTHONHASHSEED="0")
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800, env=env)
    if done.returncode != 0:
        raise SystemExit(f"the {mode} run failed:\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["calls"], result["usec"] = redis.script_stats()
    if out_file is not None:
        result["instructions"] = _callgrind_total(out_file)
        os.unlink(out_file)
    return result


def _callgrind_total(path: str) -> int:
    with open(path) as results:
        for line in results:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise SystemExit(f"no instruction total in {path}")


def measure(args, redis: PrivateRedis, mode: str) -> dict:
    figures: dict = {"mode": mode}
    runs = [run_child(args, redis, mode, args.sends, False) for _ in range(args.repeat)]
    figures["calls_per_send"] = statistics.median(r["calls"] for r in runs) / args.sends
    figures["server_usec_per_send"] = statistics.median(r["usec"] for r in runs) / args.sends
    figures["sends_per_s"] = statistics.median(args.sends / r["elapsed"] for r in runs)
    if not args.no_valgrind:
        base = run_child(args, redis, mode, 0, True)["instructions"]
        full = run_child(args, redis, mode, args.sends, True)["instructions"]
        figures["client_instructions_per_send"] = (full - base) / args.sends
    return figures


def loss(history: float, plain: float) -> str:
    return f"{(history / plain - 1) * 100:+.1f} %"


def report(args, plain: dict, history: dict) -> None:
    rows = [
        ("client instructions / send", "client_instructions_per_send", "{:,.0f}"),
        ("server usec / send (commandstats)", "server_usec_per_send", "{:.1f}"),
        ("EVALSHA calls / send", "calls_per_send", "{:.2f}"),
        ("sends/s (wall, noisy)", "sends_per_s", "{:,.0f}"),
    ]
    print(
        f"{args.sends} group sends to {args.members} members in {args.inboxes} process "
        f"inbox(es); history size {HISTORY_SIZE}, ttl {HISTORY_TTL}s\n"
    )
    print(f"| {'figure':<36} | {'plain':>12} | {'history':>12} | {'loss':>9} |")
    print(f"|{'-' * 38}|{'-' * 14}|{'-' * 14}|{'-' * 11}|")
    for title, key, fmt in rows:
        if key not in plain:
            continue
        change = loss(history[key], plain[key])
        if key == "sends_per_s":
            change = loss(plain[key], history[key])
        print(
            f"| {title:<36} | {fmt.format(plain[key]):>12} | "
            f"{fmt.format(history[key]):>12} | {change:>9} |"
        )
    print()
    print(json.dumps({"plain": plain, "history": history, "target_loss": TARGET_LOSS}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sends", type=int, default=2000)
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--inboxes", type=int, default=1, help="processes the members are in")
    parser.add_argument("--repeat", type=int, default=3, help="runs without valgrind per mode")
    parser.add_argument("--no-valgrind", action="store_true", help="skip the instruction counts")
    parser.add_argument("--child", nargs=4, metavar=("MODE", "SENDS", "URL", "PREFIX"))
    args = parser.parse_args()
    if args.child:
        mode, sends, url, prefix = args.child
        child(mode, int(sends), url, prefix, args.members, args.inboxes)
        return
    if not args.no_valgrind and shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind), or --no-valgrind")
    redis = PrivateRedis()
    try:
        plain = measure(args, redis, "plain")
        history = measure(args, redis, "history")
    finally:
        redis.stop()
    report(args, plain, history)


if __name__ == "__main__":
    main()
