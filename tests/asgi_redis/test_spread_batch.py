"""Batches over several shards: a message to a normal channel spread over
the shards rides in its shard's pipeline (one write per shard, not one
round trip per message), its shard's share of the capacity holds, and what
its shard refuses or cannot take goes to the others, on the blocking path
and on the reactor."""

from __future__ import annotations

import time

import pytest
import redis

from asgi_redis import RedisChannelLayer
from tests.asgi_redis.test_reactor_io import on, settle

pytestmark = pytest.mark.integration


@pytest.fixture
def two_shards(make_redis_server):
    servers = [make_redis_server() for _ in range(2)]
    layers = []

    def make(**options):
        options.setdefault("prefix", "spb:")
        layer = RedisChannelLayer(hosts=[server.url for server in servers], **options)
        layers.append(layer)
        return layer

    yield servers, make
    for layer in layers:
        layer.close()


def lengths(servers, key):
    found = []
    for server in servers:
        with redis.Redis.from_url(server.url) as client:
            found.append(client.llen(key))
    return found


def received(layer, channel, count):
    got = []
    for _ in range(count):
        name, message = layer.receive([channel], block=True)
        assert name == channel, f"only {len(got)} of {count} arrived"
        got.append(message["n"])
    return sorted(got)


def count_writes(monkeypatch):
    from asgi_redis._link import Link

    writes = []
    real_write = Link.write
    monkeypatch.setattr(
        Link, "write", lambda link, data: writes.append(data) or real_write(link, data)
    )
    return writes


def test_a_spread_batch_is_one_write_per_shard_split_evenly(two_shards, monkeypatch):
    servers, make = two_shards
    layer = make()
    layer.send_batch([("spb.warm", {"n": n}) for n in range(2)])  # dials, reads the clocks
    writes = count_writes(monkeypatch)
    outcome = layer.send_batch([("spb.chan", {"n": n}) for n in range(10)])
    assert outcome == [None] * 10
    assert len(writes) == 2  # one pipeline per shard
    assert lengths(servers, "spb:spb.chan") == [5, 5]
    assert received(layer, "spb.chan", 10) == list(range(10))


def test_a_spread_message_its_shard_refuses_goes_to_a_shard_with_room(two_shards):
    servers, make = two_shards
    layer = make(capacity=4)  # a share of 2 on each shard
    with redis.Redis.from_url(servers[0].url) as client:
        deadline = b"%013d" % (int(time.time() * 1000) + 60_000)
        client.rpush("spb:spb.full", deadline + b"x", deadline + b"y")  # shard 0's share is used
    outcome = layer.send_batch([("spb.full", {"n": n}) for n in range(3)])
    refused = [error for error in outcome if error is not None]
    assert len(refused) == 1 and isinstance(refused[0], layer.ChannelFull), outcome
    # what shard 0 refused went to shard 1, up to its share, and was not left on shard 0
    assert lengths(servers, "spb:spb.full") == [2, 2]


def test_a_spread_batch_with_a_shard_down_lands_on_the_other(two_shards, caplog):
    servers, make = two_shards
    layer = make()
    layer.send_batch([("spb.warm", {"n": n}) for n in range(2)])  # both links exist
    servers[1].kill()
    with caplog.at_level("WARNING", logger="asgi_redis"):
        outcome = layer.send_batch([("spb.down", {"n": n}) for n in range(6)])
    assert outcome == [None] * 6
    assert received(layer, "spb.down", 6) == list(range(6))
    assert any(str(servers[1].port) in record.getMessage() for record in caplog.records)


def test_on_the_reactor_a_spread_batch_is_one_pipeline_per_shard(two_shards, reactor, monkeypatch):
    servers, make = two_shards
    layer = on(make(), reactor)
    # the first batch reads each shard's clock (a blocking TIME) in the pool
    warm = [("spr.chan", {"n": -1}), ("spr.chan", {"n": -2})]
    assert settle(reactor, layer.send_batch_twisted(warm)) == [None, None]
    monkeypatch.setattr(layer, "_in_pool", lambda *a: pytest.fail("went through the thread pool"))
    inbox = next(f"spr.p{i}!" for i in range(100) if layer.consistent_hash(f"spr.p{i}!") == 1)
    batch = [("spr.chan", {"n": n}) for n in range(6)] + [(inbox + "x", {"n": 99})]
    assert settle(reactor, layer.send_batch_twisted(batch)) == [None] * 7
    assert sorted(layer._reactor_links) == [0, 1]
    assert lengths(servers, "spb:spr.chan") == [4, 4]
    monkeypatch.undo()
    assert received(layer, "spr.chan", 8) == [-2, -1, 0, 1, 2, 3, 4, 5]
    assert layer.receive([inbox]) == (inbox + "x", {"n": 99})


def test_on_the_reactor_a_spread_batch_with_a_shard_down_lands_on_the_other(two_shards, reactor):
    servers, make = two_shards
    layer = on(make(), reactor)
    warm = [("sprd.warm", {"n": -1}), ("sprd.warm", {"n": -2})]
    assert settle(reactor, layer.send_batch_twisted(warm)) == [None, None]
    assert settle(reactor, layer.send_batch_twisted(warm)) == [None, None]  # on the reactor now
    servers[1].kill()
    outcome = settle(reactor, layer.send_batch_twisted([("sprd.chan", {"n": n}) for n in range(6)]))
    assert outcome == [None] * 6
    assert lengths(servers[:1], "spb:sprd.chan") == [6]
    assert received(layer, "sprd.chan", 6) == list(range(6))
