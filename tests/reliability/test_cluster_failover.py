"""A real daphne and worker on a Redis Cluster whose master holding
daphne's inbox is SIGKILLed under HTTP load: daphne answers 503 while the
cluster fails over (never a 500, never a hang past its HTTP timeout), and
serves again within 5 s of the replica's promotion, with no restart."""

from __future__ import annotations

import re
import threading
import time

import httpx
import pytest

from asgi_redis import RedisClusterChannelLayer

pytestmark = pytest.mark.integration


def _daphne_inbox(cluster) -> str:
    """daphne's inbox name, from the statistics keys the worker wrote after
    a request (a process writes its counts within about a second)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for node in cluster.master_nodes():
            with cluster.client(node) as client:
                for key in client.scan_iter(match="*daphne.response.*"):
                    match = re.search(rb"(daphne\.response\.[A-Za-z]+!)", key)
                    if match:
                        return match.group(1).decode()
        time.sleep(0.1)
    raise AssertionError("daphne's inbox not found in the cluster")


def test_daphne_answers_503_during_a_failover_and_recovers(make_redis_cluster, make_stack):
    cluster = make_redis_cluster(node_timeout=1000)
    hosts = [f"redis://127.0.0.1:{node.port}/0" for node in cluster.nodes]
    stack = make_stack(
        hosts,
        workers=1,
        daphne_args=("-t", "3"),
        env={"REL_BACKEND": "asgi_redis.RedisClusterChannelLayer"},
    )
    assert httpx.get(stack.url + "/hello/", timeout=10).status_code == 200
    layer = RedisClusterChannelLayer(hosts=hosts[:1])
    slot = layer._shards[layer.consistent_hash(_daphne_inbox(cluster))].slot
    layer.close()
    victim = cluster.master_of(slot)

    answers: list[tuple[float, float, object]] = []  # (started, finished, status or error)
    running = threading.Event()
    running.set()

    def load() -> None:
        with httpx.Client(timeout=10) as client:
            while running.is_set():
                started = time.monotonic()
                try:
                    outcome: object = client.get(stack.url + "/hello/").status_code
                except httpx.HTTPError as exc:
                    outcome = exc
                answers.append((started, time.monotonic(), outcome))
                time.sleep(0.02)

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    try:
        time.sleep(0.5)
        killed = time.monotonic()
        victim.kill()
        deadline = time.monotonic() + 15
        while cluster.master_of(slot) is victim:
            assert time.monotonic() < deadline, "the replica was not promoted"
            time.sleep(0.02)
        promoted = time.monotonic()
        time.sleep(6.5)
    finally:
        running.clear()
        thread.join(15)

    # the requests in flight at some time of the outage (the load is
    # sequential: the one caught by the kill may last past the promotion)
    during = [
        outcome
        for started, finished, outcome in answers
        if started < promoted and finished > killed
    ]
    recovered = min(
        finished for started, finished, outcome in answers if started >= promoted and outcome == 200
    )
    late = [outcome for started, _, outcome in answers if started >= promoted + 5]
    print(
        f"\ncluster failover under daphne: promoted {promoted - killed:.2f} s after the kill; "
        f"answers meanwhile: {sorted(map(str, set(during)))} ({len(during)} requests); "
        f"200 again {recovered - promoted:.2f} s after the promotion"
    )
    assert 503 in during, during
    assert {outcome for _, _, outcome in answers} <= {200, 503}, answers
    assert all(finished - started < 3 + 2 for started, finished, _ in answers)
    assert recovered - promoted < 5
    assert late and set(late) == {200}, late
    assert all(process.alive() for process in [stack.daphne, *stack.workers]), stack.logs()
