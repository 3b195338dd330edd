"""daphne's reactor: Twisted's epoll reactor, with two changes on the I/O path.

Writes go out before the poll. A transport with data to write asks the
reactor to watch it for writability; the epoll reactor turns that into an
``epoll_ctl`` to start watching, an ``epoll_wait`` that reports the socket
writable (it nearly always is), the write, and another ``epoll_ctl`` to stop.
This reactor keeps such writers aside and lets each write once before the
next poll; only a writer whose socket did not take everything is handed to
epoll, as before. Replies to a thousand clients cost a thousand ``send``
calls rather than three thousand system calls and a thousand events.

The poll spins before it sleeps. With nothing ready, the reactor polls
without blocking, giving the core to other ready processes in between, for
up to :attr:`DaphneReactor.spin` seconds before it blocks in ``epoll_wait``.
On a virtual machine, waking a process that slept costs tens of
microseconds, most of a loopback round trip to Redis; a reply that comes
within the spin is picked up without that cost. Only a busy reactor
spins: once it has slept longer than :attr:`DaphneReactor.busy_sleep`, it
sleeps at once until two short sleeps in a row show traffic again. A
daphne holding idle sockets wakes for a ping and again for its pong, one
short sleep, and so stays near 0 % CPU.

Both lean on the epoll reactor's internals, reached through
``_compat.epoll_internals``; when ``_compat.REACTOR`` finds them missing,
:func:`install` installs Twisted's own epoll reactor instead.
"""

from __future__ import annotations

import errno
import os
import sys
import time
from typing import Any

from twisted.internet.epollreactor import EPOLLOUT, EPollReactor
from twisted.python import log

from ._compat import REACTOR, epoll_internals

__all__ = ["DaphneReactor", "install"]

#: Seconds the reactor polls for events before it sleeps.
DEFAULT_SPIN = 50e-6

#: A sleep longer than this (seconds) means the reactor is idle: it stops
#: spinning until two shorter sleeps in a row.
BUSY_SLEEP = 0.001


class DaphneReactor(EPollReactor):
    """The epoll reactor with writes before the poll and a short spin."""

    busy_sleep = BUSY_SLEEP

    def __init__(self, spin: float = DEFAULT_SPIN) -> None:
        #: Writers waiting for their write before the next poll, in order.
        self._unflushed: dict[Any, None] = {}
        #: The writers of the flush under way that have not written yet.
        self._flush_batch: dict[Any, None] = {}
        self._flushing: Any = None
        self._flushed_stopped = False
        self.spin = spin
        #: Short sleeps in a row (a spin that finds events keeps the count).
        self._short_sleeps = 2
        super().__init__()
        # The base class's tables, poller and dispatch, resolved once here.
        internals = epoll_internals(self)
        self._epoll_writes = internals.writes
        self._epoll_selectables = internals.selectables
        self._epoll_poller = internals.poller
        self._polled_writer = internals.polled_writer
        self._read_or_write = internals.read_or_write

    # -- writers -------------------------------------------------------------------

    def addWriter(self, writer: Any) -> None:
        if writer.fileno() in self._epoll_writes or self._polled_writer(writer):
            return
        self._unflushed[writer] = None

    def removeWriter(self, writer: Any) -> None:
        if writer is self._flushing:
            self._flushed_stopped = True
        waiting = self._unflushed.pop(writer, 0) is None
        in_flush = self._flush_batch.pop(writer, 0) is None
        if waiting or in_flush:
            return  # never handed to epoll
        super().removeWriter(writer)

    def getWriters(self) -> list[Any]:
        return super().getWriters() + list(self._flush_batch) + list(self._unflushed)

    def removeAll(self) -> list[Any]:
        unflushed = list(self._flush_batch) + list(self._unflushed)
        self._flush_batch.clear()
        self._unflushed.clear()
        removed = super().removeAll()
        return removed + [writer for writer in unflushed if writer not in removed]

    def _flush(self) -> None:
        """Let every waiting writer write once; hand to epoll those that
        could not write everything."""
        batch = self._flush_batch = self._unflushed
        self._unflushed = {}
        try:
            for writer in list(batch):
                if batch.pop(writer, 0) is not None:
                    continue  # removed by an earlier writer's write (a close)
                self._flushing, self._flushed_stopped = writer, False
                try:
                    self._read_or_write(writer, -1, EPOLLOUT)
                finally:
                    self._flushing = None
                if self._flushed_stopped or writer.fileno() == -1:
                    continue  # all written (or the connection is gone)
                # The socket took part of it: wait for writability as usual.
                self._unflushed.pop(writer, None)
                EPollReactor.addWriter(self, writer)
        finally:
            self._flush_batch = {}

    # -- polling -------------------------------------------------------------------

    def doPoll(self, timeout: float | None) -> None:
        if self._unflushed:
            self._flush()
            if self._unflushed:
                timeout = 0  # writers added while flushing go next round
        poller, spin = self._epoll_poller, self.spin
        events = None
        if spin and self._short_sleeps >= 2 and (timeout is None or timeout > spin):
            deadline = time.perf_counter() + spin
            while True:
                events = self._wait(poller, 0)
                if events or time.perf_counter() >= deadline:
                    break
                os.sched_yield()
            if not events and timeout is not None:
                timeout = max(0.0, timeout - spin)
        if not events:
            if timeout == 0:
                events = self._wait(poller, 0)
            else:
                started = time.perf_counter()
                events = self._wait(poller, -1 if timeout is None else timeout)
                if time.perf_counter() - started < self.busy_sleep:
                    self._short_sleeps += 1
                else:
                    self._short_sleeps = 0
        dispatch, selectables = self._read_or_write, self._epoll_selectables
        for fd, event in events:
            selectable = selectables.get(fd)
            if selectable is not None:
                log.callWithLogger(selectable, dispatch, selectable, fd, event)

    doIteration = doPoll

    def _wait(self, poller: Any, timeout: float) -> list:
        try:
            return poller.poll(timeout, len(self._epoll_selectables))
        except OSError as error:
            if error.errno == errno.EINTR:
                return []
            raise


def install(spin: float = DEFAULT_SPIN) -> EPollReactor:
    """Install a :class:`DaphneReactor` as Twisted's global reactor (or,
    when ``_compat.REACTOR`` finds the internals it relies on missing,
    Twisted's own epoll reactor)."""
    from twisted.internet.main import installReactor

    reactor = DaphneReactor(spin) if REACTOR.available() else EPollReactor()
    installReactor(reactor)
    return reactor


def install_if_unset() -> None:
    """Install daphne's reactor unless a reactor is in place already (one a
    program chose, or the default one something imported)."""
    if "twisted.internet.reactor" not in sys.modules:
        install()
