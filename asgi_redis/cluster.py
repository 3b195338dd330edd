"""``RedisClusterChannelLayer``: the layer on a Redis Cluster.

See docs/topics/backends.rst, "Redis Cluster".

A separate class rather than a URL scheme of ``RedisChannelLayer``: its
``hosts`` mean something else (seed nodes, any few of the cluster's nodes,
from which it learns the rest), it has an option of its own (``shards``),
and a settings file that names the class says plainly which engine it runs
on.

The layer keeps ``shards`` shards as the client-side sharded layer does
(a process inbox on the shard its name hashes to, normal channels spread
over all of them, group members beside their queues), but each shard is a
slot of the cluster: all of its keys carry one hash tag, so the Lua scripts
and multi-key pops the layer is built on stay legal, and the cluster moves
a shard between masters (resharding) or to a promoted replica (failover)
as it moves any slot. :mod:`asgi_redis._slots` picks the tags,
:mod:`asgi_redis._cluster_shard` routes and follows ``MOVED``/``ASK``.

Why the layer's own connections and not redis-py's ``RedisCluster`` on the
message path: the layer's hot path is pipelined ``RPUSH``es, blocking pops
on several shards at once that it cancels with ``CLIENT UNBLOCK``, and
``EVALSHA`` on its own RESP links (half the per-command cost of redis-py's
client); ``RedisCluster`` offers none of those on one slot's node, and its
node discovery retries with backoff where the layer must raise
``RedisUnavailable`` promptly (daphne answers 503 / 1013 meanwhile). The
slot map is read with ``CLUSTER SLOTS``; redis-py's ``RedisCluster`` is
what :meth:`RedisClusterChannelLayer.connection` hands out for running any
command on the cluster, and redis-py's CRC16 places the keys.
"""

from __future__ import annotations

import time
from typing import Any

import redis
from redis.cluster import RedisCluster

from ._cluster_ring import ClusterRing
from ._cluster_shard import ClusterShard, ClusterTopology, redirect_of
from ._options import host_urls
from ._receiving import ReceivePath
from ._shard import Shard
from .core import BaseRedisChannelLayer

__all__ = ["RedisClusterChannelLayer"]

#: Seconds a blocking receive waits before it watches a slot again that
#: the cluster is migrating (``ASK``/``TRYAGAIN`` on a blocking pop).
MIGRATION_PAUSE = 0.02


class ClusterReceivePath(ReceivePath):
    """The receive path, whose blocking watch of several shards follows the
    cluster's redirects (each shard's own pops follow them in the shard)."""

    def redirected(self, shard: Shard, error: Exception) -> bool:
        redirect = redirect_of(error)
        if redirect is None or not isinstance(shard, ClusterShard):
            return False
        if redirect.kind == "MOVED":
            return shard.follow(error, 0)
        if redirect.kind == "CLUSTERDOWN":
            shard.follow(error, 0)  # raises RedisUnavailable
        shard.topology.redirects[redirect.kind] += 1
        time.sleep(MIGRATION_PAUSE)  # the slot is migrating: look again shortly
        return True


class RedisClusterChannelLayer(BaseRedisChannelLayer):
    """The Redis layer on a Redis Cluster (Redis 7+ recommended).

    ``hosts``: seed nodes, ``(host, port)`` tuples or ``redis://`` /
    ``rediss://`` URLs (default ``[("localhost", 6379)]``); the first one's
    scheme and credentials are used for every node. ``shards``: how many
    slots the layer spreads its keys over (default 3; at least the number of
    masters to use them all; every process of a site must use the same
    number). Every other option is ``RedisChannelLayer``'s, with the same
    meaning; ``prefix`` and ``stats_prefix`` may not contain ``{`` or ``}``
    (they would change the keys' hash tags).
    """

    # The reactor-owned connections of the twisted extension read one
    # server; here every call goes through the cluster-aware blocking path
    # (in the receive thread pool for receive_twisted / receive_async).
    reactor_io = False
    _receive_path_class = ClusterReceivePath
    _ring_class = ClusterRing

    def __init__(self, *args: Any, shards: int = 3, **kwargs: Any) -> None:
        if isinstance(shards, bool) or not isinstance(shards, int) or not 1 <= shards <= 1024:
            raise ValueError(f"shards must be an int from 1 to 1024, got {shards!r}")
        self.shard_count = shards
        self._cluster_client: RedisCluster | None = None
        for name in ("prefix", "stats_prefix"):
            _check_no_braces(name, kwargs.get(name, ""))
        super().__init__(*args, **kwargs)
        _check_no_braces("prefix", self.prefix)
        _check_no_braces("stats_prefix", self.stats_prefix)

    @BaseRedisChannelLayer.prefix.setter  # type: ignore[attr-defined]
    def prefix(self, value: str) -> None:
        _check_no_braces("prefix", value)
        BaseRedisChannelLayer.prefix.fset(self, value)  # type: ignore[attr-defined]

    def _make_shards(self, hosts: Any) -> list[Shard]:
        self.hosts = host_urls(hosts)
        for url in self.hosts:
            if url.startswith("unix:"):
                raise ValueError(f"A Redis Cluster is reached over TCP; got the socket {url!r}")
        kwargs = dict(self.connection_kwargs)
        kwargs.setdefault("socket_keepalive", True)
        self.topology = ClusterTopology(self.hosts, kwargs)
        return [ClusterShard(self.topology, i, self.shard_count) for i in range(self.shard_count)]

    def connection(self, index: int | None) -> redis.Redis:
        """A redis-py ``RedisCluster`` client of the cluster (made on first
        use and kept; ``index`` is checked as 1.x did), for running any
        command on it: it routes each key to its slot's master itself. The
        layer's own traffic does not go through it."""
        self.shard(index)
        if self._cluster_client is None:
            options = {
                key: value
                for key, value in self.connection_kwargs.items()
                if key not in ("socket_keepalive",)
            }
            self._cluster_client = RedisCluster.from_url(self.hosts[0], **options)
        return self._cluster_client  # type: ignore[return-value]

    def close(self) -> None:
        super().close()
        if self._cluster_client is not None:
            self._cluster_client.close()
            self._cluster_client = None

    def __str__(self) -> str:
        return f"{type(self).__name__}(hosts={self.hosts!r}, shards={self.shard_count})"


def _check_no_braces(name: str, value: Any) -> None:
    if isinstance(value, str) and ("{" in value or "}" in value):
        raise ValueError(
            f"{name} may not contain '{{' or '}}' on a Redis Cluster (it would change the "
            f"hash tag that keeps each shard's keys in one slot), got {value!r}"
        )
