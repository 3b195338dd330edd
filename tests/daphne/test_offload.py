"""Sends made for the reactor without running on it (daphne/_offload.py)."""

import logging
import queue
import threading

import pytest
from twisted.internet import defer

from asgi.inmemory import ChannelLayer
from daphne._offload import OffReactorSend, send_in_background, send_mode

pytestmark = pytest.mark.unit


class ThreadReactor:
    """Just what ``deferToThreadPool`` needs: ``callFromThread`` queues the
    call for the test (the "reactor thread") to run."""

    def __init__(self):
        self.calls = queue.Queue()

    def callFromThread(self, f, *args, **kwargs):  # noqa: N802 - the reactor method it stands in for
        self.calls.put((f, args, kwargs))

    def run_one(self, timeout=5.0):
        f, args, kwargs = self.calls.get(timeout=timeout)
        f(*args, **kwargs)


class SlowNetworkLayer(ChannelLayer):
    """A network layer (the ``twisted`` extension) without
    ``send_batch_twisted``, whose sends wait until the test lets them go."""

    extensions = [*ChannelLayer.extensions, "twisted"]

    def __init__(self, **options):
        super().__init__(**options)
        self.go = threading.Event()
        self.threads = []

    def send(self, channel, message):
        self.threads.append(threading.current_thread())
        assert self.go.wait(5), "the test never let the send go"
        super().send(channel, message)


def outcome_of(deferred):
    results = []
    deferred.addBoth(results.append)
    return results


def test_the_mode_follows_what_the_layer_offers():
    assert send_mode(ChannelLayer()) == "inline"
    assert send_mode(SlowNetworkLayer()) == "thread"

    class ReactorLayer(ChannelLayer):
        def send_batch_twisted(self, messages):
            raise NotImplementedError

    assert send_mode(ReactorLayer()) == "reactor"


def test_an_unknown_mode_is_refused_by_name():
    with pytest.raises(ValueError, match="expected mode 'reactor', 'thread' or 'inline', got 'x'"):
        OffReactorSend(ChannelLayer(), None, "x")


def test_in_thread_mode_the_caller_is_not_held_by_a_slow_layer():
    layer, reactor = SlowNetworkLayer(capacity=100), ThreadReactor()
    offload = OffReactorSend(layer, reactor)
    try:
        landing = offload.send("http.request.body", {"content": b"a"})
        results = outcome_of(landing)
        # returned while the layer is still waiting: nothing landed yet
        assert results == [] and reactor.calls.empty()
        layer.go.set()
        reactor.run_one()
        assert results == [None]
        assert layer.threads[0] is not threading.current_thread()
        assert layer.receive(["http.request.body"])[1] == {"content": b"a"}
    finally:
        layer.go.set()
        offload.stop()


def test_in_thread_mode_sends_land_in_the_order_they_were_asked_for():
    layer, reactor = SlowNetworkLayer(capacity=100), ThreadReactor()
    offload = OffReactorSend(layer, reactor)
    try:
        landings = [outcome_of(offload.send("c", {"n": n})) for n in range(20)]
        layer.go.set()
        for _ in range(20):
            reactor.run_one()
        assert landings == [[None]] * 20
        assert [layer.receive(["c"])[1]["n"] for _ in range(20)] == list(range(20))
    finally:
        offload.stop()


def test_in_thread_mode_a_refusal_fails_the_deferred_with_the_layers_exception():
    layer, reactor = SlowNetworkLayer(capacity=1), ThreadReactor()
    layer.go.set()
    offload = OffReactorSend(layer, reactor)
    try:
        first = outcome_of(offload.send("c", {"n": 1}))
        second = outcome_of(offload.send("c", {"n": 2}))
        reactor.run_one()
        reactor.run_one()
        assert first == [None]
        assert second[0].check(layer.ChannelFull)
    finally:
        offload.stop()


def test_inline_mode_has_fired_by_the_time_send_returns():
    layer = ChannelLayer(capacity=1)
    offload = OffReactorSend(layer, None)
    assert offload.mode == "inline"
    assert outcome_of(offload.send("c", {"n": 1})) == [None]
    (failure,) = outcome_of(offload.send("c", {"n": 2}))
    assert failure.check(layer.ChannelFull)


def test_reactor_mode_reports_the_batchs_outcome():
    class ReactorLayer(ChannelLayer):
        def __init__(self):
            super().__init__()
            self.landings = []

        def send_batch_twisted(self, messages):
            self.landings.append(defer.Deferred())
            return self.landings[-1]

    layer = ReactorLayer()
    offload = OffReactorSend(layer, None)
    ok, refused = outcome_of(offload.send("c", {})), outcome_of(offload.send("c", {}))
    layer.landings[0].callback([None])
    layer.landings[1].callback([layer.ChannelFull("c")])
    assert ok == [None]
    assert refused[0].check(layer.ChannelFull)


def test_a_background_send_returns_before_a_slow_layer_answers():
    layer = SlowNetworkLayer()
    thread = send_in_background(layer, "daphne.response.x!stop", {"stop": True})
    assert thread.daemon and thread.is_alive()  # still waiting on the layer
    layer.go.set()
    thread.join(5)
    assert not thread.is_alive()
    assert layer.receive(["daphne.response.x!"]) == ("daphne.response.x!stop", {"stop": True})


def test_a_failed_background_send_is_logged_at_debug(caplog):
    class DownLayer(ChannelLayer):
        def send(self, channel, message):
            raise ConnectionError("no route to 10.1.1.1")

    caplog.set_level(logging.DEBUG, logger="daphne._offload")
    send_in_background(DownLayer(), "daphne.response.x!stop", {}).join(5)
    (record,) = caplog.records
    assert record.levelno == logging.DEBUG
    assert "daphne.response.x!stop: no route to 10.1.1.1" in record.getMessage()
