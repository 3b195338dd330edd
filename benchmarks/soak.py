"""Soak benchmark: mixed HTTP, WebSocket echo and group traffic for ten minutes (issue 9).

    /work/venv/bin/python benchmarks/soak.py [--seconds 600] [--workers 2]

Starts a private redis-server, daphne and runworker processes (the
reliability test project), drives them with ``tests.support.soak.run_soak``
and prints the report: requests, echoes and group messages with their
failures, daphne and worker RSS over the run, and the Redis key count before
and after. Exits 1 if anything failed, memory grew by more than 32 MiB after
warm-up, or keys were left behind. CI runs a 20-second version
(tests/reliability/test_soak.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.redis import RedisServer  # noqa: E402
from tests.support.soak import run_soak  # noqa: E402
from tests.support.stack import Stack  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with RedisServer() as redis:
        stack = Stack([redis.url], workers=args.workers).start()
        try:
            report = run_soak(stack, redis.url, args.seconds, sample_every=10)
        finally:
            codes = stack.stop()
    print(report.summary())
    for name, samples in report.rss_kib.items():
        print(f"  RSS {name}: " + " ".join(str(s) for s in samples))
    print(f"  exit codes: {codes}")
    grew = {n: max(s) - s[1] for n, s in report.rss_kib.items() if len(s) > 1}
    ok = (
        not report.http_failures
        and not report.ws_dropped
        and not report.group_errors
        and report.group_received == [report.group_sent] * len(report.group_received)
        and report.keys_after <= report.keys_before
        and all(growth < 32 * 1024 for growth in grew.values())
        and all(code == 0 for code in codes.values())
    )
    print("OK" if ok else f"FAILED (RSS growth after warm-up, KiB: {grew})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
