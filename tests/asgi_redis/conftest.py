"""Fixtures of the asgi_redis tests: layers on the session Redis, and
module-scoped shard servers for the sharded conformance run."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from asgi_redis import RedisChannelLayer
from tests.support.redis import RedisServer, RedisUnavailable, in_ci


def start_servers(count: int) -> list[RedisServer]:
    servers = []
    try:
        for _ in range(count):
            servers.append(RedisServer().start())
    except RedisUnavailable as exc:
        for server in servers:
            server.cleanup()
        if in_ci():
            pytest.fail(f"Redis is not available: {exc}", pytrace=False)
        pytest.skip(f"Redis is not available: {exc}")
    return servers


@pytest.fixture
def reactor():
    """A private reactor, stepped by the test's own thread (the "reactor thread")."""
    from twisted.internet.epollreactor import EPollReactor

    instance = EPollReactor()
    yield instance
    instance.disconnectAll()


@pytest.fixture(scope="module")
def shard_servers() -> Iterator[list[RedisServer]]:
    """Three private servers shared by one test module."""
    servers = start_servers(3)
    yield servers
    for server in servers:
        server.cleanup()


@pytest.fixture
def make_layer(redis_url: str) -> Iterator[Callable[..., RedisChannelLayer]]:
    """Layers on the session Redis, each under its own fresh prefix."""
    layers: list[RedisChannelLayer] = []

    def make(**options) -> RedisChannelLayer:
        options.setdefault("hosts", [redis_url])
        options.setdefault("prefix", f"t{uuid.uuid4().hex[:8]}:")
        options.setdefault("stats_prefix", options["prefix"][:-1] + "-meta:")
        layer = RedisChannelLayer(**options)
        layers.append(layer)
        return layer

    yield make
    for layer in layers:
        try:
            layer.flush()
        except Exception:  # noqa: BLE001 - a test may have stopped the server
            pass
        layer.close()


@pytest.fixture
def layer(make_layer) -> RedisChannelLayer:
    return make_layer()
