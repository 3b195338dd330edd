"""Redis Cluster's slots without I/O: shard tags, the slot map, redirects.

See docs/topics/backends.rst, "Redis Cluster".

The cluster layer keeps a fixed number of shards, as the client-side
sharded layer does; what differs is where a shard lives. Every key of shard
``i`` carries the hash tag :func:`shard_tag` gives it, so all of them (its
queues, its group sets, its leases, its counters) hash to one slot, and a
Lua script or a multi-key pop over them is legal in a cluster. The tags are
chosen so that shard ``i``'s slot lies in the ``i``-th of ``count`` equal
slot ranges: on a cluster made by ``redis-cli --cluster create`` (contiguous
ranges, one per master) ``count`` shards over ``count`` masters put one
shard on each. The cluster may move a slot (resharding) or promote a
replica (failover): a shard follows its slot wherever it goes.

This module holds the rules: the tags, the slot map read from ``CLUSTER
SLOTS``, and the meaning of ``MOVED``/``ASK``/``TRYAGAIN``/``CLUSTERDOWN``
error replies. :mod:`asgi_redis._cluster_shard` does the talking.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from typing import Any, NamedTuple

from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

__all__ = [
    "SLOTS",
    "Redirect",
    "SlotMap",
    "key_slot",
    "parse_redirect",
    "shard_tag",
]

SLOTS = REDIS_CLUSTER_HASH_SLOTS


def shard_tag(index: int, count: int) -> str:
    """The hash tag (``{...}``) of shard ``index`` of ``count``: the first
    of ``{index.0}``, ``{index.1}``, ... whose slot lies in the shard's
    range ``[index * SLOTS // count, (index + 1) * SLOTS // count)``.

    The same in every process (CRC16 is fixed), so every process of a site
    configured with the same ``count`` finds each name on the same shard.
    """
    if not 0 <= index < count <= SLOTS:
        raise ValueError(f"shard {index} of {count} is out of range")
    low, high = index * SLOTS // count, (index + 1) * SLOTS // count
    for attempt in itertools.count():
        name = f"{index}.{attempt}"
        if low <= key_slot(name.encode()) < high:
            return "{" + name + "}"
    raise AssertionError("unreachable")  # pragma: no cover - itertools.count is endless


def tag_slot(tag: str) -> int:
    """The slot of every key carrying ``tag``."""
    return key_slot(tag.encode())


class SlotMap:
    """Which master serves which slot, from a ``CLUSTER SLOTS`` reply."""

    def __init__(self, ranges: Sequence[tuple[int, int, str]]) -> None:
        #: ``(first slot, last slot, "host:port")``, sorted by first slot.
        self.ranges = sorted(ranges)
        self._starts = [start for start, _, _ in self.ranges]

    @classmethod
    def from_reply(cls, reply: Any) -> SlotMap:
        """Parse ``CLUSTER SLOTS``: ``[[start, end, [host, port, id, ...],
        replica, ...], ...]``; the first node of each range is its master."""
        ranges = []
        for entry in reply or ():
            start, end, master = int(entry[0]), int(entry[1]), entry[2]
            host = master[0].decode() if isinstance(master[0], bytes) else str(master[0])
            ranges.append((start, end, f"{host}:{int(master[1])}"))
        return cls(ranges)

    def node_of(self, slot: int) -> str | None:
        """``host:port`` of the master serving ``slot``, or None when no
        master does (the cluster is missing a range)."""
        position = bisect.bisect_right(self._starts, slot) - 1
        if position >= 0:
            start, end, node = self.ranges[position]
            if start <= slot <= end:
                return node
        return None

    def nodes(self) -> list[str]:
        """Every master, in slot order."""
        return list(dict.fromkeys(node for _, _, node in self.ranges))

    def __len__(self) -> int:
        return len(self.ranges)


#: What Redis says when a script touches a key of a slot this node is
#: migrating and no longer holds (Redis 7: "ERR Script attempted to access
#: a non local key in a cluster node script: ...").
NON_LOCAL_KEY = "attempted to access a non local key"


class Redirect(NamedTuple):
    """What an error reply tells a cluster client to do."""

    #: ``MOVED`` (the slot lives at ``node`` now), ``ASK`` (this one key is
    #: being migrated to ``node``: ask there once, after ``ASKING``),
    #: ``TRYAGAIN`` (a multi-key command during a migration: retry shortly)
    #: or ``CLUSTERDOWN`` (no master serves the slot for now: an outage).
    kind: str
    slot: int | None
    node: str | None


def parse_redirect(text: str) -> Redirect | None:
    """The :class:`Redirect` an error reply's text means, or None for any
    other error."""
    word, _, rest = text.partition(" ")
    if word in ("MOVED", "ASK"):
        slot, _, node = rest.partition(" ")
        if slot.isdigit() and ":" in node:
            # Redis < 7 may leave the host out ("MOVED 3999 :6381"): the
            # same host as the node that answered (the shard fills it in).
            return Redirect(word, int(slot), node)
        return None
    if word in ("TRYAGAIN", "CLUSTERDOWN"):
        return Redirect(word, None, None)
    if NON_LOCAL_KEY in text:
        # A script met a key of its slot that is being migrated (a queue
        # already at the target): it stopped before writing (the layer's
        # scripts read every key they write first), so it is retried like
        # TRYAGAIN, until the slot's keys have moved and ASK sends it on.
        return Redirect("TRYAGAIN", None, None)
    return None
