"""One Redis shard of three lost: the failure stays with the channels on that shard at the
layer, no process exits, the logs name the shard, and service resumes when it returns."""

from __future__ import annotations

import re
import time
import uuid

import httpx
import pytest
import redis as redis_py
from websockets.sync.client import connect

from asgi_redis import RedisChannelLayer
from asgi_redis.exceptions import RedisUnavailable

pytestmark = pytest.mark.integration


def test_only_the_process_channels_on_the_lost_shard_fail_and_they_fail_promptly(redis_shards):
    # Process-specific channels (reply channels, inboxes) live on the one
    # shard their name hashes to. (Normal channels such as http.request are
    # spread over every shard, so losing one fails a share of their sends and
    # every receive that watches it until the shard returns.)
    layer = RedisChannelLayer(
        hosts=[s.url for s in redis_shards], prefix=f"ls{uuid.uuid4().hex[:8]}:"
    )
    names = [f"test{n}.inbox!client" for n in range(30)]
    lost = 1
    redis_shards[lost].kill()
    healthy = [n for n in names if layer.consistent_hash(layer.non_local_name(n)) != lost]
    doomed = [n for n in names if layer.consistent_hash(layer.non_local_name(n)) == lost]
    assert healthy and doomed
    for name in healthy:
        layer.send(name, {"n": name})
        inbox = layer.non_local_name(name)
        assert layer.receive([inbox], block=False) == (name, {"n": name})
    for name in doomed:
        started = time.monotonic()
        with pytest.raises(RedisUnavailable) as raised:
            layer.send(name, {"n": name})
        assert time.monotonic() - started < 5
        assert f"127.0.0.1:{redis_shards[lost].port}" in str(raised.value)


def daphne_inbox(shards) -> str:
    """daphne's inbox name, found among the statistics keys the worker wrote
    after a request (a process writes its counts within about a second)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for shard in shards:
            client = redis_py.Redis.from_url(shard.url)
            for key in client.scan_iter(match="*daphne.response.*"):
                match = re.search(rb"(daphne\.response\.[A-Za-z]+!)", key)
                if match:
                    client.close()
                    return match.group(1).decode()
            client.close()
        time.sleep(0.1)
    raise AssertionError("daphne's inbox not found in Redis")


def test_losing_a_shard_without_daphnes_inbox_keeps_the_stack_serving(redis_shards, make_stack):
    layer = RedisChannelLayer(hosts=[s.url for s in redis_shards])
    stack = make_stack([s.url for s in redis_shards], workers=2, daphne_args=("-t", "10"))
    inbox_shard = layer.consistent_hash(daphne_inbox(redis_shards))
    lost = next(i for i in range(3) if i != inbox_shard)
    redis_shards[lost].kill()
    statuses = [httpx.get(stack.url + "/hello/", timeout=30).status_code for _ in range(20)]
    with connect(stack.ws_url + "/echo/shard/", open_timeout=15) as ws:
        ws.send("still here")
        assert ws.recv(timeout=15) == "still here"
    # Normal channels leave the lost shard out; at most the first few
    # messages that raced the detection are lost.
    assert statuses[-10:] == [200] * 10, statuses
    assert all(p.alive() for p in [stack.daphne, *stack.workers]), stack.logs()
    assert f"127.0.0.1:{redis_shards[lost].port}" in stack.logs()


def test_losing_daphnes_inbox_shard_gives_503s_then_resumes_when_it_returns(
    redis_shards, make_stack
):
    layer = RedisChannelLayer(hosts=[s.url for s in redis_shards])
    stack = make_stack([s.url for s in redis_shards], workers=2, daphne_args=("-t", "4"))
    lost = layer.consistent_hash(daphne_inbox(redis_shards))
    redis_shards[lost].kill()
    answers = []
    for _ in range(3):
        started = time.monotonic()
        status = httpx.get(stack.url + "/hello/", timeout=30).status_code
        answers.append((status, time.monotonic() - started))
    redis_shards[lost].start()
    restarted = time.monotonic()
    while time.monotonic() - restarted < 30:
        if httpx.get(stack.url + "/hello/", timeout=30).status_code == 200:
            break
    recovery = time.monotonic() - restarted
    print(f"\nwith daphne's inbox shard down: {answers}; resumed {recovery:.2f}s after it returned")

    # The replies to this daphne had nowhere to go: 503 within the HTTP timeout.
    assert all(status == 503 and seconds < 10 for status, seconds in answers), answers
    assert all(p.alive() for p in [stack.daphne, *stack.workers]), stack.logs()
    assert f"127.0.0.1:{redis_shards[lost].port}" in stack.logs()
    assert recovery < 30
    assert httpx.get(stack.url + "/hello/", timeout=30).status_code == 200
