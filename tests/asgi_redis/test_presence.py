"""The Redis layer's ``presence`` extension beyond the conformance suite:
every key it writes expires, metas are encrypted like messages, and
concurrent reapers each get a member at most once (real Redis)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from asgi_redis import RedisChannelLayer
from asgi_redis._presence import PRESENCE_GRACE

pytestmark = pytest.mark.integration


@pytest.fixture
def layer(redis_url):
    layer = RedisChannelLayer(hosts=[redis_url], prefix="prestest:", stats_prefix="")
    layer.flush()
    yield layer
    layer.flush()
    layer.close()


def test_both_keys_of_a_presence_expire_a_grace_after_the_latest_deadline(layer, redis_url):
    layer.presence_join("room", "a!x", {"user": "ann"}, 5)
    client = redis.Redis.from_url(redis_url)
    keys = client.keys("prestest:presence*")
    assert sorted(keys) == [b"prestest:presence-meta:room", b"prestest:presence:room"]
    for key in keys:
        assert 0 < client.pttl(key) <= (5 + PRESENCE_GRACE) * 1000
    layer.presence_touch("room", "a!x", 30)
    for key in keys:
        assert (5 + PRESENCE_GRACE) * 1000 < client.pttl(key) <= (30 + PRESENCE_GRACE) * 1000


def test_metas_are_encrypted_with_the_layers_keys(redis_url):
    layer = RedisChannelLayer(
        hosts=[redis_url], prefix="prestestenc:", stats_prefix="", symmetric_encryption_keys=["k"]
    )
    try:
        layer.presence_join("room", "a!x", {"user": "secret-name"}, 30)
        stored = redis.Redis.from_url(redis_url).hget("prestestenc:presence-meta:room", "a!x")
        assert b"secret-name" not in stored
        assert layer.presence_members("room") == {"a!x": {"user": "secret-name"}}
    finally:
        layer.flush()
        layer.close()


def test_concurrent_reapers_each_get_an_expired_member_once(layer):
    for i in range(50):
        layer.presence_join("crowd", f"a!{i}", {"n": i}, 0.2)
    time.sleep(0.3)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: layer.presence_reap("crowd"), range(8)))
    reaped = [channel for result in results for channel in result]
    assert sorted(reaped) == sorted(f"a!{i}" for i in range(50))
