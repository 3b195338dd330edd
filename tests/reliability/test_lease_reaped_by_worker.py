"""A daphne killed with SIGKILL while the only survivor is a ``runworker``:
the worker reaps the lease and handles its sockets' disconnects itself
(real daphne, real worker process, real Redis)."""

from __future__ import annotations

import contextlib
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from websockets.sync.client import connect

from asgi._leases import REAP_INTERVAL

pytestmark = pytest.mark.integration

SOCKETS = 60
LEASE_TTL = 3


def disconnects(stack) -> set[str]:
    return {line.split(" ", 1)[1] for line in stack.events() if line.startswith("disconnect ")}


def test_a_worker_alone_sends_and_handles_a_sigkilled_daphnes_disconnects(make_stack, redis_url):
    stack = make_stack(
        [redis_url], workers=1, daphne_args=("--lease-ttl", str(LEASE_TTL), "-t", "30")
    )
    paths = [f"/echo/lease{i}/" for i in range(SOCKETS)]
    with contextlib.ExitStack() as clients, ThreadPoolExecutor(16) as pool:
        opened = pool.map(lambda path: connect(stack.ws_url + path, open_timeout=30), paths)
        sockets = [clients.enter_context(ws) for ws in opened]
        for ws in sockets:  # every socket is open and served
            ws.send("hi")
            assert ws.recv(timeout=15) == "hi"

        # the lease lists every socket before the kill
        client = redis.Redis.from_url(redis_url)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            keys = client.keys(f"{stack.prefix}lease:*")
            if keys and client.hlen(keys[0]) == SOCKETS:
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"the lease never listed {SOCKETS} sockets:\n{stack.logs()}")
        assert disconnects(stack) == set()

        stack.daphne.kill()  # SIGKILL: no goodbye, no daphne left
        killed = time.monotonic()
        limit = LEASE_TTL + REAP_INTERVAL + 5
        while time.monotonic() - killed < limit and disconnects(stack) != set(paths):
            time.sleep(0.1)
        elapsed = time.monotonic() - killed

    got = [line for line in stack.events() if line.startswith("disconnect ")]
    assert disconnects(stack) == set(paths), (elapsed, stack.logs())
    assert len(got) == SOCKETS  # once each
    assert elapsed < limit
    stack.workers[0].wait_for_output(
        f"Sent {SOCKETS} disconnects for the sockets of daphne.response."
    )
    # the lease is gone, so nothing is sent a second time
    assert client.keys(f"{stack.prefix}lease:*") == []
    time.sleep(REAP_INTERVAL + 1)
    assert len([line for line in stack.events() if line.startswith("disconnect ")]) == SOCKETS
