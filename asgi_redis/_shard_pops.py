"""A non-blocking pop on several shards at once, for ``receive_batch``.

See docs/topics/backends.rst, "Sharding".

Every shard's pop is written before any reply is read, so the pops share
one wait instead of taking a round trip each, and each shard is asked for
its share of the batch, so no more than the batch comes (nothing popped is
left waiting in the process). A shard that cannot be reached is marked
down in the ring (when others can answer) and skipped; a command error is
reported only once every reply is read, so no popped message is dropped
with it.
"""

from __future__ import annotations

from collections.abc import Callable

from ._ring import ShardRing
from ._shard import Script, Shard
from .exceptions import RedisCommandError, RedisUnavailable

__all__ = ["pop_shares", "split_limit"]

#: ``(shard, list keys to pop there, how many items)``.
Share = tuple[Shard, list[bytes], int]


def split_limit(plan: list[tuple[Shard, list[bytes]]], limit: int) -> list[Share]:
    """``limit`` split over ``plan``'s shards, the first ones taking the
    remainder; shards left at 0 (``limit`` below the shard count) are not asked."""
    base, extra = divmod(limit, len(plan))
    shares = []
    for position, (shard, keys) in enumerate(plan):
        count = base + (position < extra)
        if count:
            shares.append((shard, keys, count))
    return shares


def pop_shares(
    shares: list[Share],
    fallback: Script,
    ring: ShardRing,
    keep: Callable[[Shard, list], None],
) -> tuple[list[tuple[Shard, list]], Exception | None]:
    """``([(shard, [key, item, ...]), ...], error)``: the non-empty replies
    of one pop per share, and the error to raise once the caller has kept
    those replies (the first command error; ``RedisUnavailable`` only when
    every shard failed). ``keep`` buffers a reply when the calls are
    interrupted (KeyboardInterrupt) after it was read."""
    several = len(shares) > 1
    failed: list[RedisUnavailable] = []
    started = _start(shares, fallback, ring, failed, several)
    replies, error = _finish(started, fallback, ring, failed, several, keep)
    if error is None and len(failed) == len(shares):
        error = failed[0]
    return replies, error


def _start(
    shares: list[Share], fallback: Script, ring: ShardRing, failed: list, several: bool
) -> list[tuple[Shard, tuple]]:
    """Write each share's pop; the shards that cannot be reached go to ``failed``."""
    started: list[tuple[Shard, tuple]] = []
    try:
        for shard, keys, count in shares:
            try:
                started.append((shard, shard.start_pop(keys, count, fallback)))
            except RedisUnavailable as exc:
                _failed(ring, shard, exc, failed, several)
    except BaseException:
        for shard, call in started:  # interrupted: those replies are never read
            shard.abandon_pop(call)
        raise
    return started


def _finish(
    started: list[tuple[Shard, tuple]],
    fallback: Script,
    ring: ShardRing,
    failed: list,
    several: bool,
    keep: Callable[[Shard, list], None],
) -> tuple[list[tuple[Shard, list]], Exception | None]:
    """Read every started pop: the non-empty replies and the first command error."""
    replies: list[tuple[Shard, list]] = []
    error: Exception | None = None
    try:
        while started:
            shard, call = started.pop(0)
            try:
                reply = shard.finish_pop(call, fallback)
            except RedisUnavailable as exc:
                _failed(ring, shard, exc, failed, several)
                reply = None
            except RedisCommandError as exc:
                error, reply = error or exc, None
            if reply:
                replies.append((shard, reply))
    except BaseException:
        for shard, call in started:  # interrupted: those replies are never read
            shard.abandon_pop(call)
        for shard, reply in replies:
            keep(shard, reply)
        raise
    return replies, error


def _failed(
    ring: ShardRing, shard: Shard, error: RedisUnavailable, failed: list, several: bool
) -> None:
    """Note a shard that failed its pop (marked down when others can answer)."""
    if several:
        ring.failed(shard, error)
    failed.append(error)
