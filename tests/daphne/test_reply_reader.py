"""daphne._reply_reader.ReplyReader: a blocking reader thread feeding the reactor."""

from __future__ import annotations

import threading

import pytest

from asgi.inmemory import ChannelLayer
from daphne._reply_reader import ReplyReader
from tests.support.interface_servers import wait_until

pytestmark = pytest.mark.integration


class RecordingReactor:
    """Stands in for ``callFromThread``: records which thread delivery was asked from."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def callFromThread(self, function, *args):  # noqa: N802 - the reactor's method
        self.calls.append(args)
        function(*args)


def test_replies_on_the_prefix_reach_the_handler_through_the_reactor(reactor_thread, layer):
    got = []
    done = threading.Event()

    def handler(channel, message):
        got.append((channel, message, threading.current_thread().name))
        done.set()

    reader = ReplyReader(layer, "test.reply.abc!", reactor_thread.reactor, handler)
    reader.start()
    try:
        layer.send("test.reply.abc!one", {"n": 1})
        assert done.wait(10)
        assert got == [("test.reply.abc!one", {"n": 1}, "test reactor")]
    finally:
        reader.stop()
    assert not reader.running


def test_stop_wakes_a_blocked_receive_at_once(layer):
    reader = ReplyReader(layer, "test.reply.idle!", RecordingReactor(), lambda c, m: None)
    layer.blocking_timeout = 30  # without the wake-up, stop would wait this long
    reader.start()
    wait_until(lambda: reader.running)
    reader.stop(timeout=5)
    assert not reader.running


def test_normal_channels_given_are_read_with_the_prefix_and_stop_still_wakes(layer):
    got = []
    reader = ReplyReader(
        layer,
        "test.reply.mixed!",
        RecordingReactor(),
        lambda c, m: got.append((c, m)),
        channels=["slack.send"],
    )
    layer.blocking_timeout = 30  # the wake-up must still end the receive at stop
    reader.start()
    try:
        layer.send("slack.send", {"n": 1})
        layer.send("test.reply.mixed!x", {"n": 2})
        wait_until(lambda: len(got) == 2)
        assert sorted(got, key=lambda item: item[1]["n"]) == [
            ("slack.send", {"n": 1}),
            ("test.reply.mixed!x", {"n": 2}),
        ]
    finally:
        reader.stop(timeout=5)
    assert not reader.running
    assert layer.receive(["slack.send"]) == (None, None)  # the wake-up went to the prefix


def test_a_handler_error_is_logged_and_the_next_reply_still_handled(layer, caplog):
    seen = []

    def handler(channel, message):
        if message.get("boom"):
            raise RuntimeError("handler bug")
        seen.append(message)

    reader = ReplyReader(layer, "test.reply.err!", RecordingReactor(), handler)
    reader.start()
    try:
        layer.send("test.reply.err!x", {"boom": True})
        layer.send("test.reply.err!x", {"ok": True})
        wait_until(lambda: seen == [{"ok": True}], what="the second reply")
    finally:
        reader.stop()
    assert "Handling the reply on test.reply.err!x failed" in caplog.text


def test_layer_errors_are_retried_with_growing_pauses(caplog):
    class FlakyLayer(ChannelLayer):
        failures = 3

        def receive(self, channels, block=False):
            if self.failures:
                self.failures -= 1
                raise ConnectionError("layer down")
            return super().receive(channels, block)

    layer = FlakyLayer()
    got = []
    reader = ReplyReader(layer, "test.reply.flaky!", RecordingReactor(), lambda c, m: got.append(m))
    reader.start()
    try:
        layer.send("test.reply.flaky!x", {"after": "recovery"})
        wait_until(lambda: got == [{"after": "recovery"}], what="delivery after the errors")
    finally:
        reader.stop()
    assert caplog.text.count("Receiving on test.reply.flaky! failed") == 3
    assert "retrying in 0.1 s" in caplog.text and "retrying in 0.4 s" in caplog.text


def test_a_prefix_that_is_not_process_specific_is_refused(layer):
    with pytest.raises(ValueError, match="ending in '!'"):
        ReplyReader(layer, "udp.send", RecordingReactor(), lambda c, m: None)


def test_starting_twice_is_an_error(layer):
    reader = ReplyReader(layer, "test.reply.twice!", RecordingReactor(), lambda c, m: None)
    reader.start()
    try:
        with pytest.raises(RuntimeError, match="already started"):
            reader.start()
    finally:
        reader.stop()
