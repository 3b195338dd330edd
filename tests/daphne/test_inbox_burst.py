"""InboxReader in twisted mode with a layer that answers at once (messages
it already holds): handled in order, in bounded bursts, never spinning."""

import pytest
from twisted.internet import defer, task

from daphne._inbox import ERROR_BACKOFF, SYNC_BURST, InboxReader

pytestmark = pytest.mark.protocol

INBOX = "daphne.response.s!"


class ReadyLayer:
    """receive_twisted answers at once while ``ready`` holds messages, then waits."""

    extensions = ["twisted"]

    def __init__(self, ready):
        self.ready = list(ready)
        self.pending = []
        self.calls = 0

    def receive_twisted(self, channels):
        self.calls += 1
        if self.ready:
            item = self.ready.pop(0)
            if isinstance(item, Exception):
                return defer.fail(item)
            return defer.succeed(item)
        d = defer.Deferred()
        self.pending.append(d)
        return d


def start(layer):
    clock = task.Clock()
    got = []
    reader = InboxReader(layer, INBOX, lambda c, m: got.append(m["n"]), clock)
    reader.start()
    return reader, clock, got


def test_messages_held_by_the_layer_are_delivered_in_order_without_reactor_turns():
    layer = ReadyLayer([(INBOX + "a", {"n": n}) for n in range(10)])
    reader, clock, got = start(layer)
    assert got == list(range(10))
    assert len(layer.pending) == 1, "then it waits on one blocking receive"
    layer.pending[0].callback((INBOX + "a", {"n": 10}))
    assert got == list(range(11))
    reader.stop()


def test_a_long_run_of_ready_messages_yields_to_the_reactor_between_bursts():
    layer = ReadyLayer([(INBOX + "a", {"n": n}) for n in range(SYNC_BURST + 5)])
    reader, clock, got = start(layer)
    assert got == list(range(SYNC_BURST))
    clock.advance(0)
    assert got == list(range(SYNC_BURST + 5))
    reader.stop()


def test_an_immediate_empty_answer_waits_for_the_next_reactor_turn():
    layer = ReadyLayer([(None, None), (INBOX + "a", {"n": 1})])
    reader, clock, got = start(layer)
    assert layer.calls == 1 and got == []
    clock.advance(0)
    assert got == [1]
    reader.stop()


def test_an_immediate_failure_backs_off():
    layer = ReadyLayer([ConnectionError("down"), (INBOX + "a", {"n": 1})])
    reader, clock, got = start(layer)
    clock.advance(ERROR_BACKOFF - 0.01)
    assert layer.calls == 1 and got == []
    clock.advance(0.02)
    assert got == [1]
    reader.stop()
