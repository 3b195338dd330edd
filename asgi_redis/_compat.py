"""The one door to the private names of redis-py the layer relies on (STYLE 14).

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
:class:`StockLink` (redis-py's own ``send_packed_command``,
``read_response`` and ``can_read``), and the reactor's receives and sends
go through the thread pool, as for a TLS shard.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Sequence
from typing import Any

import redis
from redis import exceptions as redis_errors

from ._link import Link
from .exceptions import RedisUnavailable

__all__ = ["REDIS_SOCKET", "FastPath", "StockLink", "connection_socket", "forget_socket"]

logger = logging.getLogger("asgi_redis.compat")


class FastPath:
    """One fast path: the check that what it relies on is there, and
    whether it is on in this process (daphne's ``_compat.FastPath``, kept
    apart because asgi_redis does not import daphne).

    ``check`` returns what is missing; it runs on the first
    :meth:`available`, which logs one INFO line when something is. Tests
    force the stock path by replacing ``check`` and clearing the remembered
    answer (``tests/support/fast_paths.py``).
    """

    def __init__(self, name: str, stock: str, check: Callable[[], Sequence[str]]) -> None:
        self.name = name
        self.stock = stock
        self.check = check
        self._available: bool | None = None

    def available(self) -> bool:
        """Whether this fast path is on (checked once, then remembered)."""
        if self._available is None:
            missing = list(self.check())
            self._available = not missing
            if missing:
                logger.info(
                    "Fast path %s is off (not found: %s); using %s",
                    self.name,
                    ", ".join(missing),
                    self.stock,
                )
        return self._available

    def reset(self) -> None:
        """Forget the check's answer; the next :meth:`available` checks again."""
        self._available = None


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


#: redis-py's error classes whose message lost the reply's error code
#: (redis-py 5.0-8.2 strip the codes they know), and that code.
_ERROR_CODES: tuple[tuple[type[Exception], str], ...] = (
    (redis_errors.ReadOnlyError, "READONLY"),
    (redis_errors.BusyLoadingError, "LOADING"),
    (redis_errors.OutOfMemoryError, "OOM"),
    (redis_errors.NoScriptError, "NOSCRIPT"),
    (redis_errors.ExecAbortError, "EXECABORT"),
    (redis_errors.NoPermissionError, "NOPERM"),
)


def error_reply_text(error: Exception) -> str:
    """The error reply as the server sent it (``CODE message``), as near as
    redis-py's exception lets us tell: the code it stripped is put back."""
    for cls, code in _ERROR_CODES:
        if isinstance(error, cls):
            return f"{code} {error}"
    return str(error)


class StockLink(Link):
    """A :class:`~asgi_redis._link.Link` that does its I/O through redis-py's
    own public connection methods: what the layer uses when redis-py's
    socket is out of reach. Slower (redis-py's parser per reply); its
    ``sock`` is the redis-py connection itself, set while open."""

    def open(self) -> None:
        if self.sock is not None:
            return
        self.dial()
        self.sock = self.connection
        self.pollable = False
        self.client_id = None

    def write(self, data: bytes) -> None:
        self.open()
        try:
            self.connection.send_packed_command([data], check_health=False)
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            self.close()
            raise RedisUnavailable(f"Lost the connection to Redis at {self.where}: {exc}") from exc

    def read(self, timeout: float | None = None) -> Any:
        """One reply, waiting at least ``timeout`` seconds (the connection's
        own socket timeout when that is longer)."""
        connection = self.connection
        try:
            if timeout is not None and (self.default_timeout or 0) < timeout:
                if not connection.can_read(timeout=timeout):
                    raise redis.TimeoutError("no reply")
            return connection.read_response(disable_decoding=True)
        except redis.AuthenticationError as exc:
            self.close()
            raise RedisUnavailable(f"Redis at {self.where} refused the credentials: {exc}") from exc
        except redis.ResponseError as exc:
            self._raise_reply_error(Exception(error_reply_text(exc)))
        except redis.TimeoutError as exc:
            self.close()
            raise RedisUnavailable(
                f"Redis at {self.where} did not answer within the socket timeout"
            ) from exc
        except (redis.ConnectionError, OSError) as exc:
            self.close()
            raise RedisUnavailable(f"Lost the connection to Redis at {self.where}: {exc}") from exc

    def pending(self, timeout: float = 0) -> bool:
        """True when a reply (or an error, such as a closed connection) is
        ready to read, waiting up to ``timeout``."""
        try:
            return bool(self.connection.can_read(timeout=timeout))
        except (redis.ConnectionError, OSError):
            return True  # the read will say what went wrong

    def fileno(self) -> int:
        raise RedisUnavailable("A link on redis-py's own reads has no file descriptor")


def link_class() -> type[Link]:
    """The class of the links a pool hands out: :class:`Link` on redis-py's
    socket, or :class:`StockLink` when :data:`REDIS_SOCKET` is off."""
    return Link if REDIS_SOCKET.available() else StockLink
