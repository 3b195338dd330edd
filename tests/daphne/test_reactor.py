"""daphne's reactor: Twisted's epoll reactor dispatching events without a
legacy-log context per event, otherwise Twisted's behaviour."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest
from twisted.internet import error, protocol
from twisted.internet.epollreactor import EPollReactor
from twisted.logger import globalLogPublisher
from twisted.python import failure, log

from daphne import _reactor
from daphne._reactor import DaphneReactor


class Echo(protocol.Protocol):
    def dataReceived(self, data: bytes) -> None:
        if data.startswith(b"boom"):
            raise ValueError("a protocol bug")
        self.transport.write(data.upper())


def serve(reactor) -> int:
    factory = protocol.Factory.forProtocol(Echo)
    return reactor.listenTCP(0, factory, interface="127.0.0.1").getHost().port


def exchange(reactor, sock: socket.socket, data: bytes, timeout: float = 5.0) -> bytes:
    """Send ``data`` and step ``reactor`` until an answer (or EOF) arrives."""
    sock.sendall(data)
    sock.setblocking(False)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reactor.iterate(0.01)
        try:
            return sock.recv(65536)
        except BlockingIOError:
            continue
        except ConnectionResetError:
            return b""
    raise AssertionError("no answer")


def close_all(reactor) -> None:
    for selectable in reactor.removeAll():
        selectable.connectionLost(failure.Failure(error.ConnectionDone()))


@pytest.fixture
def reactor():
    instance = DaphneReactor()
    yield instance
    close_all(instance)


def test_reads_and_writes_are_dispatched(reactor):
    port = serve(reactor)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        assert exchange(reactor, sock, b"hello") == b"HELLO"
        assert exchange(reactor, sock, b"again " * 20_000)[:12] == b"AGAIN AGAIN "


def test_a_failing_protocol_loses_its_connection_and_is_logged_others_go_on(reactor):
    errors = []

    def observe(event):
        logged = event.get("log_failure") or event.get("failure")  # new or legacy API
        if logged is not None:
            errors.append(logged.value)

    globalLogPublisher.addObserver(observe)
    try:
        port = serve(reactor)
        with (
            socket.create_connection(("127.0.0.1", port)) as bad,
            socket.create_connection(("127.0.0.1", port)) as good,
        ):
            assert exchange(reactor, good, b"one") == b"ONE"
            assert exchange(reactor, bad, b"boom") == b""  # closed by the reactor
            assert exchange(reactor, good, b"two") == b"TWO"
    finally:
        globalLogPublisher.removeObserver(observe)
    assert any(isinstance(error, ValueError) for error in errors), errors


@pytest.mark.parametrize(
    ("reactor_class", "contexts"), [(DaphneReactor, False), (EPollReactor, True)]
)
def test_no_logging_context_per_event_unlike_twisteds_own(monkeypatch, reactor_class, contexts):
    calls = []
    real = log.callWithLogger

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(log, "callWithLogger", counting)
    instance = reactor_class()
    try:
        port = serve(instance)
        with socket.create_connection(("127.0.0.1", port)) as sock:
            assert exchange(instance, sock, b"x") == b"X"
    finally:
        close_all(instance)
    assert bool(calls) is contexts


def test_install_leaves_an_installed_reactor_alone(monkeypatch):
    monkeypatch.setitem(sys.modules, "twisted.internet.reactor", object())
    assert _reactor.install() is None


def test_install_falls_back_when_twisted_lacks_what_it_uses(monkeypatch):
    monkeypatch.delitem(sys.modules, "twisted.internet.reactor", raising=False)
    monkeypatch.setattr(_reactor, "_NEEDED", (*_reactor._NEEDED, "_not_in_this_twisted"))
    assert _reactor.install() is None
    assert "twisted.internet.reactor" not in sys.modules


def test_install_makes_it_twisteds_global_reactor():
    code = (
        "from daphne._reactor import install; installed = install(); "
        "from twisted.internet import reactor; "
        "print(type(reactor).__name__, reactor is installed)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.split() == ["DaphneReactor", "True"]
