"""Exceptions of the Redis channel layer (beyond the spec's ChannelFull and
MessageTooLarge, which come from :mod:`asgi.exceptions`)."""

from __future__ import annotations

import redis

__all__ = ["RedisCommandError", "RedisUnavailable", "RedisWritesRefused", "UnsupportedRedis"]


class RedisUnavailable(redis.ConnectionError):
    """Raised promptly when a Redis server cannot be reached, drops the
    connection, refuses the credentials, or cannot take writes (``READONLY``
    after a failover, ``LOADING``, ``MASTERDOWN``, ``OOM`` under
    ``maxmemory`` with ``noeviction``, ``MISCONF`` after a failed save).

    A ``redis.ConnectionError`` subclass, so code that caught redis-py's
    errors keeps working. The layer reconnects by itself on the next call.
    """


class RedisCommandError(redis.ResponseError):
    """Raised when Redis answers a command with an error the layer did not expect."""


class RedisWritesRefused(RedisUnavailable, RedisCommandError):
    """Raised when a reachable Redis refuses writes for a while: ``OOM``
    (``maxmemory`` reached with the ``noeviction`` policy) or ``MISCONF`` (a
    failed background save with ``stop-writes-on-bgsave-error``).

    A :class:`RedisUnavailable`, since it is an outage to wait out (daphne
    answers 503 / close 1013), and still a :class:`RedisCommandError` (a
    ``redis.ResponseError``), as these replies were before, for code that
    catches those.
    """


class UnsupportedRedis(Exception):
    """Raised when the server lacks a command the layer needs (Redis >= 6 is required: sub-second blocking pops, CLIENT UNBLOCK)."""
