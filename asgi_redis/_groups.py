"""The ``groups`` extension of the Redis layer.

See docs/asgi/layers.rst, "Extensions", and docs/topics/backends.rst, "Groups".

Membership lives beside the member's queue: each shard holds, for a group,
the members whose queues it holds (a sorted set scored by the time of the
last ``group_add``, and a hash of their capacities). So ``send_group`` is
one script call per shard, all shards called at once, and each script fans
the message out to its own members inside Redis, one copy per process
inbox for process-specific members. :mod:`asgi_redis._scripts` has the
scripts' contracts.
"""

from __future__ import annotations

import math
from typing import Any

from . import _scripts
from ._shard import Script, Shard
from .exceptions import RedisUnavailable

__all__ = ["GroupsMixin"]

GROUP_ADD = Script(_scripts.GROUP_ADD)
GROUP_DISCARD = Script(_scripts.GROUP_DISCARD)
GROUP_CHANNELS = Script(_scripts.GROUP_CHANNELS)
SEND_GROUP = Script(_scripts.SEND_GROUP)


class GroupsMixin:
    """``group_add``, ``group_discard``, ``group_channels``, ``send_group``."""

    def _group_key(self, group: str) -> str:
        """The sorted set holding the members of ``group``."""
        return self._group_keys(group)[0]

    def _group_keys(self, group: str) -> tuple[str, str]:
        return f"{self.prefix}group:{group}", f"{self.prefix}groupcap:{group}"

    def _member_shard(self, channel: str) -> Shard:
        # Membership lives beside the member's queue, so each shard can fan
        # a group message out to its own members in one script call.
        return self._shards[self.consistent_hash(self.non_local_name(channel))]

    def group_add(self, group: str, channel: str) -> None:
        """Add ``channel`` to ``group`` (idempotent; refreshes its expiry)."""
        self.valid_group_name(group)
        self.valid_channel_name(channel)
        self._member_shard(channel).run(
            GROUP_ADD,
            self._group_keys(group),
            (channel, self.get_capacity(channel), math.ceil(self.group_expiry)),
        )

    def group_discard(self, group: str, channel: str) -> None:
        """Remove ``channel`` from ``group``; no error if it is not a member."""
        self.valid_group_name(group)
        self.valid_channel_name(channel)
        self._member_shard(channel).run(GROUP_DISCARD, self._group_keys(group), (channel,))

    def group_channels(self, group: str) -> list[str]:
        """The live members of ``group`` (expired ones are dropped first)."""
        self.valid_group_name(group)
        replies = self._run_everywhere(
            GROUP_CHANNELS, self._group_keys(group), (self._group_expiry_ms,)
        )
        return [member.decode() for reply in replies for member in reply]

    def send_group(self, group: str, message: dict) -> None:
        """Send ``message`` to every member: one script call per shard.

        Never raises ChannelFull (a full member misses the message); members
        of one process share one copy in their process inbox.
        """
        self.check_message_type(message)
        self.valid_group_name(group)
        payload = self._encode(group, message)
        global_base, global_ttl = self._global_stats_args()
        args = (
            payload,
            self.prefix,
            self._expiry_ms,
            self._group_expiry_ms,
            self._queue_ttl_ms,
            self.capacity,
            self.stats_prefix,
            self.channel_statistics_expiry,
            global_base,
            global_ttl,
        )
        # Members on a lost shard miss the message (it is logged); the call
        # raises only when no shard could be reached.
        self._run_everywhere(SEND_GROUP, self._group_keys(group), args, partial=True)

    def _run_everywhere(
        self, script: Script, keys: Any, args: Any, partial: bool = False
    ) -> list[Any]:
        """Run one script on every shard, the calls overlapping (one round
        trip of latency in all). With ``partial``, unreachable shards are
        logged and skipped as long as one shard answered."""
        if self.ring_size == 1:
            return [self._shards[0].run(script, keys, args)]
        started, results, errors = [], [], []
        for shard in self._shards:
            try:
                started.append((shard, shard.start(script, keys, args)))
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
                self._shard_failed(shard, exc)
        return results
