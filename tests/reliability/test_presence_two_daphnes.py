"""Presence and acknowledged sends across two daphne processes on one real
Redis: each socket sees the other join, a request and an ack make their
round trips, and when one daphne is SIGKILLed its member is reported gone
within the lease time (the lease janitor sends the disconnect, the
consumer leaves the presence).

See docs/topics/realtime.rst.
"""

from __future__ import annotations

import contextlib
import json
import time

import pytest
import redis
from websockets.sync.client import connect

from asgi._leases import REAP_INTERVAL
from asgi_redis import RedisChannelLayer
from channels.presence import Presence

pytestmark = pytest.mark.integration

LEASE_TTL = 2


def leased(client: redis.Redis, prefix: str) -> int:
    """How many sockets the daphnes' leases list."""
    return sum(client.hlen(key) for key in client.keys(f"{prefix}lease:*"))


def next_frame(ws, wanted, timeout: float = 15.0) -> dict:
    """The first JSON frame for which ``wanted(frame)`` is true (others are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("the expected frame never came")
        frame = json.loads(ws.recv(timeout=left))
        if wanted(frame):
            return frame


def test_presence_requests_and_acks_across_two_daphnes_and_a_sigkilled_one(make_stack, redis_url):
    stack = make_stack(
        [redis_url],
        workers=1,
        daphne_args=("--lease-ttl", str(LEASE_TTL), "-t", "30"),
        env={"REL_PRESENCE": "1"},
    )
    second, port = stack.start_another_daphne()
    try:
        with contextlib.ExitStack() as sockets:
            ann = sockets.enter_context(
                connect(stack.ws_url + "/presence/lobby/?ann", open_timeout=20)
            )
            state = next_frame(ann, lambda f: "state" in f)
            assert list(state["state"]) == ["ann"]
            bob = sockets.enter_context(
                connect(f"ws://127.0.0.1:{port}/presence/lobby/?bob", open_timeout=20)
            )
            state = next_frame(bob, lambda f: "state" in f)
            assert sorted(state["state"]) == ["ann", "bob"]
            joined = next_frame(ann, lambda f: "bob" in f.get("joins", {}))
            assert joined["presence"] == "room-lobby"
            # and the other way: a join on the first daphne reaches bob on the second
            sockets.enter_context(
                connect(stack.ws_url + "/presence/lobby/?cyd", open_timeout=20)
            ).close()
            next_frame(bob, lambda f: "cyd" in f.get("joins", {}))
            next_frame(bob, lambda f: "cyd" in f.get("leaves", {}))

            # a client request answered through the other daphne's worker
            ann.send(json.dumps({"request": "q1", "payload": {"n": 1}}))
            assert next_frame(ann, lambda f: "reply" in f) == {
                "reply": "q1",
                "payload": {"echo": {"n": 1}},
            }
            # a server send acknowledged by a client on the second daphne
            bob.send(json.dumps({"ask": "x"}))
            asked = next_frame(bob, lambda f: "ack_request" in f)
            assert asked["payload"] == {"asked": "x"}
            bob.send(json.dumps({"ack": asked["ack_request"]}))
            deadline = time.monotonic() + 15
            wanted = f"ack {asked['ack_request']} ok"
            while wanted not in stack.events() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert wanted in stack.events(), stack.logs()

            # both daphnes' leases list their socket before the kill
            client = redis.Redis.from_url(redis_url)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and leased(client, stack.prefix) != 2:
                time.sleep(0.1)
            assert leased(client, stack.prefix) == 2, stack.logs()  # ann's and bob's

            second.kill()  # SIGKILL: bob's socket gets no goodbye
            killed = time.monotonic()
            limit = LEASE_TTL + REAP_INTERVAL + 5
            try:
                left = next_frame(ann, lambda f: "bob" in f.get("leaves", {}), timeout=limit)
            except (AssertionError, TimeoutError):
                raise AssertionError(f"no leave for bob:\n{stack.logs()}") from None
            elapsed = time.monotonic() - killed
            assert left["leaves"]["bob"]["metas"][0]["user"] == "bob"
            assert elapsed < limit

            layer = RedisChannelLayer(hosts=[redis_url], prefix=stack.prefix)
            assert list(Presence("room-lobby", channel_layer=layer).list()) == ["ann"]
    finally:
        second.kill()
