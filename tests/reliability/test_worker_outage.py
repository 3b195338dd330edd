"""A worker outlives a lost channel layer: failed receives are retried with a growing pause."""

import logging

import pytest

from channels.worker import Worker


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


def test_the_pause_starts_small_again_after_a_recovery():
    worker, layer, handled, pauses = make_worker(failures=2)
    worker.run()
    assert worker._receive_failures == 0
    worker._receive_failed(ConnectionError("again"))
    assert pauses[-1] == pytest.approx(0.1)
