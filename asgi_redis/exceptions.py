"""Exceptions of the Redis channel layer (beyond the spec's ChannelFull and
MessageTooLarge, which come from :mod:`asgi.exceptions`)."""

from __future__ import annotations

import redis

__all__ = ["RedisCommandError", "RedisUnavailable", "UnsupportedRedis"]


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


class UnsupportedRedis(Exception):
    """Raised when the server lacks a command the layer needs (Redis >= 6 is required: sub-second blocking pops, CLIENT UNBLOCK)."""
