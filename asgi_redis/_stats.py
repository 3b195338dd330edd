"""The ``statistics`` extension of the Redis layer (SPEC 1.3 and 3.1).

Counters are written by the send scripts in the same round trip as the
message; this module only reads them. Beyond 1.x it reports the
per-second rates (the mean over the last ten whole seconds, from the
per-second buckets the scripts keep) and global pending counts.
"""

from __future__ import annotations

from typing import Any

from ._codec import parse_item

__all__ = [
    "STAT_CHANNEL_FULL",
    "STAT_MESSAGES_COUNT",
    "STAT_MESSAGES_MAX_AGE",
    "STAT_MESSAGES_PENDING",
    "StatisticsMixin",
]

STAT_MESSAGES_COUNT = "messages_count"
STAT_MESSAGES_PENDING = "messages_pending"
STAT_MESSAGES_MAX_AGE = "messages_max_age"
STAT_CHANNEL_FULL = "channel_full_count"

#: Per-second rates average this many whole seconds.
RATE_WINDOW = 10


class StatisticsMixin:
    """``global_statistics()`` and ``channel_statistics(channel)``."""

    global_stats_key = "#global#"
    STAT_MESSAGES_COUNT = STAT_MESSAGES_COUNT
    STAT_MESSAGES_PENDING = STAT_MESSAGES_PENDING
    STAT_MESSAGES_MAX_AGE = STAT_MESSAGES_MAX_AGE
    STAT_CHANNEL_FULL = STAT_CHANNEL_FULL

    def _stats_args(self, queue: str) -> list[Any]:
        """Script arguments naming the counters one send bumps."""
        if not self.stats_prefix:
            return ["", 0, "", 0]
        return [
            f"{self.stats_prefix}{queue}:",
            self.channel_statistics_expiry,
            f"{self.stats_prefix}{self.global_stats_key}:",
            self.global_statistics_expiry,
        ]

    def _read_counters(self, shards: list, base: str) -> dict[str, float]:
        """Counters and per-second rates under ``base``, summed over ``shards``."""
        stats = {
            STAT_MESSAGES_COUNT: 0,
            STAT_CHANNEL_FULL: 0,
            f"{STAT_MESSAGES_COUNT}_per_second": 0.0,
            f"{STAT_CHANNEL_FULL}_per_second": 0.0,
        }
        for shard in shards:
            second = int(shard.server_time_ms() // 1000)
            keys = []
            for stat in (STAT_MESSAGES_COUNT, STAT_CHANNEL_FULL):
                keys.append(f"{base}{stat}")
                keys.extend(f"{base}{stat}@{second - n}" for n in range(1, RATE_WINDOW + 1))
            values = [int(v or 0) for v in shard.call("MGET", *keys)]
            width = RATE_WINDOW + 1
            for index, stat in enumerate((STAT_MESSAGES_COUNT, STAT_CHANNEL_FULL)):
                chunk = values[index * width : (index + 1) * width]
                stats[stat] += chunk[0]
                stats[f"{stat}_per_second"] += sum(chunk[1:]) / RATE_WINDOW
        return stats

    def global_statistics(self) -> dict[str, float]:
        """Counts over all channels and shards: messages_count,
        channel_full_count and their ``_per_second`` rates."""
        return self._read_counters(self._shards, f"{self.stats_prefix}{self.global_stats_key}:")

    def channel_statistics(self, channel: str) -> dict[str, float]:
        """Counts for one channel (for ``!`` channels: its process inbox):
        messages_count, channel_full_count, their ``_per_second`` rates,
        messages_pending and messages_max_age (seconds)."""
        self.valid_channel_name(channel)
        queue = self.non_local_name(channel)
        shards = self._queue_shards(queue)
        stats = self._read_counters(shards, f"{self.stats_prefix}{queue}:")
        pending, max_age = 0, 0.0
        key = self.prefix + queue
        for shard in shards:
            pending += int(shard.call("LLEN", key))
            head = shard.call("LINDEX", key, 0)
            if head:
                deadline, _, _ = parse_item(head)
                age = (shard.server_time_ms() - (deadline - self._expiry_ms)) / 1000
                max_age = max(max_age, age)
        stats[STAT_MESSAGES_PENDING] = pending
        stats[STAT_MESSAGES_MAX_AGE] = round(max(max_age, 0.0), 3)
        return stats
