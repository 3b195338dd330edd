"""The process inbox reader: a blocking thread or a receive_twisted chain, no polling."""

import logging
import queue

import pytest
from twisted.internet import defer, task

from asgi.inmemory import ChannelLayer
from daphne._inbox import ERROR_BACKOFF, InboxReader

pytestmark = pytest.mark.protocol


class ThreadReactor:
    """Collects what the reader thread hands to the reactor."""

    def __init__(self):
        self.calls = queue.Queue()

    def callFromThread(self, function, *args):  # noqa: N802 - the reactor's method
        self.calls.put((function, args))

    def run_next(self, timeout=5):
        function, args = self.calls.get(timeout=timeout)
        function(*args)


def test_thread_reader_blocks_on_the_inbox_and_hands_messages_to_the_reactor():
    layer = ChannelLayer()
    reactor = ThreadReactor()
    got = []
    reader = InboxReader(layer, "daphne.response.x!", lambda c, m: got.append((c, m)), reactor)
    assert reader.mode == "thread"
    reader.start()
    try:
        layer.send("daphne.response.x!abc", {"n": 1})
        reactor.run_next()
        assert got == [("daphne.response.x!abc", {"n": 1})]
        assert reader._thread.is_alive()
    finally:
        reader.stop(timeout=3)
    assert not reader._thread.is_alive()


def test_thread_reader_keeps_going_after_a_receive_error():
    layer = ChannelLayer()
    calls = {"n": 0}
    real_receive = layer.receive

    def flaky(channels, block=False):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("layer down")
        return real_receive(channels, block)

    layer.receive = flaky
    reactor = ThreadReactor()
    got = []
    reader = InboxReader(layer, "daphne.response.y!", lambda c, m: got.append(m), reactor)
    reader.start()
    try:
        layer.send("daphne.response.y!z", {"after": "error"})
        reactor.run_next(timeout=ERROR_BACKOFF + 5)
        assert got == [{"after": "error"}]
    finally:
        reader.stop(timeout=3)


class TwistedLayer:
    extensions = ["twisted"]

    def __init__(self):
        self.pending = []
        self.calls = 0

    def receive_twisted(self, channels):
        assert channels == ["daphne.response.t!"]
        self.calls += 1
        d = defer.Deferred()
        self.pending.append(d)
        return d


def test_twisted_reader_chains_receive_twisted_without_polling():
    layer = TwistedLayer()
    clock = task.Clock()
    got = []
    reader = InboxReader(layer, "daphne.response.t!", lambda c, m: got.append((c, m)), clock)
    assert reader.mode == "twisted"
    reader.start()
    assert layer.calls == 1
    clock.advance(60)
    assert layer.calls == 1, "nothing happens while the receive is pending"
    layer.pending[0].callback(("daphne.response.t!a", {"x": 1}))
    assert got == [("daphne.response.t!a", {"x": 1})]
    clock.advance(0)
    assert layer.calls == 2
    layer.pending[1].callback((None, None))
    clock.advance(0)
    assert layer.calls == 3 and len(got) == 1
    reader.stop()
    layer.pending[2].callback(("daphne.response.t!b", {}))
    assert len(got) == 1, "nothing is delivered after stop"


def test_twisted_reader_backs_off_after_a_failure():
    layer = TwistedLayer()
    clock = task.Clock()
    reader = InboxReader(layer, "daphne.response.t!", lambda c, m: None, clock)
    reader.start()
    layer.pending[0].errback(ConnectionError("redis down"))
    clock.advance(ERROR_BACKOFF - 0.01)
    assert layer.calls == 1
    clock.advance(0.02)
    assert layer.calls == 2
    reader.stop()


def test_force_sync_uses_the_thread_even_with_the_twisted_extension():
    reader = InboxReader(
        TwistedLayer(), "daphne.response.t!", lambda c, m: None, task.Clock(), force_sync=True
    )
    assert reader.mode == "thread"


def test_a_dispatch_error_is_logged_and_reading_continues(caplog):
    layer = TwistedLayer()
    clock = task.Clock()

    def explode(channel, message):
        raise RuntimeError("boom")

    reader = InboxReader(layer, "daphne.response.t!", explode, clock)
    reader.start()
    layer.pending[0].callback(("daphne.response.t!a", {}))
    clock.advance(0)
    assert layer.calls == 2 and "boom" in caplog.text
    reader.stop()


def test_stop_wakes_a_blocking_receive_at_once():
    layer = ChannelLayer()
    layer.blocking_timeout = 60  # without a wake-up the thread would sleep a minute
    reader = InboxReader(layer, "daphne.response.w!", lambda c, m: None, ThreadReactor())
    reader.start()
    reader.stop(timeout=10)
    assert not reader._thread.is_alive()


def inbox_log(caplog, level):
    return [r.getMessage() for r in caplog.records if r.levelno == level]


def test_receives_failing_through_an_outage_log_one_warning_then_one_recovery_line(caplog):
    caplog.set_level(logging.DEBUG, logger="daphne")
    layer = TwistedLayer()
    clock = task.Clock()
    reader = InboxReader(layer, "daphne.response.t!", lambda c, m: None, clock)
    reader.start()
    for attempt in range(3):
        layer.pending[attempt].errback(ConnectionError("READONLY replica"))
        clock.advance(ERROR_BACKOFF)
    (warning,) = inbox_log(caplog, logging.WARNING)
    assert warning.startswith("Channel layer unavailable; receiving from the inbox")
    assert "logged once per outage" in warning and "READONLY replica" in warning
    assert not inbox_log(caplog, logging.ERROR)
    layer.pending[3].callback((None, None))
    assert inbox_log(caplog, logging.INFO) == [
        "Channel layer available again (3 send(s) or receive(s) failed during the outage)"
    ]
    assert not reader.outage.down
    reader.stop()


def test_a_receive_failing_with_a_bug_is_an_error_every_time(caplog):
    layer = TwistedLayer()
    clock = task.Clock()
    reader = InboxReader(layer, "daphne.response.t!", lambda c, m: None, clock)
    reader.start()
    for attempt in range(2):
        layer.pending[attempt].errback(RuntimeError("bug in the layer"))
        clock.advance(ERROR_BACKOFF)
    errors = inbox_log(caplog, logging.ERROR)
    assert errors == ["Receiving from the inbox daphne.response.t! failed; retrying"] * 2
    assert not reader.outage.down
    reader.stop()
