"""A Redis that refuses writes (OOM, READONLY, MISCONF, LOADING) is an outage:
``RedisUnavailable`` naming the refusal, and sends work again once it accepts
writes, without a new layer. Each state is a real redis-server in it."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from asgi_redis import RedisChannelLayer, RedisCommandError, RedisUnavailable, RedisWritesRefused
from tests.support.redis_refusals import REFUSALS

pytestmark = pytest.mark.integration


def refused_send(layer, reply, timeout=10.0):
    """The RedisUnavailable of a send refused with ``reply`` (a restart's
    dropped connection may come first)."""
    deadline = time.monotonic() + timeout
    while True:
        with pytest.raises(RedisUnavailable) as caught:
            layer.send("refused.chan", {"n": 0})
        if reply in str(caught.value) or time.monotonic() > deadline:
            return caught.value
        time.sleep(0.05)


@pytest.mark.parametrize("refusal_class", REFUSALS, ids=lambda cls: cls.reply)
def test_a_redis_refusing_writes_raises_redis_unavailable_then_recovers(
    make_redis_server, refusal_class
):
    refusal = refusal_class(make_redis_server)
    server = make_redis_server(*refusal.server_args)
    layer = RedisChannelLayer(hosts=[server.url], prefix="refused:")
    layer.send("refused.chan", {"n": 1})
    assert layer.receive(["refused.chan"])[1] == {"n": 1}

    refusal.begin(server)
    error = refused_send(layer, refusal.reply)
    assert str(error).startswith(f"Redis at {server.url} ")
    assert refusal.reply in str(error)
    (batch_error,) = layer.send_batch([("refused.chan", {"n": 2})])
    assert isinstance(batch_error, RedisUnavailable)

    if refusal.reply in ("OOM", "MISCONF"):
        # still what these replies raised before, for code that catches it
        assert isinstance(error, RedisWritesRefused)
        assert isinstance(error, RedisCommandError) and isinstance(error, redis.ResponseError)

    refusal.end(server)
    layer.send("refused.chan", {"n": 3})
    assert layer.receive(["refused.chan"])[1] == {"n": 3}


def test_a_blocking_receive_cut_short_by_a_demotion_raises_redis_unavailable(make_redis_server):
    server, master = make_redis_server(), make_redis_server()
    layer = RedisChannelLayer(hosts=[server.url], prefix="refused:")
    outcome = []

    def receive():
        try:
            outcome.append(layer.receive(["refused.blocked"], block=True))
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            outcome.append(exc)

    receiver = threading.Thread(target=receive)
    receiver.start()
    time.sleep(0.3)  # blocked in BLPOP by now
    redis.Redis(host="127.0.0.1", port=server.port).replicaof("127.0.0.1", master.port)
    receiver.join(10)
    (error,) = outcome
    assert isinstance(error, RedisUnavailable)
    assert "UNBLOCKED" in str(error) and str(error).startswith(f"Redis at {server.url} ")
