"""A worker outlives a lost channel layer (failed receives are retried with a growing pause)
and a SIGTERM never drops a message its receive already took."""

import logging
import signal

import pytest

from asgi.inmemory import ChannelLayer
from channels.asgi import ChannelLayerWrapper
from channels.channel import Channel
from channels.message import PendingMessageStore
from channels.worker import StopWorkerGroupLoop, Worker

pytestmark = pytest.mark.unit


class FlakyLayer:
    """Fails ``failures`` receives, then hands out one message, then stops the worker."""

    def __init__(self, failures: int, worker_box: list) -> None:
        self.failures = failures
        self.worker_box = worker_box
        self.calls = 0
        self.router = type("Router", (), {"channels": {"test.channel"}})()

    def receive(self, channels, block=False):
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("redis went away")
        if self.calls == self.failures + 1:
            return "test.channel", {"n": 1}
        self.worker_box[0].stop()
        return None, None


def make_worker(failures: int):
    box: list = []
    layer = FlakyLayer(failures, box)
    handled = []
    worker = Worker(layer, signal_handlers=False)
    worker.handle = lambda channel, content: handled.append((channel, content))
    pauses: list[float] = []
    worker.sleep = pauses.append
    box.append(worker)
    return worker, layer, handled, pauses


def test_a_worker_keeps_receiving_after_the_layer_fails_and_handles_the_next_message(caplog):
    worker, layer, handled, pauses = make_worker(failures=6)
    with caplog.at_level(logging.DEBUG, logger="django.channels"):
        worker.run()
    assert handled == [("test.channel", {"n": 1})]
    assert pauses == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 2.0])
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2, warnings
    assert "redis went away" in warnings[0] and "retrying" in warnings[0]
    assert "resumed" in warnings[1]


def test_a_worker_cut_off_for_hours_keeps_pausing_at_the_cap():
    # Past 1024 failures an uncapped doubling no longer fits in a float.
    worker, layer, handled, pauses = make_worker(failures=1100)
    worker.run()
    assert handled == [("test.channel", {"n": 1})]
    assert len(pauses) == 1100 and pauses[-1] == pytest.approx(2.0)


def test_the_pause_starts_small_again_after_a_recovery():
    worker, layer, handled, pauses = make_worker(failures=2)
    worker.run()
    assert worker._receive_failures == 0
    worker._receive_failed(ConnectionError("again"))
    assert pauses[-1] == pytest.approx(0.1)


class HalfDownLayer(ChannelLayer):
    """Sends to channels starting with ``down.`` fail as if their Redis shard were gone."""

    def send(self, channel, message):
        if channel.startswith("down."):
            raise ConnectionError(f"shard of {channel} unreachable")
        super().send(channel, message)


def test_a_consumer_send_to_a_lost_shard_does_not_stop_its_other_sends(caplog):
    layer = ChannelLayerWrapper(HalfDownLayer(capacity=10), "tests", [])
    store = PendingMessageStore()
    store.prepare()
    store.append(Channel("down.reply", channel_layer=layer), {"n": 1})
    store.append(Channel("up.reply", channel_layer=layer), {"n": 2})
    with caplog.at_level(logging.WARNING, logger="channels.message"):
        store.send_and_flush()
    assert layer.receive(["up.reply"]) == ("up.reply", {"n": 2})
    assert not store.active
    (record,) = [r for r in caplog.records if r.name == "channels.message"]
    assert record.levelno == logging.WARNING
    assert "down.reply" in record.getMessage() and "unreachable" in record.getMessage()
    assert record.exc_info is None
    drops = [r for r in caplog.records if r.name == "channels.drops"]
    assert [(r.reason, r.channel, r.count) for r in drops] == [("layer_down", "down.reply", 1)]


def test_a_first_sigterm_while_receiving_lets_the_receive_return_and_handles_its_message():
    worker, layer, handled, pauses = make_worker(failures=0)
    worker.sigterm_handler(signal.SIGTERM, None)  # idle: no exception, just a flag
    assert worker.termed
    with pytest.raises(StopWorkerGroupLoop):
        worker.sigterm_handler(signal.SIGTERM, None)  # a second one leaves at once


def test_sigint_while_receiving_leaves_at_once():
    worker, *_ = make_worker(failures=0)
    with pytest.raises(StopWorkerGroupLoop):
        worker.sigterm_handler(signal.SIGINT, None)


def test_a_message_received_after_sigterm_is_handled_before_the_loop_ends():
    worker, layer, handled, pauses = make_worker(failures=0)
    real_receive = layer.receive

    def receive_during_sigterm(channels, block=False):
        if layer.calls == 0:
            worker.sigterm_handler(signal.SIGTERM, None)  # arrives mid-receive
        return real_receive(channels, block)

    layer.receive = receive_during_sigterm
    worker.run()
    assert handled == [("test.channel", {"n": 1})]
    assert layer.calls == 1
