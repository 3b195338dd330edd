"""Redis I/O on the Twisted reactor itself: the fast paths of
``receive_twisted`` and ``send_batch_twisted`` (the ``twisted``
extension of docs/asgi/layers.rst, "Extensions").

Handing each blocking receive to a thread, and each send to a sender
thread, cost daphne about a fifth of its reactor's time under load (a
thread-pool submit, a thread wake-up, a ``callFromThread`` back, a GIL
hand-off per frame). Here the connections are the reactor's own: a
``BLMPOP`` or a pipeline of ``RPUSH`` commands is written without blocking
and the replies are parsed when the socket becomes readable, with no thread
between Redis and the caller's Deferred.

Dialling stays blocking code: redis-py makes and authenticates the
connection (URLs, unix sockets, passwords, Sentinel discovery) in the
layer's receive thread pool, then the reactor adopts the socket. TLS
sockets cannot be adopted; a shard reached over TLS keeps the thread path.
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Any

from twisted.internet import defer
from twisted.internet.protocol import Factory, Protocol
from twisted.python.failure import Failure

from ._compat import REDIS_SOCKET, forget_socket
from ._link import Link, readable
from ._resp import REPLY_GRACE, OutOfStep, ReplyQueue
from ._shard import Shard, flat_pop_reply
from .exceptions import RedisCommandError, RedisUnavailable

__all__ = ["NotAdoptable", "ReactorLinks", "adoptable"]

logger = logging.getLogger(__name__)

#: Seconds a pop's reply may be late (past its own timeout) before the
#: connection is given up as hung, as the blocking path's socket read does.
GRACE = REPLY_GRACE


def adoptable(reactor: Any) -> bool:
    """True when ``reactor`` can take over a connected socket (a real
    reactor; a test's stand-in cannot) and redis-py's sockets can be had
    (``_compat.REDIS_SOCKET``)."""
    from twisted.internet.interfaces import IReactorSocket, IReactorTime

    return (
        IReactorSocket.providedBy(reactor)
        and IReactorTime.providedBy(reactor)
        and REDIS_SOCKET.available()
    )


class NotAdoptable(Exception):
    """The connection is TLS: the reactor cannot take its socket over."""


class ReactorConnection(Protocol):
    """One Redis connection owned by the reactor. Commands may be pipelined:
    their replies come back in order.

    Each command has a deadline, and one timer per connection watches them
    all: it is armed for the earliest and, when it fires, re-arms for the
    earliest still waiting (nearly every command is answered long before).
    A ``callLater`` and a ``cancel`` per command cost the reactor more than
    the command's own parsing.

    A connection that ``park_when_idle`` (the blocking pops of
    ``receive_twisted``) leaves nothing on the reactor once its last reply
    has been handled and nobody wrote a new command meanwhile: its timer is
    cancelled and its socket is no longer read (so a Twisted trial test's
    clean-reactor checks pass, as they did with 1.x, which closed its
    connection after each receive). A caller that receives again from its
    callback, as daphne does, keeps the connection busy and pays nothing.
    """

    def __init__(self, where: str, reactor: Any) -> None:
        self.where = where
        self.reactor = reactor
        #: The commands written and not answered yet (the sans-IO part).
        self.replies = ReplyQueue(where)
        self.lost = False
        self._timer: Any = None
        #: Whether to leave the reactor alone while no command waits.
        self.park_when_idle = False
        #: True while parked: no timer, the socket not read.
        self.parked = False

    @property
    def busy(self) -> bool:
        return bool(self.replies)

    def command(self, data: bytes, timeout: float) -> defer.Deferred:
        """Write one RESP command; the Deferred fires with its reply (an
        error reply fails it), or fails with RedisUnavailable if the
        connection drops or no reply comes within ``timeout`` seconds."""
        return self._write(data, None, timeout)

    def pipeline(self, data: bytes, count: int, timeout: float) -> defer.Deferred:
        """Write ``count`` commands at once; the Deferred fires with their
        ``count`` replies, an error reply as a RedisCommandError in its place."""
        return self._write(data, count, timeout)

    def _write(self, data: bytes, count: int | None, timeout: float) -> defer.Deferred:
        if self.lost:
            return defer.fail(RedisUnavailable(f"Lost the connection to Redis at {self.where}"))
        if self.parked:
            self.parked = False
            self.transport.startReading()
        deadline = self.reactor.seconds() + timeout
        deferred = defer.Deferred()
        self.replies.expect(deferred, count, deadline)
        timer = self._timer
        if timer is None:
            self._timer = self.reactor.callLater(timeout, self._check_deadlines)
        elif timer.getTime() > deadline:
            timer.reset(timeout)
        self.transport.write(data)
        return deferred

    def dataReceived(self, data: bytes) -> None:  # noqa: N802 - Twisted's name
        broken = self.replies.feed(data, _deliver)
        if broken is not None:
            if isinstance(broken, OutOfStep):
                logger.warning("Unexpected reply from Redis at %s; reconnecting", self.where)
            self._fail_all(broken)
            return
        if self.park_when_idle and not self.replies and not self.lost:
            self._park()

    def _park(self) -> None:
        """Nothing waits (and the callbacks wrote nothing new): cancel the
        deadline timer and stop reading the socket until the next command."""
        timer, self._timer = self._timer, None
        if timer is not None and timer.active():
            timer.cancel()
        self.transport.stopReading()
        self.parked = True

    def reusable(self) -> bool:
        """Whether this idle connection can take a command. A parked socket
        that has anything to read (EOF from a restarted server, or a reply
        nobody asked for) is closed instead: nobody was reading it."""
        if self.lost:
            return False
        if self.parked and readable([self.transport.getHandle()], 0):
            self.close()
            return False
        return True

    def connectionLost(self, reason: Any = None) -> None:  # noqa: N802 - Twisted's name
        why = getattr(reason, "value", reason)
        self._fail_all(RedisUnavailable(f"Lost the connection to Redis at {self.where}: {why}"))

    def _check_deadlines(self) -> None:
        self._timer = None
        earliest = self.replies.earliest()
        if self.lost or earliest is None:
            return
        now = self.reactor.seconds()
        if ReplyQueue.overdue(earliest, now):
            self._fail_all(RedisUnavailable(f"Redis at {self.where} did not answer in time"))
        else:
            self._timer = self.reactor.callLater(earliest - now, self._check_deadlines)

    def _fail_all(self, error: Exception) -> None:
        """Fail every command still waiting and drop the connection."""
        self.close()
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        for entry in self.replies.take_all():
            entry.token.errback(error)

    def close(self) -> None:
        """Drop the connection now; it is never used again."""
        if not self.lost:
            self.lost = True
            if self.transport is not None:
                self.transport.abortConnection()


def _deliver(deferred: defer.Deferred, answer: Any, failed: bool) -> None:
    """Fire a command's Deferred with its answer (``ReplyQueue.feed``'s callback)."""
    if failed:
        deferred.errback(answer)
    else:
        deferred.callback(answer)


class ReactorLinks:
    """Blocking pops and pipelined sends on one shard over reactor-owned
    connections: one connection per pop in flight, kept for the next pop
    afterwards, and one connection for sends."""

    def __init__(self, shard: Shard, reactor: Any, executor: Callable[[], Executor]) -> None:
        self.shard = shard
        self.reactor = reactor
        self.executor = executor
        #: Seconds a send's replies may take (the connection's socket timeout).
        self.timeout = shard.links.connection_pool.connection_kwargs.get("socket_timeout") or 10.0
        #: False once the shard turned out to need TLS: use the thread path.
        self.usable = True
        self._idle: list[ReactorConnection] = []
        self._busy: set[ReactorConnection] = set()
        self._closed = False
        #: The connection sends are pipelined on, and those waiting for it.
        self._sender: ReactorConnection | None = None
        self._send_waiters: list[defer.Deferred] = []

    def pipeline(self, data: bytes, count: int, timeout: float) -> defer.Deferred:
        """``count`` commands in one write on the shard's send connection
        (dialled on first use): their replies, errors in place."""
        sender = self._sender
        if sender is not None and not sender.lost:
            return sender.pipeline(data, count, timeout)
        return self._send_connection().addCallback(
            lambda connection: connection.pipeline(data, count, timeout)
        )

    def _send_connection(self) -> defer.Deferred:
        waiter: defer.Deferred = defer.Deferred()
        self._send_waiters.append(waiter)
        if len(self._send_waiters) == 1:
            self._dial().addBoth(self._sender_dialled)
        return waiter

    def _sender_dialled(self, result: Any) -> None:
        waiters, self._send_waiters = self._send_waiters, []
        if isinstance(result, Failure):
            for waiter in waiters:
                waiter.errback(result)
            return
        self._sender = result
        for waiter in waiters:
            waiter.callback(result)

    def blocking_pop(self, keys: Sequence[bytes], timeout: float, count: int) -> defer.Deferred:
        """``[key, item, ...]`` (up to ``count`` items of one key) or None
        after ``timeout`` seconds, like :meth:`Shard.blpop`."""
        idle = self._idle
        while idle:
            connection = idle.pop()
            if connection.reusable():
                return self._run(connection, keys, timeout, count)
        return self._dial().addCallback(self._run, keys, timeout, count)

    def _run(
        self, connection: ReactorConnection, keys: Sequence[bytes], timeout: float, count: int
    ) -> defer.Deferred:
        multi, command = self.shard.blocking_pop_command(keys, timeout, count)
        connection.park_when_idle = True
        self._busy.add(connection)
        result = connection.command(command, timeout + GRACE)

        def done(reply: Any) -> Any:
            self._put_back(connection)
            return flat_pop_reply(reply) if multi else reply

        def failed(failure: Any) -> Any:
            self._put_back(connection)
            if (
                multi
                and failure.check(RedisCommandError)
                and self.shard.blmpop_missing(failure.value)
            ):
                return self.blocking_pop(keys, timeout, count)
            return failure

        return result.addCallbacks(done, failed)

    def _put_back(self, connection: ReactorConnection) -> None:
        self._busy.discard(connection)
        if connection.lost or self._closed:
            connection.close()
        else:
            self._idle.append(connection)

    def _dial(self) -> defer.Deferred:
        """A new connection: connected (and the shard's clock checked) in a
        pool thread, then adopted by the reactor."""
        dialled: defer.Deferred = defer.Deferred()
        reactor = self.reactor

        def connected(future: Any) -> None:
            error = future.exception()
            if error is not None:
                reactor.callFromThread(dialled.errback, error)
            else:
                reactor.callFromThread(self._adopt, dialled, *future.result())

        self.executor().submit(self._connect).add_done_callback(connected)
        return dialled

    def _connect(self) -> tuple[int, int]:
        shard = self.shard
        pool = shard.links.connection_pool
        # Built outside the pool's count (not make_connection): the reactor
        # keeps this connection, so it is never released to the pool, and a
        # counted one would use up max_connections after enough dials (every
        # request during a Redis outage dials once), after which no dial
        # could succeed even with Redis back.
        link = Link(pool.connection_class(**pool.connection_kwargs), shard.where)
        link.open()
        try:
            shard.server_time_ms()  # the clock check, here rather than on the reactor
            sock = link.sock
            if isinstance(sock, ssl.SSLSocket):
                raise NotAdoptable()
            family = sock.family
            sock.setblocking(False)  # as the reactor wants it
            fd = sock.detach()
        except BaseException:
            link.close()
            raise
        # The reactor owns the connection now; redis-py must not shut it down.
        forget_socket(link.connection)
        link.sock = None
        return fd, family

    def _adopt(self, dialled: defer.Deferred, fd: int, family: int) -> None:
        connection = ReactorConnection(self.shard.where, self.reactor)
        try:
            self.reactor.adoptStreamConnection(fd, family, Factory.forProtocol(lambda: connection))
        except Exception as exc:  # noqa: BLE001 - reported to the caller
            dialled.errback(
                RedisUnavailable(f"Could not use the connection to {self.shard.where}: {exc}")
            )
            return
        finally:
            os.close(fd)  # the reactor holds its own duplicate
        if self._closed:
            connection.close()
            dialled.errback(RedisUnavailable(f"The layer was closed ({self.shard.where})"))
            return
        dialled.callback(connection)

    def close(self) -> None:
        """Drop every connection (from any thread; done on the reactor)."""
        self._closed = True
        extra = [self._sender] if self._sender is not None else []
        for connection in [*self._idle, *self._busy, *extra]:
            self.reactor.callFromThread(connection.close)
        self._idle = []
