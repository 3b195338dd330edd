"""daphne's reactor: writers write before the poll, epoll only for those the
socket could not take at once; the poll spins briefly, then sleeps."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest
from twisted.internet import protocol

from daphne._reactor import DaphneReactor

pytestmark = pytest.mark.integration


class Writer:
    """A writer that takes ``rounds`` doWrite calls to empty its buffer;
    ``after_write`` runs after each write (what a protocol's write may set
    off: a close, a shutdown)."""

    def __init__(
        self,
        reactor: DaphneReactor,
        rounds: int = 1,
        fail: bool = False,
        after_write: Callable[[], object] | None = None,
    ) -> None:
        self.reactor = reactor
        self.sock, self.peer = socket.socketpair()
        self.rounds = rounds
        self.fail = fail
        self.after_write = after_write
        self.writes = 0
        self.lost: list = []

    def fileno(self) -> int:
        return self.sock.fileno()

    def logPrefix(self) -> str:  # noqa: N802 - Twisted's name
        return "Writer"

    def doWrite(self):  # noqa: N802 - Twisted's name
        self.writes += 1
        if self.fail:
            raise RuntimeError("write failed")
        self.sock.send(b"x")
        if self.writes >= self.rounds:
            self.reactor.removeWriter(self)
        if self.after_write is not None:
            self.after_write()

    def connectionLost(self, reason) -> None:  # noqa: N802 - Twisted's name
        self.lost.append(reason)
        self.reactor.removeWriter(self)

    def close(self) -> None:
        self.sock.close()
        self.peer.close()


@pytest.fixture
def reactor():
    made = DaphneReactor()
    yield made
    made._poller.close()


def test_a_writer_writes_at_the_next_poll_without_epoll(reactor):
    writer = Writer(reactor)
    reactor.addWriter(writer)
    reactor.addWriter(writer)  # a second write before the poll adds nothing
    assert writer in reactor.getWriters()
    assert writer.writes == 0
    reactor.doPoll(0)
    assert writer.writes == 1
    assert writer.peer.recv(10) == b"x"
    assert writer.fileno() not in reactor._writes  # epoll never saw it
    assert writer not in reactor.getWriters()
    writer.close()


def test_a_writer_the_socket_could_not_empty_is_handed_to_epoll(reactor):
    writer = Writer(reactor, rounds=4)
    reactor.addWriter(writer)
    reactor.doPoll(0)
    # The write before the poll, then one more as epoll reports the socket
    # writable in the same poll, as for any writer.
    assert writer.writes == 2
    assert writer.fileno() in reactor._writes
    reactor.doPoll(0.5)
    reactor.doPoll(0.5)
    assert writer.writes == 4
    assert writer.fileno() not in reactor._writes
    assert writer not in reactor.getWriters()
    assert writer.peer.recv(10) == b"xxxx"
    writer.close()


def test_a_writer_removed_before_the_poll_does_not_write(reactor):
    writer = Writer(reactor)
    reactor.addWriter(writer)
    reactor.removeWriter(writer)
    reactor.doPoll(0)
    assert writer.writes == 0
    assert writer not in reactor.getWriters()
    writer.close()


def test_remove_all_includes_writers_that_have_not_written_yet(reactor):
    writer = Writer(reactor)
    reactor.addWriter(writer)
    assert writer in reactor.removeAll()
    reactor.doPoll(0)
    assert writer.writes == 0
    writer.close()


def test_a_failing_write_disconnects_that_writer_only(reactor):
    failing, healthy = Writer(reactor, fail=True), Writer(reactor)
    reactor.addWriter(failing)
    reactor.addWriter(healthy)
    reactor.doPoll(0)
    assert len(failing.lost) == 1
    assert "write failed" in str(failing.lost[0].value)
    assert healthy.writes == 1
    assert healthy.peer.recv(10) == b"x"
    for writer in (failing, healthy):
        writer.close()


def test_an_idle_poll_sleeps_after_its_spin(reactor):
    cpu, wall = time.process_time(), time.monotonic()
    reactor.doPoll(0.3)
    assert time.monotonic() - wall >= 0.25
    assert time.process_time() - cpu < 0.1  # it did not spin through the wait


def test_a_wake_up_from_another_thread_ends_the_wait(reactor):
    woke = []
    reactor.callFromThread(woke.append, True)  # registers the waker
    reactor.runUntilCurrent()
    threading.Timer(0.1, reactor.wakeUp).start()
    started = time.monotonic()
    reactor.doPoll(5)
    assert time.monotonic() - started < 2


class Sink(protocol.Protocol):
    def connectionMade(self) -> None:  # noqa: N802 - Twisted's name
        self.received = bytearray()
        self.factory.sinks.append(self)

    def dataReceived(self, data: bytes) -> None:  # noqa: N802 - Twisted's name
        self.received += data
        if len(self.received) >= self.factory.expected:
            self.factory.reactor.stop()


def test_a_large_write_over_tcp_arrives_whole(reactor):
    """More than the socket buffers hold: partial writes go through epoll."""
    payload = bytes(range(256)) * 40_000  # 10 MB

    class Source(protocol.Protocol):
        def connectionMade(self) -> None:  # noqa: N802 - Twisted's name
            self.transport.write(payload)

    server_factory = protocol.Factory.forProtocol(Source)
    port = reactor.listenTCP(0, server_factory, interface="127.0.0.1")
    client_factory = protocol.ClientFactory.forProtocol(Sink)
    client_factory.expected = len(payload)
    client_factory.reactor = reactor
    client_factory.sinks = sinks = []
    reactor.connectTCP("127.0.0.1", port.getHost().port, client_factory)
    reactor.callLater(20, reactor.stop)
    reactor.run(installSignalHandlers=False)
    assert bytes(sinks[0].received) == payload


def reactor_of_a_new_server(setup: str = "") -> str:
    """The reactor class a ``Server`` made in a fresh interpreter ends up with."""
    code = (
        f"{setup}\n"
        "from asgi.inmemory import ChannelLayer\n"
        "from daphne.server import Server\n"
        'server = Server(channel_layer=ChannelLayer(), endpoints=["tcp:port=0"])\n'
        "print(type(server.reactor).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_daphne_installs_its_reactor_when_none_is_chosen():
    assert reactor_of_a_new_server() == "DaphneReactor"


def test_a_reactor_the_program_installed_is_kept():
    setup = "from twisted.internet import selectreactor; selectreactor.install()"
    assert reactor_of_a_new_server(setup) == "SelectReactor"


def count_polls(reactor: DaphneReactor) -> list[float]:
    """Record the timeout of every epoll_wait the reactor makes."""
    timeouts: list[float] = []
    wait = reactor._wait

    def recording(poller, timeout):
        timeouts.append(timeout)
        return wait(poller, timeout)

    reactor._wait = recording
    return timeouts


def short_sleep(reactor: DaphneReactor) -> None:
    """One poll that sleeps until an event a moment away."""
    reactor.spin = 0  # the sleep itself, not a spin, must catch the event
    threading.Timer(0.0001, reactor.wakeUp).start()
    reactor.doPoll(1)
    reactor.spin = 50e-6


def test_an_idle_reactor_sleeps_at_once_until_traffic_returns(reactor):
    reactor.callFromThread(lambda: None)  # registers the waker
    reactor.runUntilCurrent()
    reactor.doPoll(0)  # reads the waker's byte
    reactor.busy_sleep = 0.02  # room for a slow test machine's thread start
    polls = count_polls(reactor)
    reactor.doPoll(0.1)  # busy at first: spins, then sleeps long
    assert polls.count(0) >= 1
    polls.clear()
    reactor.doPoll(0.05)  # after a long sleep: straight to sleep
    assert polls == [0.05]
    short_sleep(reactor)
    polls.clear()
    reactor.doPoll(0.05)  # one short sleep is not traffic yet (a ping's pong)
    assert polls == [0.05]
    short_sleep(reactor)
    short_sleep(reactor)
    polls.clear()
    reactor.doPoll(0.05)  # two short sleeps in a row: it spins again
    assert polls.count(0) >= 1
    assert polls[-1] == pytest.approx(0.05, abs=1e-4)


def test_a_writer_closed_by_an_earlier_write_in_the_same_flush_is_skipped(reactor):
    closed = Writer(reactor)
    # as connectionLost of ``closed`` would
    closer = Writer(reactor, after_write=lambda: reactor.removeWriter(closed))
    reactor.addWriter(closer)
    reactor.addWriter(closed)
    reactor.doPoll(0)
    assert closer.writes == 1
    assert closed.writes == 0
    assert closed.lost == []
    assert closed not in reactor.getWriters()
    for writer in (closer, closed):
        writer.close()


def test_remove_all_during_a_flush_stops_the_writes_not_yet_made(reactor):
    later = Writer(reactor)
    removed = []
    # as a shutdown would
    stopper = Writer(reactor, after_write=lambda: removed.extend(reactor.removeAll()))
    reactor.addWriter(stopper)
    reactor.addWriter(later)
    reactor.doPoll(0)
    assert stopper.writes == 1
    assert later.writes == 0
    assert later in removed
    for writer in (stopper, later):
        writer.close()
