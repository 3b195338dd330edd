"""The cluster layer's ring: calls to every shard grouped by master.

See docs/topics/backends.rst, "Redis Cluster".

A group send, a group listing and a lease claim run one script on every
shard. On a cluster several shards may share a master (more shards than
masters, or after resharding), so :class:`ClusterRing` writes the calls of
all the shards one master serves in one write on one link, every master's
write before any reply is read: one round trip per master, all masters at
once. A reply that asks for more (``NOSCRIPT`` the first time a master sees
the script, a redirect after the cluster moved a slot) is followed up by
that shard on its own, after the batch.
"""

from __future__ import annotations

from typing import Any

from ._cluster_shard import ClusterShard, redirect_of
from ._resp import pack
from ._ring import ShardRing, per_shard
from ._shard import Script, Shard
from .exceptions import RedisCommandError, RedisUnavailable

__all__ = ["ClusterRing"]


#: One shard's script call: the shard, its keys and its arguments.
Call = tuple[ClusterShard, Any, Any]
#: What went wrong, shard by shard.
Errors = list[tuple[ClusterShard, Exception]]


class ClusterRing(ShardRing):
    """A :class:`~asgi_redis._ring.ShardRing` of cluster shards."""

    def run_everywhere(
        self,
        script: Script,
        keys: Any,
        args: Any,
        partial: bool = False,
        shards: list[Shard] | None = None,
    ) -> list[Any]:
        """As :meth:`ShardRing.run_everywhere` (``shards``: only those), the
        calls grouped by the master serving each shard."""
        chosen: list[ClusterShard] = self.shards if shards is None else shards  # type: ignore[assignment]
        errors: Errors = []
        by_node = self._by_node(
            [(shard, per_shard(keys, shard), per_shard(args, shard)) for shard in chosen], errors
        )
        started = self._write(script, by_node, errors)
        results: dict[int, Any] = {}
        again = self._read(started, results, errors)
        for shard, k, a in again:
            try:
                results[shard.index] = shard.run(script, k, a)
            except Exception as exc:  # noqa: BLE001 - judged with the others below
                errors.append((shard, exc))
        if errors:
            unreachable = all(isinstance(exc, RedisUnavailable) for _, exc in errors)
            if any(isinstance(exc, RedisUnavailable) for _, exc in errors):
                errors[0][0].failed_node()  # a replica may have been promoted
            if not (partial and unreachable and results):
                raise errors[0][1]
            for shard, exc in errors:
                self.failed(shard, exc)
        return [results[index] for index in sorted(results)]

    @staticmethod
    def _by_node(calls: list[Call], errors: Errors) -> dict[str, list[Call]]:
        """The calls by the master serving each shard's slot now."""
        by_node: dict[str, list[Call]] = {}
        for call in calls:
            try:
                node = call[0].topology.node_of(call[0].slot)
            except RedisUnavailable as exc:
                errors.append((call[0], exc))
                continue
            by_node.setdefault(node, []).append(call)
        return by_node

    @staticmethod
    def _write(script: Script, by_node: dict[str, list[Call]], errors: Errors) -> list[tuple]:
        """Write each master's calls in one write; ``(pool, link, calls)`` of each."""
        started = []
        for node, group in by_node.items():
            pool = group[0][0].topology.pool(node)
            link = pool.acquire()
            try:
                link.write(
                    b"".join(pack(("EVALSHA", script.sha, len(k), *k, *a)) for _, k, a in group)
                )
            except RedisUnavailable as exc:
                pool.release(link)
                errors.extend((shard, exc) for shard, _, _ in group)
                continue
            started.append((pool, link, group))
        return started

    @staticmethod
    def _read(started: list[tuple], results: dict[int, Any], errors: Errors) -> list[Call]:
        """Read every reply into ``results``; returns the calls to make again
        on their own (``NOSCRIPT``, a redirect)."""
        again = []
        for pool, link, group in started:
            try:
                for call in group:
                    try:
                        results[call[0].index] = link.read()
                    except RedisCommandError as exc:
                        if not (str(exc).startswith("NOSCRIPT") or redirect_of(exc)):
                            raise
                        again.append(call)
            except (RedisUnavailable, RedisCommandError) as exc:
                if isinstance(exc, RedisUnavailable):
                    pool.disconnect()
                else:
                    link.close()  # the rest of the batch's replies are still on their way
                done = {shard.index for shard, _, _ in again} | set(results)
                errors.extend((shard, exc) for shard, _, _ in group if shard.index not in done)
            finally:
                pool.release(link)
        return again
