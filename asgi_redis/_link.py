"""Fast request/reply connections to one Redis server: the transport under the layer.

See docs/topics/backends.rst, "How a message travels".

redis-py builds and authenticates the connection (URLs, TLS, unix sockets,
passwords, ``connection_kwargs``, Sentinel discovery); after that a
:class:`Link` talks RESP on the socket itself with a hiredis reader, which
halves the per-command cost of the message path: the blocking driver over
the sans-IO RESP rules of :mod:`asgi_redis._resp` (``pack`` and
``reply_error`` are re-exported here). A :class:`LinkPool` hands
out links to threads; every failure becomes :class:`RedisUnavailable` or
:class:`RedisCommandError` with a message naming the server. The socket
comes from redis-py through :mod:`asgi_redis._compat`; when it cannot be
had, pools hand out that module's ``StockLink`` (redis-py's own reads).
"""

from __future__ import annotations

import os
import select
import socket
import ssl
import struct
import threading
import time
from typing import Any

import hiredis
import redis
from redis import exceptions as redis_errors
from redis.exceptions import AuthenticationError

from ._compat import REDIS_SOCKET, connection_socket
from ._resp import pack, reply_error
from .exceptions import RedisUnavailable

__all__ = [
    "Link",
    "LinkPool",
    "StockLink",
    "error_reply_text",
    "link_class",
    "pack",
    "readable",
    "ready_links",
    "reply_error",
]

#: Seconds after which an idle link is checked for a closed socket.
STALE_AFTER = 0.25

#: Seconds a link waits for a reply by polling its socket before it sleeps
#: in ``recv`` (see :meth:`Link.read`).
DEFAULT_SPIN = 50e-6

#: Bytes asked of one ``recv``. Python allocates the whole size before the
#: call; above glibc's mmap threshold (128 KiB until the process frees a
#: larger mapped block) that is an mmap, an mremap and a munmap per read:
#: 8.7 against 0.85 us a read for 256 KiB in a fresh process here.
READ_SIZE = 65536


def readable(socks: list, timeout: float) -> list:
    """The sockets of ``socks`` with data (or EOF) to read, waiting up to
    ``timeout`` seconds. poll(), not select(): a daphne holding thousands of
    client sockets has descriptors above select()'s limit of 1024."""
    poller = select.poll()
    by_fd = {}
    for sock in socks:
        by_fd[sock.fileno()] = sock
        poller.register(sock, select.POLLIN | select.POLLPRI)
    events = poller.poll(None if timeout is None else max(timeout, 0) * 1000)
    return [by_fd[fd] for fd, _ in events]


class Link:
    """One connected socket; not thread-safe (a pool gives it to one thread)."""

    def __init__(self, connection: Any, where: str) -> None:
        self.connection = connection  # the redis-py connection that dialled it
        self.where = where
        self.sock: socket.socket | None = None
        self.reader = hiredis.Reader()
        self.client_id: int | None = None
        self.generation = 0
        self.released_at = 0.0
        self.default_timeout: float | None = connection.socket_timeout
        #: Seconds to poll for a reply before sleeping (0: sleep at once).
        self.spin = DEFAULT_SPIN
        self.pollable = False

    def open(self) -> None:
        if self.sock is not None:
            return
        self.dial()
        self.sock = connection_socket(self.connection)
        # Blocking mode with kernel timeouts (SO_RCVTIMEO/SO_SNDTIMEO):
        # a Python socket timeout would put a poll() before every send and
        # every recv, two extra system calls per command.
        self.sock.settimeout(None)
        # recv flags are refused on TLS sockets: those sleep for replies.
        self.pollable = not isinstance(self.sock, ssl.SSLSocket)
        _set_timeout(self.sock, socket.SO_SNDTIMEO, self.default_timeout)
        _set_timeout(self.sock, socket.SO_RCVTIMEO, self.default_timeout)
        self.reader = hiredis.Reader()
        self.client_id = None

    def dial(self) -> None:
        """Connect (and authenticate) through redis-py; its errors become
        :class:`RedisUnavailable` naming the server."""
        try:
            self.connection.connect()
        except AuthenticationError as exc:
            raise RedisUnavailable(
                f"Redis at {self.where} refused the credentials: {exc}. "
                "Check the password (and username) in the host URL."
            ) from exc
        except redis.RedisError as exc:
            raise RedisUnavailable(f"Redis at {self.where} is unreachable: {exc}") from exc

    def close(self) -> None:
        self.sock = None
        self.client_id = None
        try:
            self.connection.disconnect()
        except Exception:  # noqa: BLE001 - closing a broken socket may fail again
            pass

    # -- I/O ---------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        self.open()
        try:
            self.sock.sendall(data)
        except OSError as exc:
            self.close()
            raise RedisUnavailable(f"Lost the connection to Redis at {self.where}: {exc}") from exc
        except BaseException:
            # interrupted (KeyboardInterrupt from SIGINT...): part of a command may be written
            self.close()
            raise

    def read(self, timeout: float | None = None) -> Any:
        """Read one reply, waiting at least ``timeout`` seconds (a longer
        socket timeout is kept: changing it costs two system calls).

        A reply that is not there yet is first polled for, up to ``spin``
        seconds, yielding the core between polls. Sleeping in ``recv`` at
        once costs a wake-up per reply, which on an idle virtual machine is
        most of a loopback round trip (tens of microseconds); polling keeps
        that off the message path while costing at most ``spin`` of CPU for
        a reply that is slow to come (a blocking receive with nothing to
        read).
        """
        reader = self.reader
        reply = reader.gets()
        if reply is False:
            sock = self.sock
            if timeout is not None and (self.default_timeout or 0) >= timeout:
                timeout = None  # the link's own timeout is long enough already
            if timeout is not None:
                _set_timeout(sock, socket.SO_RCVTIMEO, timeout)
            try:
                if self.spin and self.pollable:
                    reply = self._poll(sock, reader)
                while reply is False:
                    data = sock.recv(READ_SIZE)
                    if not data:
                        raise ConnectionResetError("connection closed by the server")
                    reader.feed(data)
                    reply = reader.gets()
            except (TimeoutError, BlockingIOError) as exc:
                # BlockingIOError (EAGAIN): the kernel's receive timeout ran out
                self.close()
                raise RedisUnavailable(
                    f"Redis at {self.where} did not answer within the socket timeout"
                ) from exc
            except OSError as exc:
                self.close()
                raise RedisUnavailable(
                    f"Lost the connection to Redis at {self.where}: {exc}"
                ) from exc
            except BaseException:
                # Interrupted while waiting (KeyboardInterrupt from SIGINT, an
                # exception from a signal handler): the reply is still on its
                # way, and a blocking pop still waiting in Redis would take a
                # message for nobody. Closed, the link goes back to the pool
                # to reconnect, and Redis drops the pop.
                self.close()
                raise
            finally:
                if timeout is not None and self.sock is not None:
                    _set_timeout(sock, socket.SO_RCVTIMEO, self.default_timeout)
        if isinstance(reply, hiredis.ReplyError):
            self._raise_reply_error(reply)
        return reply

    def _poll(self, sock: socket.socket, reader: Any) -> Any:
        """The reply if it comes within ``spin`` seconds, else False."""
        deadline = 0.0
        while True:
            try:
                data = sock.recv(READ_SIZE, socket.MSG_DONTWAIT)
            except BlockingIOError:
                now = time.perf_counter()
                if not deadline:
                    deadline = now + self.spin
                elif now >= deadline:
                    return False
                os.sched_yield()  # another process ready to run goes first
                continue
            if not data:
                raise ConnectionResetError("connection closed by the server")
            reader.feed(data)
            reply = reader.gets()
            if reply is not False:
                return reply

    def call(self, *args: Any) -> Any:
        self.write(pack(args))
        return self.read()

    def pending(self, timeout: float = 0) -> bool:
        """True when a reply is ready to read (waiting up to ``timeout``)."""
        if self.reader.has_data():
            return True
        return bool(readable([self.sock], timeout))

    def fileno(self) -> int:
        return self.sock.fileno()

    def _raise_reply_error(self, reply: Exception) -> None:
        error, reconnect = reply_error(self.where, reply)
        if reconnect:
            self.close()
        raise error


class LinkPool:
    """Idle links to one server, shared by the threads of one layer."""

    def __init__(self, connection_pool: Any, where: str) -> None:
        self.connection_pool = connection_pool
        self.where = where
        self._idle: list[Link] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self.generation = 0
        #: ``Link.spin`` of the links this pool hands out.
        self.spin = DEFAULT_SPIN
        #: Links handed out and not yet back.
        self.out = 0
        #: ``Link``, or ``StockLink`` when redis-py's socket is out of reach.
        self.link_class = link_class()

    def acquire(self) -> Link:
        """A link for one thread's command. It polls for its reply (``spin``)
        only when no other link is out: another thread of this process
        waiting on Redis will want the core and the GIL that polling holds."""
        with self._lock:
            if self._pid != os.getpid():
                # Forked: the parent's sockets are not ours to use.
                self._idle = []
                self._pid = os.getpid()
                self.out = 0
            self.out += 1
            spin = self.spin if self.out == 1 else 0.0
            if self._idle:
                link = self._idle.pop()
                # A link idle for a while may have been closed by a restarted
                # server (or an idle timeout): look before using it. One used
                # a moment ago is trusted, which saves a syscall per command.
                if (
                    link.sock is not None
                    and time.monotonic() - link.released_at > STALE_AFTER
                    and not _is_clean(link)
                ):
                    link.close()
                link.spin = spin
                return link
        link = self.link_class(self.connection_pool.make_connection(), self.where)
        link.generation = self.generation
        link.spin = spin
        return link

    def release(self, link: Link) -> None:
        with self._lock:
            self.out = max(self.out - 1, 0)
            if link.generation != self.generation:
                # Checked out before disconnect(): its server may be gone or
                # no longer the master.
                link.close()
                link.generation = self.generation
            link.released_at = time.monotonic()
            self._idle.append(link)

    def disconnect(self) -> None:
        """Close every idle link, and every busy one when it comes back
        (they reconnect on next use)."""
        with self._lock:
            self.generation += 1
            for link in self._idle:
                link.close()
                link.generation = self.generation


def _set_timeout(sock: socket.socket, option: int, seconds: float | None) -> None:
    """Set a kernel send or receive timeout (None or 0: wait for ever)."""
    whole = int(seconds or 0)
    micros = int(((seconds or 0) - whole) * 1_000_000)
    sock.setsockopt(socket.SOL_SOCKET, option, struct.pack("ll", whole, micros))


def _is_clean(link: Link) -> bool:
    """False when the server closed the socket while it sat idle (a restart)."""
    try:
        return not link.pending(0)
    except (OSError, ValueError):
        return False


def ready_links(links: list[Link], timeout: float) -> list[Link]:
    """The links of ``links`` with a reply (or EOF) to read, waiting up to
    ``timeout`` seconds: one poll() on their sockets, or, for links on
    redis-py's own reads (``StockLink``), asking each in turn."""
    by_sock = {link.sock: link for link in links}
    if all(isinstance(sock, socket.socket) for sock in by_sock):
        return [by_sock[sock] for sock in readable(list(by_sock), timeout)]
    deadline = time.monotonic() + timeout
    while True:
        ready = [link for link in links if link.pending(0)]
        if ready or time.monotonic() >= deadline:
            return ready
        time.sleep(0.001)


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
    socket, or :class:`StockLink` when :data:`~asgi_redis._compat.REDIS_SOCKET` is off."""
    return Link if REDIS_SOCKET.available() else StockLink
