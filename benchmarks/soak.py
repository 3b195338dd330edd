"""Soak benchmark: ten minutes of mixed load under chaos (issue "Reliability 2", item 10).

    python benchmarks/soak.py [--seconds 600] [--workers 2] [--seed 1] [--chaos-every 30]
                              [--no-chaos] [--maxmemory 64mb] [--settle 90]
                              [--rss-samples FILE]

Starts a private redis-server (``maxmemory``, ``noeviction``), daphne
(``-t 10 --websocket_timeout -1``) and runworker processes (the reliability test project), and drives
them with ``tests.support.soak.run_soak``: HTTP requests, WebSocket echoes,
group broadcasts, WebSocket connect/close churn and long-polls. Meanwhile a
seeded chaos loop (``tests.support.chaos.ChaosLoop``) kills and restarts a
worker, restarts Redis, and fills Redis to ``maxmemory`` then frees it.

Prints the report: requests by status, WebSocket disconnects sent by the
clients vs received by the consumers (lost ones during Redis outages apart
from the rest), RSS of each process at start and end, Redis keys at start and
end, the chaos events with their times, and the targets. Exits 1 if a target
is missed: a disconnect lost outside a Redis outage, RSS growth of 5 % or
more after warm-up, more keys at the end than at the start (after up to
``--settle`` seconds for what the outages left to expire), or an answer
other than 200 outside outages and worker kills; or if a process did not
exit 0 when stopped at the end. CI runs short
versions (tests/reliability/test_soak.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.chaos import ChaosLoop
from tests.support.redis import RedisServer
from tests.support.soak import run_soak
from tests.support.stack import Stack


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1, help="seed of the chaos loop")
    parser.add_argument(
        "--chaos-every", type=float, default=30, help="mean seconds between chaos events"
    )
    parser.add_argument("--no-chaos", action="store_true", help="mixed load only")
    parser.add_argument("--maxmemory", default="64mb", help="Redis maxmemory (the fill's limit)")
    parser.add_argument(
        "--settle", type=float, default=90, help="seconds to wait for leftover keys to expire"
    )
    parser.add_argument(
        "--rss-samples",
        metavar="FILE",
        help="also write every RSS sample (KiB, every 10 s) as JSON",
    )
    args = parser.parse_args()
    redis_args = ("--maxmemory", args.maxmemory, "--maxmemory-policy", "noeviction")
    with RedisServer(*redis_args) as redis:
        stack = Stack(
            [redis.url],
            workers=args.workers,
            # the group expiry is short so that what outages leave goes within
            # --settle; daphne's WebSocket timeout would follow it without -1
            daphne_args=("-t", "10", "--websocket_timeout", "-1"),
            env={"REL_GROUP_EXPIRY": "30"},
        ).start()
        chaos = None
        if not args.no_chaos:
            chaos = ChaosLoop(stack, redis, seed=args.seed, every=args.chaos_every)
        try:
            report = run_soak(
                stack, redis.url, args.seconds, sample_every=10, chaos=chaos, settle=args.settle
            )
        finally:
            codes = stack.stop()
    print(report.report())
    if args.rss_samples:
        Path(args.rss_samples).write_text(json.dumps(report.rss_kib, indent=1))
    print(f"\nExit codes: {codes}")
    # a process that did not stop cleanly at the end fails the run too
    return 0 if all(report.targets().values()) and not any(codes.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
