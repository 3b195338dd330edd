"""The ``groups`` extension of the Redis layer.

See docs/asgi/layers.rst, "Extensions", and docs/topics/backends.rst, "Groups".

Membership lives beside the member's queue: each shard holds, for a group,
the members whose queues it holds (a sorted set scored by the time of the
last ``group_add``, and a hash of their capacities). So ``send_group`` is
one script call per shard, all shards called at once, and each script fans
the message out to its own members inside Redis, one copy per process
inbox for process-specific members. :mod:`asgi_redis._scripts` has the
scripts' contracts.

``RedisChannelLayer`` checks the names and encodes the message; ``Groups``
holds the Redis side.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from . import _scripts
from ._ring import ShardRing
from ._shard import Script, Shard

__all__ = ["Groups"]

GROUP_ADD = Script(_scripts.GROUP_ADD)
GROUP_DISCARD = Script(_scripts.GROUP_DISCARD)
GROUP_CHANNELS = Script(_scripts.GROUP_CHANNELS)
SEND_GROUP = Script(_scripts.SEND_GROUP)


class Groups:
    """Group membership and group sends on the shards of ``ring``, under ``prefix``.

    ``expiry_ms`` is a message's lifetime and ``queue_ttl_ms`` a queue's
    (both as the send path sets them, so a group send writes what a send
    would); ``group_expiry_ms`` is how long a membership lasts unrenewed.
    """

    def __init__(
        self,
        ring: ShardRing,
        prefix: str,
        *,
        expiry_ms: int,
        group_expiry_ms: int,
        queue_ttl_ms: int,
    ) -> None:
        self.ring = ring
        self.prefix = prefix
        self.expiry_ms = expiry_ms
        self.group_expiry_ms = group_expiry_ms
        self.queue_ttl_ms = queue_ttl_ms
        #: Whether the shards' keys carry hash tags (a cluster's do).
        self._tagged = any(shard.tag for shard in ring.shards)

    def use_prefix(self, prefix: str) -> None:
        """Keep groups (and find members' queues) under ``prefix`` from now on."""
        self.prefix = prefix

    def key(self, group: str) -> str:
        """The sorted set holding the members of ``group`` (on the first shard)."""
        return self.keys(group, self.ring.shards[0])[0]

    def keys(self, group: str, shard: Shard) -> tuple[str, str]:
        """The members' sorted set and their capacities' hash on ``shard``."""
        base = self.prefix + shard.tag
        return f"{base}group:{group}", f"{base}groupcap:{group}"

    def add(self, group: str, channel: str, queue: str, capacity: int, expiry: float) -> None:
        """Add ``channel`` (whose queue is ``queue``) to ``group`` for ``expiry`` s."""
        # Membership lives beside the member's queue, so each shard can fan
        # a group message out to its own members in one script call.
        shard = self.ring.shards[self.ring.index_of(queue)]
        shard.run(GROUP_ADD, self.keys(group, shard), (channel, capacity, math.ceil(expiry)))

    def discard(self, group: str, channel: str, queue: str) -> None:
        """Remove ``channel`` from ``group``; no error if it is not a member."""
        shard = self.ring.shards[self.ring.index_of(queue)]
        shard.run(GROUP_DISCARD, self.keys(group, shard), (channel,))

    def channels(self, group: str) -> list[str]:
        """The live members of ``group`` (expired ones are dropped first)."""
        replies = self.ring.run_everywhere(
            GROUP_CHANNELS, lambda shard: self.keys(group, shard), (self.group_expiry_ms,)
        )
        return [member.decode() for reply in replies for member in reply]

    def send(self, group: str, payload: bytes, capacity: int, counting: Sequence) -> None:
        """Fan ``payload`` out to every member: one script call per shard.

        ``counting`` is the statistics part of the script's arguments
        (``Statistics.group_send_args``). Members on a lost shard miss the
        message (it is logged); the call raises only when no shard could be
        reached.
        """
        if self._tagged:
            # a cluster's shards: keys and arguments carry each shard's tag
            self.ring.run_everywhere(
                SEND_GROUP,
                lambda shard: self.keys(group, shard),
                lambda shard: self.send_args(payload, capacity, counting, shard),
                partial=True,
            )
            return
        # untagged shards share their key names and arguments: made once
        first = self.ring.shards[0]
        self.ring.run_everywhere(
            SEND_GROUP,
            self.keys(group, first),
            self.send_args(payload, capacity, counting, first),
            partial=True,
        )

    def send_args(self, payload: bytes, capacity: int, counting: Sequence, shard: Shard) -> tuple:
        """The ARGV of ``SEND_GROUP`` on ``shard`` (the history scripts share
        it): the key prefix and the statistics keys carry the shard's tag."""
        stats_prefix, channel_ttl, global_base, global_ttl = counting
        if shard.tag and stats_prefix:
            # the counters of a tagged shard carry its tag too
            global_base = stats_prefix + shard.tag + global_base[len(stats_prefix) :]
            stats_prefix += shard.tag
        return (
            payload,
            self.prefix + shard.tag,
            self.expiry_ms,
            self.group_expiry_ms,
            self.queue_ttl_ms,
            capacity,
            stats_prefix,
            channel_ttl,
            global_base,
            global_ttl,
        )
