"""The ``history`` extension of the Redis layer: numbered, kept group sends.

See docs/asgi/layers.rst, "Extensions", and docs/topics/history.rst.

A group's history lives on one shard, the one its name hashes to (its
*home*), in two keys:

* ``<prefix>history:<group>``: a list of the last ``size`` encoded messages,
  oldest first, trimmed with ``LTRIM`` on every send;
* ``<prefix>history-offset:<group>``: the offset of the newest one.

On a Redis Cluster shard, ``<prefix>`` is followed by the shard's hash tag
(:attr:`Shard.tag <asgi_redis._shard.Shard.tag>`), as in the group's own
keys there, so one script call touches one slot.

Both expire ``ttl`` seconds after the group's last numbered send. The
messages in the list are consecutive offsets ending at the counter, so the
offset of any item is plain arithmetic and a read after an offset is one
``LRANGE``: no per-message ids are stored.

Why a capped list and a counter, not a Stream (``XADD ... MAXLEN ~``):
the bound is exact (``MAXLEN ~`` trims whole radix-tree nodes, so a stream
keeps an unpredictable number beyond ``size``), the offset is a plain
integer a client can compare, and every command used exists in every Redis
the layer supports. What a stream offers beyond that (consumer groups,
ranges by time) the feature does not use.

A numbered send is one script call per shard. The home shard's call
assigns the offset (``INCR``), writes it into the message where the message
holds :data:`asgi._history.OFFSET_MARK` (a plain search of the encoded
bytes: nothing is decoded in Lua), keeps it and fans it out to its
own members, atomically. With several shards, the other shards then get
the same message, numbered by the client, for their members: still one
call per shard, but two round trips of latency instead of one. A layer
with ``symmetric_encryption_keys`` cannot number an encrypted message in
Redis and does not offer the extension.
"""

from __future__ import annotations

from collections.abc import Sequence

from asgi._history import OFFSET_MARK, offset_text

from . import _scripts
from ._groups import SEND_GROUP, Groups
from ._ring import ShardRing
from ._sending import ROUTES_KEPT
from ._shard import Script, Shard
from .exceptions import RedisUnavailable

__all__ = ["HISTORY_READ", "HISTORY_SEND", "History", "number"]

_MARK = OFFSET_MARK.encode("ascii")

#: HISTORY_SEND: number a group message, keep it, and fan it out on this shard.
#: KEYS[1] group sorted set  KEYS[2] group capacity hash
#: KEYS[3] history list      KEYS[4] history offset counter
#: ARGV[1] to ARGV[10] as SEND_GROUP (ARGV[1], the payload, holds the marks)
#: ARGV[11] history size (messages kept)  ARGV[12] history TTL (ms)
#: Every OFFSET_MARK in the payload is replaced by the offset, padded to the
#: mark's width (a plain search in Lua, so the encoded message keeps its
#: length and stays valid msgpack). A missing counter (a new or expired history) starts at the server's time
#: in microseconds, so offsets never repeat or go back.
#: Returns {offset, number of copies queued}.
HISTORY_SEND = (
    _scripts.COMMON
    + _scripts.PRUNE
    + _scripts.FAN_OUT
    + """
local plan = fan_out_plan()
local offset
if redis.call('EXISTS', KEYS[4]) == 1 then
  offset = redis.call('INCR', KEYS[4])
else
  offset = tonumber(t[1]) * 1000000 + tonumber(t[2])
  redis.call('SET', KEYS[4], string.format('%d', offset))
end
local text = string.format('%-WIDTHd', offset)
local payload = ARGV[1]
local at = string.find(payload, 'MARK', 1, true)
while at do
  payload = string.sub(payload, 1, at - 1) .. text .. string.sub(payload, at + WIDTH)
  at = string.find(payload, 'MARK', at + WIDTH, true)
end
local ttl = tonumber(ARGV[12])
redis.call('RPUSH', KEYS[3], payload)
redis.call('LTRIM', KEYS[3], -tonumber(ARGV[11]), -1)
redis.call('PEXPIRE', KEYS[3], ttl)
redis.call('PEXPIRE', KEYS[4], ttl)
return {offset, fan_out(payload, plan)}
""".replace("WIDTH", str(len(OFFSET_MARK))).replace("MARK", OFFSET_MARK)
)

#: HISTORY_READ: the kept messages after an offset.
#: KEYS[1] history list  KEYS[2] history offset counter
#: ARGV[1] the offset to read after (0: everything kept)
#: Returns {last offset (0: no history), offset of the first item returned,
#: item, ...}. The items are the kept messages after ARGV[1], oldest first.
HISTORY_READ = """
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
if last == 0 then return {0, 0} end
local after = tonumber(ARGV[1])
if after >= last then return {last, last + 1} end
local length = redis.call('LLEN', KEYS[1])
local first = last - length + 1
local start = math.max(after - first + 1, 0)
local reply = {last, first + start}
for _, item in ipairs(redis.call('LRANGE', KEYS[1], start, -1)) do
  table.insert(reply, item)
end
return reply
"""

_SEND = Script(HISTORY_SEND)
_READ = Script(HISTORY_READ)


def number(payload: bytes, offset: int) -> bytes:
    """``payload`` with every offset mark replaced by ``offset`` (what the
    home shard's script does), for the other shards."""
    return payload.replace(_MARK, offset_text(offset).encode("ascii"))


class History:
    """Group histories on the home shards of ``ring``, beside ``groups``."""

    def __init__(self, ring: ShardRing, groups: Groups) -> None:
        self.ring = ring
        self.groups = groups
        #: group -> (prefix, home shard, the four keys of HISTORY_SEND), for
        #: the last ROUTES_KEPT groups: a send works them out once per group.
        self._routes: dict[str, tuple[str, Shard, tuple[str, ...]]] = {}

    def keys(self, group: str, shard: Shard) -> tuple[str, str]:
        """The history list and its offset counter on ``shard``, the group's
        home (they carry its tag as the group's keys do, so that all the keys
        of one script call are in one Redis Cluster slot)."""
        base = self.groups.prefix + shard.tag
        return f"{base}history:{group}", f"{base}history-offset:{group}"

    def _route(self, group: str) -> tuple[str, Shard, tuple[str, ...]]:
        route = self._routes.get(group)
        if route is None or route[0] != self.groups.prefix:
            home = self.ring.shards[self.ring.index_of(group)]
            keys = (*self.groups.keys(group, home), *self.keys(group, home))
            route = (self.groups.prefix, home, keys)
            if len(self._routes) >= ROUTES_KEPT:
                self._routes.clear()
            self._routes[group] = route
        return route

    def send(
        self,
        group: str,
        payload: bytes,
        capacity: int,
        counting: Sequence,
        size: int,
        ttl_ms: int,
    ) -> int:
        """Number, keep and fan out ``payload``: one script call per shard."""
        _, home, keys = self._route(group)
        args = self.groups.send_args(payload, capacity, counting, home)
        offset = int(home.run(_SEND, keys, (*args, size, ttl_ms))[0])
        if self.ring.size > 1:
            numbered = number(payload, offset)
            others = [shard for shard in self.ring.shards if shard is not home]
            try:
                self.ring.run_everywhere(
                    SEND_GROUP,
                    lambda shard: self.groups.keys(group, shard),
                    lambda shard: self.groups.send_args(numbered, capacity, counting, shard),
                    partial=True,
                    shards=others,
                )
            except RedisUnavailable as exc:
                # The message is numbered, kept and delivered on its home
                # shard: members elsewhere miss it, as with send_group.
                self.ring.failed(others[0], exc)
        return offset

    def read(self, group: str, after: int) -> tuple[int, int, list[bytes]]:
        """``(last offset, offset of the first item, items)`` after ``after``."""
        _, home, keys = self._route(group)
        reply = home.run(_READ, keys[2:], (after,))
        return int(reply[0]), int(reply[1]), list(reply[2:])
