"""LayerSender: daphne's hot-path sends, direct or from one thread, in order
per connection and round-robin across connections."""

import re
import threading
import time

import pytest
from twisted.internet import task

from asgi.inmemory import ChannelLayer
from daphne._sender import LayerSender

pytestmark = pytest.mark.protocol


class RecordingReactor(task.Clock):
    """A fake clock that collects callFromThread calls; ``run()`` runs them in the test thread."""

    def __init__(self):
        super().__init__()
        self.calls = []
        self.lock = threading.Lock()

    def callFromThread(self, function, *args):  # noqa: N802 - the reactor's method
        with self.lock:
            self.calls.append((function, args))

    def run(self):
        with self.lock:
            calls, self.calls = self.calls, []
        for function, args in calls:
            function(*args)
        return len(calls)


class SlowLayer(ChannelLayer):
    """An in-memory layer whose sends take a while and remember their thread."""

    def __init__(self, delay=0.001, refuse=()):
        super().__init__(capacity=10_000)
        self.delay = delay
        self.refuse = set(refuse)
        self.threads = set()

    def send(self, channel, message):
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay)
        if channel in self.refuse:
            raise self.ChannelFull(f"{channel} is full")
        super().send(channel, message)


def drain(layer, channel):
    found = []
    while True:
        name, message = layer.receive([channel])
        if name is None:
            return found
        found.append(message)


def wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_direct_mode_sends_at_once_in_the_calling_thread():
    layer = SlowLayer(delay=0)
    sender = LayerSender(layer, RecordingReactor())
    sender.send("websocket.receive", {"n": 1})
    assert drain(layer, "websocket.receive") == [{"n": 1}]
    assert layer.threads == {threading.current_thread().name}


def test_direct_mode_hands_a_refusal_to_the_handler_or_logs_it_without_one(caplog):
    layer = SlowLayer(delay=0, refuse={"http.request"})
    sender = LayerSender(layer, RecordingReactor())
    errors = []
    sender.send("http.request", {}, errors.append)
    assert len(errors) == 1 and isinstance(errors[0], layer.ChannelFull)
    with caplog.at_level("INFO", logger="daphne._sender"):
        sender.send("http.request", {})
    assert "Could not send on http.request" in caplog.text
    assert sender.pending() == 0


class GatedLayer(SlowLayer):
    """Every send waits until ``gate`` is set."""

    def __init__(self):
        super().__init__(delay=0)
        self.gate = threading.Event()

    def send(self, channel, message):
        assert self.gate.wait(30), "the test never opened the gate"
        super().send(channel, message)


def test_threaded_mode_keeps_the_order_of_sends_and_leaves_the_caller_free():
    layer = GatedLayer()
    sender = LayerSender(layer, RecordingReactor(), threaded=True)
    for n in range(50):
        sender.send("websocket.receive", {"n": n})
    # every call returned although no send could be made yet
    assert drain(layer, "websocket.receive") == []
    layer.gate.set()
    assert wait_until(lambda: sender.pending() == 0)
    sender.stop()
    assert [m["n"] for m in drain(layer, "websocket.receive")] == list(range(50))
    assert layer.threads == {"daphne layer sender"}


def test_threaded_mode_reports_a_refusal_on_the_reactor_thread():
    layer = SlowLayer(delay=0, refuse={"http.request"})
    reactor = RecordingReactor()
    sender = LayerSender(layer, reactor, threaded=True)
    errors = []
    sender.send("http.request", {"a": 1}, errors.append)
    sender.send("http.disconnect", {"b": 2})
    assert wait_until(lambda: sender.pending() == 0 and reactor.calls)
    assert errors == [], "nothing runs outside the reactor"
    assert reactor.run() == 1
    assert len(errors) == 1 and isinstance(errors[0], layer.ChannelFull)
    sender.stop()
    assert drain(layer, "http.disconnect") == [{"b": 2}]


def test_stop_makes_the_queued_sends_then_refuses_new_ones():
    layer = SlowLayer(delay=0.005)
    sender = LayerSender(layer, RecordingReactor(), threaded=True)
    for n in range(20):
        sender.send("websocket.disconnect", {"n": n})
    sender.stop(timeout=10)
    assert len(drain(layer, "websocket.disconnect")) == 20
    with pytest.raises(RuntimeError, match="stopped"):
        sender.send("websocket.disconnect", {})


class BatchingLayer(GatedLayer):
    """Records the size of every ``send_batch``; single sends wait for the gate."""

    def __init__(self, refuse=()):
        super().__init__()
        self.refuse = set(refuse)
        self.batches = []
        self.entered = threading.Event()

    def send(self, channel, message):
        self.entered.set()
        super().send(channel, message)

    def send_batch(self, messages):
        self.batches.append([channel for channel, _ in messages])
        return super().send_batch(messages)


def test_threaded_mode_sends_what_queued_meanwhile_as_one_batch():
    layer = BatchingLayer()
    sender = LayerSender(layer, RecordingReactor(), threaded=True)
    sender.send("websocket.receive", {"n": 0, "reply_channel": "c!0"})
    assert layer.entered.wait(10)  # the first send is on its way, alone
    for n in range(1, 21):
        sender.send("websocket.receive", {"n": n, "reply_channel": f"c!{n}"})
    layer.gate.set()
    assert wait_until(lambda: sender.pending() == 0)
    sender.stop()
    assert layer.batches == [["websocket.receive"] * 20]
    assert [m["n"] for m in drain(layer, "websocket.receive")] == list(range(21))


def test_a_batch_takes_one_message_per_connection_so_each_keeps_its_order():
    layer = BatchingLayer()
    sender = LayerSender(layer, RecordingReactor(), threaded=True)
    sender.send("websocket.receive", {"n": 0, "reply_channel": "first!"})
    assert layer.entered.wait(10)
    for n in range(1, 4):
        sender.send("websocket.receive", {"n": n, "reply_channel": "c!a"})
        sender.send("websocket.receive", {"n": 10 + n, "reply_channel": "c!b"})
    layer.gate.set()
    assert wait_until(lambda: sender.pending() == 0)
    sender.stop()
    assert [len(batch) for batch in layer.batches] == [2, 2, 2]
    got = [m["n"] for m in drain(layer, "websocket.receive")]
    assert [n for n in got if 0 < n < 10] == [1, 2, 3]
    assert [n for n in got if n > 10] == [11, 12, 13]


def test_a_refusal_inside_a_batch_goes_to_its_own_handler_only():
    layer = BatchingLayer(refuse={"http.request"})
    reactor = RecordingReactor()
    sender = LayerSender(layer, reactor, threaded=True)
    sender.send("http.disconnect", {"n": 0, "reply_channel": "h!0"})
    assert layer.entered.wait(10)
    errors = {}
    for n in range(1, 5):
        channel = "http.request" if n == 2 else "http.disconnect"
        sender.send(channel, {"n": n, "reply_channel": f"h!{n}"}, errors.setdefault(n, []).append)
    layer.gate.set()
    assert wait_until(lambda: sender.pending() == 0 and reactor.calls)
    sender.stop()
    reactor.run()
    assert len(layer.batches) == 1
    assert [n for n, found in errors.items() if found] == [2]
    assert isinstance(errors[2][0], layer.ChannelFull)
    assert [m["n"] for m in drain(layer, "http.disconnect")] == [0, 1, 3, 4]


# -- on the reactor: send_batch_twisted ------------------------------------------------


class DeferredLayer(ChannelLayer):
    """An in-memory layer with ``send_batch_twisted``: each batch's Deferred
    is held in ``waiting`` until the test lands it (``land``), or fires at
    once with ``immediate``; ``refuse`` channels come back ChannelFull
    (``refuse_times`` times each, then they have room)."""

    def __init__(self, refuse=(), refuse_times=10**9, immediate=False):
        super().__init__(capacity=10_000)
        self.refuse = dict.fromkeys(refuse, refuse_times)
        self.immediate = immediate
        self.batches = []
        self.waiting = []

    def send_batch_twisted(self, messages):
        from twisted.internet import defer

        self.batches.append([message.get("n") for _, message in messages])
        deferred = defer.Deferred()
        if self.immediate:
            deferred.callback(self.send_batch(messages))
        else:
            self.waiting.append((deferred, messages))
        return deferred

    def send(self, channel, message):
        if self.refuse.get(channel):
            self.refuse[channel] -= 1
            raise self.ChannelFull(f"{channel} is full")
        super().send(channel, message)

    def land(self, error=None):
        deferred, messages = self.waiting.pop(0)
        if error is not None:
            deferred.errback(error)
        else:
            deferred.callback(self.send_batch(messages))


def test_on_the_reactor_frames_queued_during_a_batch_go_out_together_in_order():
    layer = DeferredLayer()
    sender = LayerSender(layer, task.Clock(), on_reactor=True)
    sender.send("websocket.receive", {"n": 0, "reply_channel": "c!0"})
    assert layer.batches == [[0]]  # nothing on its way: sent at once, alone
    for n in range(1, 4):
        sender.send("websocket.receive", {"n": n, "reply_channel": "c!a"})
        sender.send("websocket.receive", {"n": 10 + n, "reply_channel": "c!b"})
    assert layer.batches == [[0]]  # waiting for the first batch to land
    layer.land()
    assert layer.batches[1] == [1, 11]  # one per connection
    while layer.waiting:
        layer.land()
    assert layer.batches == [[0], [1, 11], [2, 12], [3, 13]]
    assert [m["n"] for m in drain(layer, "websocket.receive")] == [0, 1, 11, 2, 12, 3, 13]
    assert sender.pending() == 0


def test_on_the_reactor_a_batch_that_lands_at_once_does_not_stall_the_rest():
    layer = DeferredLayer(immediate=True)
    sender = LayerSender(layer, task.Clock(), on_reactor=True)
    for n in range(5):
        sender.send("websocket.receive", {"n": n, "reply_channel": "c!a"})
    assert sender.pending() == 0
    assert [m["n"] for m in drain(layer, "websocket.receive")] == list(range(5))


def test_on_the_reactor_a_lost_batch_goes_to_each_jobs_handler():
    layer = DeferredLayer()
    sender = LayerSender(layer, task.Clock(), on_reactor=True)
    errors = {}
    for n in range(3):
        sender.send(
            "http.request", {"n": n, "reply_channel": f"h!{n}"}, errors.setdefault(n, []).append
        )
    assert layer.batches == [[0]]
    layer.land(ConnectionError("Redis went away"))
    assert [type(e) for e in errors[0]] == [ConnectionError]
    layer.land()  # the other two, together
    assert layer.batches[1] == [1, 2] and not errors[1] and not errors[2]


def test_on_the_reactor_a_full_channel_is_retried_on_the_clock_until_it_has_room():
    clock = task.Clock()
    layer = DeferredLayer(refuse={"websocket.receive"}, refuse_times=2, immediate=True)
    sender = LayerSender(layer, clock, on_reactor=True, full_timeout=5)
    errors = []
    sender.send(
        "websocket.receive", {"n": 1, "reply_channel": "c!a"}, errors.append, retry_full=True
    )
    assert sender.pending() == 1 and not errors
    for _ in range(20):
        clock.advance(0.05)
    assert sender.pending() == 0 and not errors
    assert [m["n"] for m in drain(layer, "websocket.receive")] == [1]
    assert len(layer.batches) == 3  # refused twice, then in


def test_on_the_reactor_stop_waits_for_the_queued_sends_then_refuses_new_ones():
    layer = DeferredLayer()
    sender = LayerSender(layer, task.Clock(), on_reactor=True)
    for n in range(3):
        sender.send("http.disconnect", {"n": n, "reply_channel": f"h!{n}"})
    stopped = sender.stop(timeout=2)
    assert not stopped.called
    with pytest.raises(RuntimeError):
        sender.send("http.disconnect", {"n": 9, "reply_channel": "h!9"})
    while layer.waiting:
        layer.land()
    assert stopped.called
    assert [m["n"] for m in drain(layer, "http.disconnect")] == [0, 1, 2]


def test_on_the_reactor_stop_gives_up_after_its_timeout():
    clock = task.Clock()
    layer = DeferredLayer()
    sender = LayerSender(layer, clock, on_reactor=True)
    sender.send("http.disconnect", {"n": 0, "reply_channel": "h!0"})
    stopped = sender.stop(timeout=2)
    clock.advance(1.9)
    assert not stopped.called
    clock.advance(0.2)
    assert stopped.called


STOPPED = re.compile(
    r"Stopped with (\d+) send\(s\) not made \((\d+) websocket.disconnect not sent\)"
    r"(?:; (\d+) more sent with no answer yet \((\d+) websocket.disconnect\))?"
)


def stopped_counts(text):
    """(not made, disconnects not sent, on their way, disconnects on their way)."""
    match = STOPPED.search(text)
    assert match, text
    return tuple(int(group or 0) for group in match.groups())


def test_on_the_reactor_a_batch_on_its_way_at_the_timeout_is_counted_apart(caplog):
    clock = task.Clock()
    layer = DeferredLayer()
    sender = LayerSender(layer, clock, on_reactor=True)
    for n in range(3):
        sender.send("websocket.disconnect", {"n": n, "reply_channel": f"c!{n}"}, deliver=True)
    assert layer.batches == [[0]]  # on its way; 1 and 2 wait for it
    stopped = sender.stop(timeout=2)
    with caplog.at_level("WARNING", logger="daphne._sender"):
        clock.advance(2.1)
    assert stopped.called
    assert stopped_counts(caplog.text) == (2, 2, 1, 1)
    layer.land()  # the answer comes after all: counted once, as on its way
    delivered = [m["n"] for m in drain(layer, "websocket.disconnect")]
    assert 0 in delivered
    assert len(delivered) + 2 == 3


def test_threaded_a_send_on_its_way_at_the_timeout_is_counted_apart(caplog):
    layer = BatchingLayer()
    sender = LayerSender(layer, RecordingReactor(), threaded=True)
    sender.send("websocket.disconnect", {"n": 0, "reply_channel": "c!0"}, deliver=True)
    assert layer.entered.wait(10)  # the thread holds it, at the gate
    for n in (1, 2):
        sender.send("websocket.disconnect", {"n": n, "reply_channel": f"c!{n}"}, deliver=True)
    with caplog.at_level("WARNING", logger="daphne._sender"):
        sender.stop(timeout=0.2)
    assert stopped_counts(caplog.text) == (2, 2, 1, 1)
    layer.gate.set()
    assert wait_until(lambda: sender.pending() == 0)
    assert len(drain(layer, "websocket.disconnect")) == 3  # it goes on while the process lives


def test_a_stop_out_of_time_with_nothing_on_its_way_says_only_what_was_not_made(caplog):
    clock = task.Clock()
    layer = DeferredLayer(refuse={"websocket.disconnect"}, immediate=True)
    sender = LayerSender(layer, clock, on_reactor=True)
    for n in range(2):
        sender.send("websocket.disconnect", {"n": n, "reply_channel": f"c!{n}"}, deliver=True)
    with caplog.at_level("WARNING", logger="daphne._sender"):
        sender.stop(timeout=1)
        clock.advance(1.1)
    assert stopped_counts(caplog.text) == (2, 2, 0, 0)
    assert "no answer yet" not in caplog.text


def test_on_the_reactor_needs_a_layer_with_send_batch_twisted():
    with pytest.raises(TypeError, match="send_batch_twisted"):
        LayerSender(ChannelLayer(), task.Clock(), on_reactor=True)
    with pytest.raises(ValueError):
        LayerSender(DeferredLayer(), task.Clock(), on_reactor=True, threaded=True)


class DownLayer(DeferredLayer):
    """Lands each batch at once; while ``down`` every send fails as unreachable."""

    def __init__(self, **kwargs):
        super().__init__(immediate=True, **kwargs)
        self.down = False

    def send(self, channel, message):
        if self.down:
            raise ConnectionError("Connection refused")
        super().send(channel, message)


def send_disconnects(sender, count, errors):
    for n in range(count):
        sender.send(
            "websocket.disconnect", {"n": n, "reply_channel": f"w!{n}"}, errors.append, deliver=True
        )


def test_on_the_reactor_a_disconnect_refused_as_full_is_retried_past_the_frame_deadline():
    clock = task.Clock()
    layer = DownLayer(refuse={"websocket.disconnect"}, refuse_times=150)
    sender = LayerSender(layer, clock, on_reactor=True, full_timeout=10)
    errors = []
    send_disconnects(sender, 3, errors)
    for _ in range(200):
        clock.advance(0.1)  # 20 s: twice the frame deadline
    assert sender.pending() == 0 and errors == []
    assert [m["n"] for m in drain(layer, "websocket.disconnect")] == [0, 1, 2]


def test_on_the_reactor_disconnects_wait_out_an_outage_shorter_than_the_limit(caplog):
    clock = task.Clock()
    layer = DownLayer()
    sender = LayerSender(layer, clock, on_reactor=True, deliver_timeout=30)
    errors = []
    layer.down = True
    send_disconnects(sender, 3, errors)
    for _ in range(250):
        clock.advance(0.1)
    assert sender.pending() == 3
    layer.down = False
    clock.advance(0.1)
    assert sender.pending() == 0 and errors == []
    assert [m["n"] for m in drain(layer, "websocket.disconnect")] == [0, 1, 2]
    assert "Gave up" not in caplog.text


def test_on_the_reactor_disconnects_are_dropped_with_one_warning_after_the_outage_limit(caplog):
    clock = task.Clock()
    layer = DownLayer()
    sender = LayerSender(layer, clock, on_reactor=True, deliver_timeout=30)
    errors = []
    layer.down = True
    send_disconnects(sender, 3, errors)
    with caplog.at_level("WARNING", logger="daphne._sender"):
        for _ in range(310):
            clock.advance(0.1)
    assert sender.pending() == 0 and len(errors) == 3
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelname == "WARNING" and r.name == "daphne._sender"
    ]
    assert warnings == [
        "Gave up on 3 message(s) that must be delivered (websocket.disconnect): "
        "the channel layer stayed unreachable for 30s"
    ]
    (drop,) = [r for r in caplog.records if r.name == "daphne.drops"]
    assert (drop.reason, drop.channel, drop.count) == ("layer_down", "websocket.disconnect", 3)


def test_on_the_reactor_stop_still_takes_disconnects_and_waits_for_them():
    clock = task.Clock()
    layer = DownLayer(refuse={"websocket.disconnect"}, refuse_times=5)
    sender = LayerSender(layer, clock, on_reactor=True)
    errors = []
    send_disconnects(sender, 1, errors)
    stopped = sender.stop(timeout=5)
    # a socket aborted at shutdown reports its end after the stop
    sender.send(
        "websocket.disconnect", {"n": 1, "reply_channel": "w!1"}, errors.append, deliver=True
    )
    assert not stopped.called
    for _ in range(20):
        clock.advance(0.1)
    assert stopped.called and errors == []
    assert [m["n"] for m in drain(layer, "websocket.disconnect")] == [0, 1]
