"""The Redis layer passes the ASGI 1 conformance suite: on one server, on
three shards, and with encryption on (Sentinel: test_sentinel.py)."""

from __future__ import annotations

import pytest

from asgi import conformance
from asgi_redis import RedisChannelLayer

pytestmark = pytest.mark.integration

KEYS = ["rotated-in-key", "older-key"]


def _factory(hosts, **defaults):
    def make_layer(**options):
        return RedisChannelLayer(hosts=hosts, **{**defaults, **options})

    return staticmethod(make_layer)


@pytest.fixture(scope="class")
def single_redis(request, redis_url):
    cls = request.cls
    cls.make_layer = _factory([redis_url], prefix="conf1:", stats_prefix="conf1-meta:")
    cls.channel_layer = cls.make_layer(expiry=1, group_expiry=2, capacity=5)
    cls.channel_layer.blpop_timeout = 1  # idle consumer threads finish sooner
    yield
    cls.channel_layer.flush()
    cls.channel_layer.close()


@pytest.fixture(scope="class")
def three_shards(request, shard_servers):
    cls = request.cls
    hosts = [server.url for server in shard_servers]
    cls.make_layer = _factory(hosts, prefix="conf3:", stats_prefix="conf3-meta:")
    cls.channel_layer = cls.make_layer(expiry=1, group_expiry=2, capacity=5)
    cls.channel_layer.blpop_timeout = 1  # idle consumer threads finish sooner
    yield
    cls.channel_layer.close()


@pytest.fixture(scope="class")
def encrypted(request, redis_url):
    cls = request.cls
    cls.make_layer = _factory(
        [redis_url], prefix="confenc:", stats_prefix="", symmetric_encryption_keys=KEYS
    )
    cls.channel_layer = cls.make_layer(expiry=1, group_expiry=2, capacity=5)
    cls.channel_layer.blpop_timeout = 1  # idle consumer threads finish sooner
    yield
    cls.channel_layer.flush()
    cls.channel_layer.close()


@pytest.mark.usefixtures("single_redis")
class SingleRedisConformanceTests(conformance.ConformanceTestCase):
    expiry_delay = 1.1
    capacity_limit = 5


@pytest.mark.usefixtures("three_shards")
class ThreeShardConformanceTests(conformance.ConformanceTestCase):
    expiry_delay = 1.1
    capacity_limit = 5


@pytest.mark.usefixtures("encrypted")
class EncryptedConformanceTests(conformance.ConformanceTestCase):
    expiry_delay = 1.1
    capacity_limit = 5
