"""Session-wide fixtures: private redis-server processes and tier markers.

Under ``CI=true`` a Redis that cannot be started fails the run; elsewhere the
Redis tests skip with a message saying how to enable them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from tests.support.redis import RedisServer, RedisUnavailable, in_ci
from tests.support.redis_cluster import RedisCluster

#: The interface-server tests' fixtures (a private reactor thread, an
#: in-memory layer), shared by tests/daphne/{smtp,irc,udp}, tests/e2e and
#: tests/example.
pytest_plugins = ["tests.support.interface_servers"]

_TIERS = ("unit", "protocol", "integration")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test file names its tier with a module-level ``pytestmark``
    (one of ``_TIERS``); a file without one fails the collection, rather
    than counting silently as one tier or another."""
    untiered = sorted({str(item.path) for item in items if not _declares_tier(item)})
    if untiered:
        raise pytest.UsageError(
            "These test files declare no tier; add `pytestmark = pytest.mark.unit` "
            "(or protocol, or integration) after their imports:\n  " + "\n  ".join(untiered)
        )


def _declares_tier(item: pytest.Item) -> bool:
    module = getattr(item, "module", None)
    marks = getattr(module, "pytestmark", [])
    if not isinstance(marks, list):
        marks = [marks]
    return any(getattr(mark, "name", None) in _TIERS for mark in marks)


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


@pytest.fixture(autouse=True)
def _fresh_drop_log_limits() -> Iterator[None]:
    """Each test starts with fresh drop-log rate limits (daphne/_drops.py,
    channels/_drops.py): a drop line an earlier test wrote must not decide
    whether this test's is written (one per reason per second)."""
    from asgi._drop_log import DropLimiter
    from channels import _drops as channels_drops
    from daphne import _drops as daphne_drops

    for module in (daphne_drops, channels_drops):
        module._LOG.limiter = DropLimiter(module._LOG.limiter.interval)
    yield


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """A private Redis Cluster (3 masters, 3 replicas) for the whole session;
    tests that kill nodes or move slots make their own (``make_redis_cluster``)."""
    cluster = RedisCluster()
    try:
        cluster.start()
    except RedisUnavailable as exc:
        _unavailable(str(exc))
    yield cluster
    cluster.cleanup()


@pytest.fixture
def make_redis_cluster() -> Iterator[Callable[..., RedisCluster]]:
    """Start a private cluster for one test (fault tests); stopped after it."""
    clusters: list[RedisCluster] = []

    def make(**options) -> RedisCluster:
        cluster = RedisCluster(**options)
        clusters.append(cluster)
        try:
            return cluster.start()
        except RedisUnavailable as exc:
            _unavailable(str(exc))
            raise

    yield make
    for cluster in clusters:
        cluster.cleanup()
