"""The ``leases`` extension of the Redis layer (docs/asgi/layers.rst).

A protocol server's lease is one hash per owner beside an index of
deadlines, on the shard the owner's name hashes to; renewing it is one
script call, claiming the leases that ran out is one script call per shard,
and the claim removes each lease in the same atomic step, so exactly one
reaper gets it. :mod:`asgi_redis._scripts` has the scripts' contracts and
:mod:`asgi._leases` the entries' meaning.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from . import _scripts
from ._ring import ShardRing
from ._shard import Script, Shard

__all__ = ["LEASE_GRACE", "LEASE_REAPED_KEEP", "Leases"]

LEASE_RENEW = Script(_scripts.LEASE_RENEW)
LEASE_CLAIM = Script(_scripts.LEASE_CLAIM)

#: Seconds a lease's keys outlive its deadline when no survivor claims it:
#: long enough for a survivor renewing every few seconds to reap it, short
#: enough that a cluster with no survivor is not left with it for long.
LEASE_GRACE = 60

#: Seconds the record of a claimed lease is kept for its owner: an owner cut
#: off from Redis for longer than its TTL learns, when it gets through again
#: within this time, which of its sockets a survivor reported gone.
LEASE_REAPED_KEEP = 600


class Leases:
    """``renew``, ``release``, ``claim`` and ``reaped`` of leases on the
    shards of ``ring``, under ``prefix`` (the layer's ``lease_*`` methods)."""

    def __init__(self, ring: ShardRing, prefix: str) -> None:
        self.ring = ring
        self.prefix = prefix

    def use_prefix(self, prefix: str) -> None:
        """Keep leases under ``prefix`` from now on."""
        self.prefix = prefix

    def _keys(self, owner: str, tag: str = "") -> tuple[str, str]:
        """The lease index and ``owner``'s lease hash on a shard with ``tag``."""
        base = self.prefix + tag
        return f"{base}leases", f"{base}lease:{owner}"

    def _reaped_key(self, owner: str, tag: str = "") -> str:
        return f"{self.prefix}{tag}lease-reaped:{owner}"

    def _shard(self, owner: str) -> Shard:
        return self.ring.shards[self.ring.index_of(owner)]

    def renew(
        self,
        owner: str,
        ttl: float,
        changed: Mapping[str, str],
        removed: Iterable[str] = (),
        full: bool = False,
    ) -> bool:
        """Write ``owner``'s lease and make it last ``ttl`` seconds from now.

        ``changed`` maps reply channels to entries to set, ``removed`` lists
        reply channels to drop; with ``full`` the lease becomes exactly
        ``changed``. Returns whether the owner held a lease before: False on
        its first renewal, or when its lease ran out and may have been
        reaped (the caller should then write the whole lease again).
        """
        if ttl <= 0:
            raise ValueError(f"lease ttl must be positive, got {ttl!r}")
        removed = list(removed)
        pairs = [item for pair in changed.items() for item in pair]
        args = (
            owner,
            math.ceil(ttl * 1000),
            LEASE_GRACE * 1000,
            "1" if full else "0",
            len(removed),
            *removed,
            *pairs,
        )
        shard = self._shard(owner)
        held = shard.run(LEASE_RENEW, self._keys(owner, shard.tag), args)
        return bool(held)

    def release(self, owner: str) -> None:
        """Drop ``owner``'s lease (a clean shutdown: its disconnects were sent)."""
        shard = self._shard(owner)
        index, lease = self._keys(owner, shard.tag)
        shard.call_many((("ZREM", index, owner), ("DEL", lease)))

    def claim(self, limit: int = 16) -> list[tuple[str, dict[str, str]]]:
        """Take up to ``limit`` leases per shard that ran out: a list of
        ``(owner, {reply channel: entry})``. Each lease is handed to exactly
        one caller, whoever else claims at the same time."""
        replies = self.ring.run_everywhere(
            LEASE_CLAIM,
            lambda shard: (self._keys("", shard.tag)[0],),
            lambda shard: (
                f"{self.prefix}{shard.tag}lease:",
                limit,
                self._reaped_key("", shard.tag),
                LEASE_REAPED_KEEP * 1000,
            ),
            partial=True,
        )
        claimed = []
        for reply in replies:
            for owner, flat in reply:
                entries = {
                    flat[i].decode(): flat[i + 1].decode("utf-8", "surrogateescape")
                    for i in range(0, len(flat), 2)
                }
                claimed.append((owner.decode(), entries))
        return claimed

    def reaped(self, owner: str) -> list[str]:
        """The reply channels of ``owner``'s lease that a survivor claimed
        (and so sent disconnects for), or ``[]``; the record is removed.

        For an owner whose renewal found its lease gone: its sockets listed
        here are open but the application was told they closed.
        """
        shard = self._shard(owner)
        key = self._reaped_key(owner, shard.tag)
        fields, _ = shard.call_many((("HKEYS", key), ("DEL", key)))
        return sorted(field.decode() for field in fields)
