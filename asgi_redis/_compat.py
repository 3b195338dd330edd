"""The one door to the private names of redis-py the layer relies on .

redis-py dials and authenticates every connection (URLs, TLS, unix sockets,
passwords, Sentinel discovery); the layer's fast paths then talk RESP on
its socket themselves: a :class:`~asgi_redis._link.Link` reads replies with
its own hiredis reader (half the per-command cost of redis-py's reads), and
:mod:`asgi_redis._reactor_io` hands the socket to the Twisted reactor.
redis-py has no public name for that socket, so both rely on
``Connection._sock``, the ``socket.socket`` a connected ``Connection``
holds (checked: redis-py 5.0.0 and 8.2.0, the ``py311-oldest`` and
``py311-newest`` tox environments).

:data:`REDIS_SOCKET` checks once, when the first link pool is made (the
layer's start-up), that redis-py still keeps it there. When it does not,
one INFO line says so and the layer takes the stock path: links are
:class:`~asgi_redis._link.StockLink` (redis-py's own ``send_packed_command``,
``read_response`` and ``can_read``), and the reactor's receives and sends
go through the thread pool, as for a TLS shard.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

import redis

from asgi._fast_path import FastPath

from .exceptions import RedisUnavailable

__all__ = ["REDIS_SOCKET", "FastPath", "connection_socket", "forget_socket"]

logger = logging.getLogger("asgi_redis.compat")


def _check_socket() -> list[str]:
    # A Connection is built without dialling; redis-py 5.0-8.2 sets
    # ``_sock = None`` in its constructor and the socket in ``connect()``.
    try:
        connection = redis.connection.Connection()
    except Exception as exc:  # noqa: BLE001 - any failure means "not as checked"
        return [f"redis.connection.Connection() ({exc})"]
    return [] if "_sock" in vars(connection) else ["redis.connection.Connection._sock"]


REDIS_SOCKET = FastPath(
    "redis_socket",
    "redis-py's own reads and writes, and threads instead of the reactor",
    _check_socket,
    logger,
)


def connection_socket(connection: Any) -> socket.socket:
    """The socket of a connected redis-py ``connection`` (``_sock``).
    Only called when :data:`REDIS_SOCKET` is available."""
    sock = connection._sock
    if not isinstance(sock, socket.socket):
        raise RedisUnavailable(f"redis-py's connection holds no socket (found {sock!r})")
    return sock


def forget_socket(connection: Any) -> None:
    """Make redis-py forget the socket of ``connection`` (its new owner, the
    reactor, closes it; redis-py's ``disconnect`` must not shut it down)."""
    connection._sock = None
