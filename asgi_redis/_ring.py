"""The Redis layer's shards as one ring.

See docs/topics/backends.rst, "Sharding".

Names are placed on shards by consistent hashing (CRC32-based, stable
across processes): a process-specific (``!``) or single-reader (``?``)
queue lives on the shard its name hashes to, so one process's inbox is one
list on one server; normal channels are spread over every shard. A shard
that fails is left out of normal-channel traffic for a moment (its
``mark_down``), so while one server is down its share goes to the others.
Every part of the layer (sending, receiving, groups, leases, statistics)
finds its servers here.
"""

from __future__ import annotations

import logging
import random
from typing import Any

from ._codec import consistent_hash
from ._shard import Script, Shard
from .exceptions import RedisUnavailable

__all__ = ["ShardRing"]

#: The layer's own logger, as before the ring had a module: logging set up
#: for ``asgi_redis.core`` keeps seeing the shard warnings.
logger = logging.getLogger("asgi_redis.core")


class ShardRing:
    """The layer's shards, numbered in the order their servers were given."""

    def __init__(self, shards: list[Shard]) -> None:
        for index, shard in enumerate(shards):
            shard.index = index
        self.shards = shards
        self.size = len(shards)

    def index_of(self, name: str) -> int:
        """The shard index for a name: stable across processes."""
        return consistent_hash(name, self.size)

    def shard(self, index: int | None) -> Shard:
        """Shard ``index`` (None: a random one); ValueError when out of range."""
        if index is None:
            index = self.random_index()
        if not isinstance(index, int) or not 0 <= index < self.size:
            raise ValueError(f"There are only {self.size} shards; index {index!r} is out of range")
        return self.shards[index]

    def random_index(self) -> int:
        return random.randrange(self.size)

    def queue_shards(self, queue: str) -> list[Shard]:
        """Shards that may hold ``queue``: its own for ``!``/``?`` names, else all."""
        if queue.endswith("!") or "?" in queue:
            return [self.shards[self.index_of(queue)]]
        return self.shards

    def healthy_indexes(self) -> list[int]:
        """Shards to use for normal channels: those not marked down (all of
        them when every one is)."""
        healthy = [i for i, shard in enumerate(self.shards) if shard.available]
        return healthy or list(range(self.size))

    @staticmethod
    def failed(shard: Shard, error: Exception) -> None:
        """Leave a failing shard out of normal-channel traffic for a moment."""
        if shard.mark_down():
            logger.warning("%s; normal channels use the other shards until it answers again", error)

    def run_everywhere(
        self,
        script: Script,
        keys: Any,
        args: Any,
        partial: bool = False,
        shards: list[Shard] | None = None,
    ) -> list[Any]:
        """Run one script on every shard (or on ``shards``), the calls
        overlapping (one round trip of latency in all). With ``partial``,
        unreachable shards are logged and skipped as long as one shard answered.

        ``keys`` and ``args`` may be functions of the shard, for keys that
        carry the shard's tag (:attr:`Shard.tag`)."""
        if shards is None:
            shards = self.shards
        if len(shards) == 1:
            shard = shards[0]
            return [shard.run(script, per_shard(keys, shard), per_shard(args, shard))]
        started, results, errors = [], [], []
        for shard in shards:
            try:
                started.append(
                    (shard, shard.start(script, per_shard(keys, shard), per_shard(args, shard)))
                )
            except Exception as exc:  # noqa: BLE001 - finish the others first
                errors.append((shard, exc))
        for shard, call in started:
            try:
                results.append(shard.finish(script, call))
            except Exception as exc:  # noqa: BLE001 - finish the others first
                errors.append((shard, exc))
        if errors:
            unreachable = all(isinstance(exc, RedisUnavailable) for _, exc in errors)
            if not (partial and unreachable and results):
                raise errors[0][1]
            for shard, exc in errors:
                self.failed(shard, exc)
        return results


def per_shard(value: Any, shard: Shard) -> Any:
    """``value``, or what it gives for ``shard`` when it is a function."""
    return value(shard) if callable(value) else value
