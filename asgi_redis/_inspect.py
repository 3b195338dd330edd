"""The ``inspect`` extension of the Redis layer: heartbeats and a read-only view.

See docs/asgi/layers.rst, "Extensions", and docs/operating.rst,
"Inspecting the layer".

Heartbeat records live in one sorted set per shard (process id -> the server
time its record runs out) beside one hash (process id -> the record as
JSON), on the shard the id hashes to. That rather than one key per record
found by ``SCAN``: health checks and daphne's 503 explanation read the
records often, and reading them this way costs one pipelined round trip
per shard, in proportion to the number of processes, where a scan would
walk the whole keyspace every time. Expiry is judged on the server's clock
(in the script that writes a record), each heartbeat drops at most
``HEARTBEAT_PRUNE`` records that ran out, so work stays bounded after a
mass crash, and both keys expire ``HEARTBEAT_GRACE`` seconds after the
longest-lived record in them, so a cluster that stopped leaves nothing.

Channels and groups are found by ``SCAN ... MATCH <prefix>* COUNT n TYPE
list|zset`` in batches of ``batch`` keys; each batch is read in one call
(a read-only script that returns queue lengths and the deadlines of their
heads, never the payloads; ``ZCOUNT``\\ s in a pipeline for groups) and
members by ``ZSCAN``. Nothing here takes a time that grows with the
keyspace in one command, so inspection never stalls message traffic; and
it changes nothing (an expired message is left for a receive or group
send to drop, since dropping it evicts its reader from groups). A shard
that cannot be reached is left out as long as another answered: it shows
as unreachable in :meth:`Inspection.shards`.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

from asgi.base_layer import BaseChannelLayer, process_sort_key

from . import _scripts
from ._codec import DEADLINE_DIGITS, glob_escape
from ._ring import ShardRing
from ._shard import Script, Shard
from .exceptions import RedisUnavailable

__all__ = ["HEARTBEAT_GRACE", "HEARTBEAT_PRUNE", "Inspection"]

logger = logging.getLogger(__name__)

HEARTBEAT = Script(_scripts.HEARTBEAT)
QUEUE_HEADS = Script(_scripts.QUEUE_HEADS)

#: Seconds the heartbeat keys outlive the longest-lived record they hold.
HEARTBEAT_GRACE = 10
#: Most records that ran out one heartbeat drops.
HEARTBEAT_PRUNE = 16
#: Keys per ``SCAN`` step and per read of their contents: measured at about
#: 0.2 ms of Redis time per read and 0.07 ms per step (2 µs a key), so no
#: step holds up the message traffic for long.
DEFAULT_BATCH = 100

#: What one shard holds of a channel: ``(depth, age of its oldest message or None)``.
Backlog = tuple[int, float | None]


class Inspection:
    """Heartbeats and the read-only view of the shards of ``ring``, under ``prefix``.

    The layer hands in what it owns: ``expiry_ms`` (a message's lifetime,
    to tell from a deadline when a message was sent), ``group_expiry_ms``,
    ``capacity(channel)`` and ``is_channel(name)``, its name rules.
    """

    def __init__(
        self,
        ring: ShardRing,
        prefix: str,
        *,
        expiry_ms: int,
        group_expiry_ms: int,
        capacity: Callable[[str], int],
        is_channel: Callable[[str], bool],
        is_group: Callable[[str], bool],
    ) -> None:
        self.ring = ring
        self.prefix = prefix
        self.expiry_ms = expiry_ms
        self.group_expiry_ms = group_expiry_ms
        self.capacity = capacity
        self.is_channel = is_channel
        self.is_group = is_group
        #: Keys per ``SCAN`` step and per read of their contents.
        self.batch = DEFAULT_BATCH

    def use_prefix(self, prefix: str) -> None:
        """Keep heartbeats and find channels and groups under ``prefix`` from now on."""
        self.prefix = prefix

    # -- heartbeats --------------------------------------------------------------------

    def _process_keys(self, shard: Shard) -> tuple[str, str]:
        """The heartbeat index and records on ``shard`` (its tag keeps them
        in its slot on a Redis Cluster)."""
        base = self.prefix + shard.tag
        return f"{base}processes", f"{base}process-records"

    def heartbeat(self, process_id: str, record: dict[str, Any], ttl: float) -> None:
        """Store or renew ``record`` for ``ttl`` seconds (one script call)."""
        encoded = json.dumps(record, separators=(",", ":"), allow_nan=False)
        args = (
            process_id,
            encoded,
            math.ceil(ttl * 1000),
            HEARTBEAT_GRACE * 1000,
            HEARTBEAT_PRUNE,
        )
        home = self._home(process_id)
        home.run(HEARTBEAT, self._process_keys(home), args)

    def heartbeat_remove(self, process_id: str) -> None:
        """Drop one record (no error when it is not there)."""
        home = self._home(process_id)
        index, records = self._process_keys(home)
        home.call_many((("ZREM", index, process_id), ("HDEL", records, process_id)))

    def _home(self, process_id: str) -> Shard:
        return self.ring.shards[self.ring.index_of(process_id)]

    def processes(self) -> list[dict[str, Any]]:
        """The unexpired records of every shard, sorted by (kind, host, pid)."""

        def read(shard: Shard) -> list[dict[str, Any]]:
            index, records_key = self._process_keys(shard)
            now = int(shard.server_time_ms())
            live, flat = shard.call_many(
                (("ZRANGEBYSCORE", index, f"({now}", "+inf"), ("HGETALL", records_key))
            )
            stored = _pairs(flat)
            found = []
            for process_id in live:
                if process_id not in stored:
                    continue
                try:
                    record = json.loads(stored[process_id])
                except ValueError:
                    logger.warning("Skipped a heartbeat record that is not JSON: %r", process_id)
                    continue
                if isinstance(record, dict):
                    found.append(record)
            return found

        merged = [record for part in self._each_shard(read) for record in part]
        return sorted(merged, key=process_sort_key)

    # -- channels ----------------------------------------------------------------------

    def channels(self, names: list[str] | None) -> list[dict[str, Any]]:
        """``{"channel", "depth", "capacity", "oldest_age"}`` for every queue
        holding messages (``names`` None), or for the queues of ``names``.

        A process-specific channel is reported by its queue, ``name!``:
        the full names are inside the items, and reading them would mean
        reading every message.
        """
        if names is None:
            backlogs = self._each_shard(self._waiting_queues)
        else:
            queues = list(dict.fromkeys(BaseChannelLayer.non_local_name(n) for n in names))
            backlogs = self._each_shard(lambda shard: self._named_queues(shard, queues))
            backlogs.append(dict.fromkeys(queues, (0, None)))
        merged: dict[str, list[Any]] = {}
        for backlog in backlogs:
            for queue, (depth, age) in backlog.items():
                entry = merged.setdefault(queue, [0, None])
                entry[0] += depth
                if age is not None and (entry[1] is None or age > entry[1]):
                    entry[1] = age
        return [
            {
                "channel": queue,
                "depth": depth,
                "capacity": self.capacity(queue),
                "oldest_age": age if depth else None,
            }
            for queue, (depth, age) in sorted(merged.items())
        ]

    def _waiting_queues(self, shard: Shard) -> dict[str, Backlog]:
        """Every non-empty queue on ``shard``, found by scanning in batches."""
        found: dict[str, Backlog] = {}
        base = self.prefix + shard.tag
        start = len(base)
        for keys in self.scan(shard, glob_escape(base) + "*", "list"):
            queues = {}
            for key in keys:
                name = key.decode("utf-8", "replace")[start:]
                if self.is_channel(name):
                    queues[name] = key
            found.update(self._read_queues(shard, queues))
        return {queue: backlog for queue, backlog in found.items() if backlog[0] > 0}

    def _named_queues(self, shard: Shard, queues: list[str]) -> dict[str, Backlog]:
        """The backlog of those ``queues`` that may live on ``shard``."""
        here = [queue for queue in queues if shard in self.ring.queue_shards(queue)]
        found: dict[str, Backlog] = {}
        for i in range(0, len(here), self.batch):
            chunk = here[i : i + self.batch]
            found.update(self._read_queues(shard, {q: self.prefix + shard.tag + q for q in chunk}))
        return found

    def _read_queues(self, shard: Shard, queues: dict[str, Any]) -> dict[str, Backlog]:
        """``{queue: (depth, oldest age)}`` of ``queues`` (name -> key) in one call."""
        if not queues:
            return {}
        reply = shard.run(QUEUE_HEADS, list(queues.values()), ())
        now = shard.server_time_ms()
        backlog: dict[str, Backlog] = {}
        for position, queue in enumerate(queues):
            depth, head = int(reply[2 * position]), reply[2 * position + 1]
            backlog[queue] = (depth, self._age(head, now))
        return backlog

    def _age(self, head: bytes, now_ms: float) -> float | None:
        """Seconds since the message with deadline ``head`` was sent, or None."""
        if len(head) != DEADLINE_DIGITS or not head.isdigit():
            return None
        return max((now_ms - (int(head) - self.expiry_ms)) / 1000, 0.0)

    # -- groups ------------------------------------------------------------------------

    def groups(self, members: bool) -> list[dict[str, Any]]:
        """``{"group", "size"}`` (plus sorted ``"members"``) of every group
        with live members, summed over the shards."""
        sizes: dict[str, int] = {}
        listed: dict[str, set[str]] = {}
        for part in self._each_shard(lambda shard: self._shard_groups(shard, members)):
            for group, (size, names) in part.items():
                sizes[group] = sizes.get(group, 0) + size
                listed.setdefault(group, set()).update(names)
        result = []
        for group in sorted(sizes):
            if sizes[group] <= 0:
                continue
            entry: dict[str, Any] = {"group": group, "size": sizes[group]}
            if members:
                entry["members"] = sorted(listed[group])
            result.append(entry)
        return result

    def _shard_groups(self, shard: Shard, members: bool) -> dict[str, tuple[int, list[str]]]:
        """``{group: (live members here, their names when asked)}`` on ``shard``."""
        base = self.prefix + shard.tag + "group:"
        cutoff = int(shard.server_time_ms()) - self.group_expiry_ms
        found: dict[str, tuple[int, list[str]]] = {}
        for keys in self.scan(shard, glob_escape(base) + "*", "zset"):
            named = [(key.decode("utf-8", "replace")[len(base) :], key) for key in keys]
            named = [(group, key) for group, key in named if self.is_group(group)]
            if not named:
                continue
            counts = shard.call_many([("ZCOUNT", key, f"({cutoff}", "+inf") for _, key in named])
            for (group, key), count in zip(named, counts):
                names = self._live_members(shard, key, cutoff) if members and count else []
                found[group] = (int(count), names)
        return found

    def _live_members(self, shard: Shard, key: bytes, cutoff: int) -> list[str]:
        """The members of one group's sorted set added after ``cutoff``, by ``ZSCAN``."""
        names = []
        cursor: Any = b"0"
        while True:
            cursor, flat = shard.call("ZSCAN", key, cursor, "COUNT", self.batch)
            for member, score in _pairs(flat).items():
                if float(score) > cutoff:
                    names.append(member.decode("utf-8", "replace"))
            if cursor in (b"0", 0, "0"):
                return names

    # -- shards ------------------------------------------------------------------------

    def shards(self) -> list[dict[str, Any]]:
        """``{"shard", "reachable", "latency"}`` per shard; never raises.

        The first ``PING`` may have to connect; the second's round trip
        is the latency.
        """
        result = []
        for shard in self.ring.shards:
            latency: float | None
            try:
                shard.call("PING")
                started = time.perf_counter()
                shard.call("PING")
                latency = time.perf_counter() - started
            except Exception as exc:  # noqa: BLE001 - reported, never raised
                logger.debug("Shard %s did not answer a PING: %r", shard.where, exc)
                latency = None
            result.append(
                {"shard": shard.where, "reachable": latency is not None, "latency": latency}
            )
        return result

    # -- scanning ----------------------------------------------------------------------

    def scan(self, shard: Shard, pattern: str, kind: str) -> Iterator[list[bytes]]:
        """The keys of type ``kind`` matching ``pattern`` on ``shard``, a
        ``SCAN`` step (``COUNT batch``) at a time. A key may come twice."""
        cursor: Any = b"0"
        while True:
            cursor, keys = shard.call(
                "SCAN", cursor, "MATCH", pattern, "COUNT", self.batch, "TYPE", kind
            )
            if keys:
                yield keys
            if cursor in (b"0", 0, "0"):
                return

    def _each_shard(self, read: Callable[[Shard], Any]) -> list[Any]:
        """``read(shard)`` for every shard; an unreachable shard is skipped
        when another answered (it shows in :meth:`shards`), else its error
        is raised."""
        results, errors = [], []
        for shard in self.ring.shards:
            try:
                results.append(read(shard))
            except RedisUnavailable as exc:
                logger.debug("Inspection left out shard %s: %r", shard.where, exc)
                errors.append(exc)
        if errors and not results:
            raise errors[0]
        return results


def _pairs(reply: Any) -> dict[Any, Any]:
    """A field-value reply (``HGETALL``) as a dict, flat list or map alike."""
    if isinstance(reply, dict):
        return reply
    return {reply[i]: reply[i + 1] for i in range(0, len(reply), 2)}
