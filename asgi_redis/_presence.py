"""The ``presence`` extension of the Redis layer (docs/asgi/layers.rst).

A presence lives on the shard its name hashes to, as two keys:

* ``<prefix>presence:<name>``: sorted set, member = channel, score = the
  server time in ms after which the member has expired unless touched;
* ``<prefix>presence-meta:<name>``: hash, channel -> the encoded meta.

Each operation is one script call, so join, leave and reap are atomic and a
member that expired is handed to exactly one reaper. Both keys expire
``PRESENCE_GRACE`` seconds after the latest deadline written, so a presence
nobody reaps leaves nothing behind. :mod:`asgi._presence` is the in-memory
twin; the layer checks names and encodes metas.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ._ring import ShardRing
from ._shard import Script, Shard

__all__ = ["PRESENCE_GRACE", "Presences"]

#: Seconds a presence's keys outlive its latest deadline.
PRESENCE_GRACE = 60

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

_KEEP = """
local keep = ttl + tonumber(ARGV[4])
for _, key in ipairs(KEYS) do
  if redis.call('PTTL', key) < keep then redis.call('PEXPIRE', key, keep) end
end
"""

#: PRESENCE_JOIN: add or refresh a member.
#: KEYS[1] the deadlines (sorted set)   KEYS[2] the metas (hash)
#: ARGV[1] channel   ARGV[2] encoded meta   ARGV[3] ttl (ms)   ARGV[4] grace (ms)
#: Returns 1 when the channel was not a live member before, else 0.
PRESENCE_JOIN = Script(
    _NOW
    + """
local ttl = tonumber(ARGV[3])
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
local new = (not score) or tonumber(score) <= now
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
"""
    + _KEEP
    + """
if new then return 1 end
return 0
"""
)

#: PRESENCE_TOUCH: move a live member's deadline ahead.
#: KEYS as PRESENCE_JOIN   ARGV[1] channel   ARGV[2] unused   ARGV[3] ttl (ms)
#: ARGV[4] grace (ms)
#: Returns 1 when the channel was a live member, 0 (nothing written) if not.
PRESENCE_TOUCH = Script(
    _NOW
    + """
local ttl = tonumber(ARGV[3])
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if (not score) or tonumber(score) <= now then return 0 end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
"""
    + _KEEP
    + """
return 1
"""
)

#: PRESENCE_LEAVE: remove a member.
#: KEYS as PRESENCE_JOIN   ARGV[1] channel
#: Returns the member's encoded meta, or nil when it was not a member.
PRESENCE_LEAVE = Script(
    """
local meta = redis.call('HGET', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return meta
"""
)

#: PRESENCE_MEMBERS: the live members.
#: KEYS as PRESENCE_JOIN; no ARGV.
#: Returns {channel, meta, channel, meta, ...}.
PRESENCE_MEMBERS = Script(
    _NOW
    + """
local channels = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
local out = {}
for _, channel in ipairs(channels) do
  local meta = redis.call('HGET', KEYS[2], channel)
  if meta then
    table.insert(out, channel)
    table.insert(out, meta)
  end
end
return out
"""
)

#: PRESENCE_REAP: remove and return the members whose deadline passed.
#: KEYS as PRESENCE_JOIN   ARGV[1] most members to take in one call
#: Returns {channel, meta, ...}; a member is returned to exactly one caller
#: (meta "" when its meta was already gone).
PRESENCE_REAP = Script(
    _NOW
    + """
local channels = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
local out = {}
for _, channel in ipairs(channels) do
  local meta = redis.call('HGET', KEYS[2], channel) or ''
  redis.call('ZREM', KEYS[1], channel)
  redis.call('HDEL', KEYS[2], channel)
  table.insert(out, channel)
  table.insert(out, meta)
end
return out
"""
)

#: Most expired members one reap call takes (a presence rarely has more).
REAP_LIMIT = 1000


class Presences:
    """Presences on the shards of ``ring``, under ``prefix``; ``encode`` and
    ``decode`` turn metas into the layer's bytes and back."""

    def __init__(
        self,
        ring: ShardRing,
        prefix: str,
        encode: Callable[[str, dict], bytes],
        decode: Callable[[bytes], dict],
    ) -> None:
        self.ring = ring
        self.prefix = prefix
        self._encode = encode
        self._decode = decode

    def use_prefix(self, prefix: str) -> None:
        """Keep presences under ``prefix`` from now on."""
        self.prefix = prefix

    def _keys(self, presence: str, tag: str = "") -> tuple[str, str]:
        """The presence's keys on a shard with ``tag`` (a Redis Cluster
        shard's hash tag keeps both in its slot)."""
        base = self.prefix + tag
        return f"{base}presence:{presence}", f"{base}presence-meta:{presence}"

    def _shard(self, presence: str) -> Shard:
        return self.ring.shards[self.ring.index_of(presence)]

    def _run(self, script: Script, presence: str, *args: Any) -> Any:
        shard = self._shard(presence)
        return shard.run(script, self._keys(presence, shard.tag), args)

    def join(self, presence: str, channel: str, meta: dict, ttl: float) -> bool:
        payload = self._encode(presence, meta)
        ttl_ms = math.ceil(ttl * 1000)
        return bool(self._run(PRESENCE_JOIN, presence, channel, payload, ttl_ms, _grace_ms()))

    def touch(self, presence: str, channel: str, ttl: float) -> bool:
        ttl_ms = math.ceil(ttl * 1000)
        return bool(self._run(PRESENCE_TOUCH, presence, channel, "", ttl_ms, _grace_ms()))

    def leave(self, presence: str, channel: str) -> dict | None:
        payload = self._run(PRESENCE_LEAVE, presence, channel)
        return None if payload is None else self._decode(payload)

    def members(self, presence: str) -> dict[str, dict]:
        return self._pairs(self._run(PRESENCE_MEMBERS, presence))

    def reap(self, presence: str) -> dict[str, dict]:
        return self._pairs(self._run(PRESENCE_REAP, presence, REAP_LIMIT))

    def _pairs(self, flat: list) -> dict[str, dict]:
        return {
            flat[i].decode(): (self._decode(flat[i + 1]) if flat[i + 1] else {})
            for i in range(0, len(flat), 2)
        }


def _grace_ms() -> int:
    return PRESENCE_GRACE * 1000
