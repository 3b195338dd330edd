"""IRC flood control: the LineThrottle bucket, and the protocol spacing its lines."""

from __future__ import annotations

import pytest
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from asgi.inmemory import ChannelLayer
from daphne.irc._throttle import LineThrottle
from daphne.irc.client import IRCClientFactory

pytestmark = pytest.mark.unit


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_goes_at_once_then_one_line_per_interval():
    clock = FakeClock()
    throttle = LineThrottle(clock, burst=3, interval=2.0)
    for _ in range(3):
        assert throttle.delay() == 0
        throttle.take()
    assert throttle.delay() == pytest.approx(2.0)
    clock.now += 1.5
    assert throttle.delay() == pytest.approx(0.5)
    clock.now += 0.5
    assert throttle.delay() == 0


def test_a_quiet_spell_refills_the_burst_but_no_further():
    clock = FakeClock()
    throttle = LineThrottle(clock, burst=2, interval=1.0)
    throttle.take()
    throttle.take()
    clock.now += 60
    throttle.take()
    throttle.take()
    assert throttle.delay() > 0


def test_taking_from_an_empty_bucket_is_a_bug():
    throttle = LineThrottle(FakeClock(), burst=1, interval=1.0)
    throttle.take()
    with pytest.raises(RuntimeError, match="bucket is empty"):
        throttle.take()


@pytest.mark.parametrize(
    "options, complaint",
    [({"burst": 0}, "burst must be at least 1"), ({"interval": 0}, "interval must be a positive")],
)
def test_bad_settings_are_refused(options, complaint):
    with pytest.raises(ValueError, match=complaint):
        LineThrottle(FakeClock(), **options)


@pytest.mark.protocol
def test_the_protocol_spaces_lines_after_the_burst_and_flushes_them_on_close():
    clock = Clock()
    factory = IRCClientFactory(
        ChannelLayer(), ("h", 1), reactor=clock, nickname="bot", flood_burst=2, flood_interval=1.0
    )
    protocol = factory.buildProtocol(None)
    transport = StringTransport()
    protocol.makeConnection(transport)  # sends NICK and USER: the burst
    assert transport.value().count(b"\r\n") == 2
    transport.clear()
    protocol.msg("#a", "one")
    protocol.msg("#a", "two")
    assert transport.value() == b""
    clock.advance(1.0)
    assert transport.value() == b"PRIVMSG #a :one\r\n"
    transport.clear()
    protocol.quit("bye")
    protocol.flush_and_close()
    assert transport.value() == b"PRIVMSG #a :two\r\nQUIT :bye\r\n"
    assert transport.disconnecting
    assert not clock.getDelayedCalls()


@pytest.mark.protocol
def test_keepalive_pings_run_on_the_factorys_clock_and_stop_with_the_connection():
    clock = Clock()
    factory = IRCClientFactory(
        ChannelLayer(), ("h", 1), reactor=clock, nickname="bot", heartbeat_interval=30
    )
    protocol = factory.buildProtocol(None)
    transport = StringTransport()
    protocol.makeConnection(transport)
    protocol.irc_RPL_WELCOME("irc.example", ["bot", "Welcome"])  # signed on: pings start
    transport.clear()
    clock.advance(29)
    assert transport.value() == b""
    clock.advance(1)
    assert transport.value() == b"PING irc.example\r\n"
    protocol.connectionLost(_lost())
    assert not clock.getDelayedCalls()


def _lost():
    from twisted.internet.error import ConnectionDone
    from twisted.python.failure import Failure

    return Failure(ConnectionDone())
