"""Session-wide fixtures: private redis-server processes and tier markers.

Under ``CI=true`` a Redis that cannot be started fails the run; elsewhere the
Redis tests skip with a message saying how to enable them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from tests.support.redis import RedisServer, RedisUnavailable, in_ci

_TIERS = ("unit", "protocol", "integration")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A test file names its tier with ``pytestmark``; unmarked tests are unit tests.
    for item in items:
        if not any(item.get_closest_marker(tier) for tier in _TIERS):
            item.add_marker(pytest.mark.unit)


def _unavailable(reason: str) -> None:
    message = (
        f"Redis is not available: {reason}. Install redis-server (Debian: apt-get install "
        "redis-server) or set REDIS_URL to a server the tests may flush."
    )
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer | None]:
    """A private redis-server for the whole session (None when REDIS_URL is set)."""
    if os.environ.get("REDIS_URL"):
        yield None
        return
    server = RedisServer()
    try:
        server.start()
    except RedisUnavailable as exc:
        server.cleanup()
        _unavailable(str(exc))
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def redis_url(redis_server: RedisServer | None) -> str:
    """The URL of the session's Redis: REDIS_URL, or the private server."""
    return os.environ.get("REDIS_URL") or redis_server.url


@pytest.fixture
def make_redis_server() -> Iterator[Callable[..., RedisServer]]:
    """Start extra private servers (shards, replicas, fault tests); all stop after the test."""
    servers: list[RedisServer] = []

    def make(*extra_args: str, port: int | None = None) -> RedisServer:
        server = RedisServer(*extra_args, port=port)
        servers.append(server)
        try:
            return server.start()
        except RedisUnavailable as exc:
            _unavailable(str(exc))
            raise

    yield make
    for server in servers:
        server.cleanup()


@pytest.fixture
def redis_shards(make_redis_server: Callable[..., RedisServer]) -> list[RedisServer]:
    """Three independent servers, for sharding tests."""
    return [make_redis_server() for _ in range(3)]
