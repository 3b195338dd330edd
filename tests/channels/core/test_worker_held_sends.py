"""A worker handling a batch holds its consumers' sends until the batch ends
and makes them together, in order; what must come after them sends them
first. Observed on a layer that logs every operation in the order the
worker makes them."""

import threading
import time

import pytest
from django.core.signals import request_finished

from asgi import www
from asgi.inmemory import ChannelLayer
from channels import Channel, Group
from channels.asgi import ChannelLayerWrapper, channel_layers
from channels.handler import ViewConsumer
from channels.routing import route
from channels.worker import Worker

pytestmark = pytest.mark.integration

TIMEOUT = 10
LOG: list[tuple] = []


class LoggingLayer(ChannelLayer):
    """The in-memory layer, logging sends and group changes, with a
    ``receive_batch`` that takes up to ``limit`` waiting messages."""

    def send(self, channel, message):
        LOG.append(("send", label(message)))
        super().send(channel, message)

    def send_batch(self, messages):
        LOG.append(("send_batch", [label(message) for _, message in messages]))
        return [self._quiet_send(channel, message) for channel, message in messages]

    def _quiet_send(self, channel, message):
        try:
            super().send(channel, message)
        except Exception as exc:  # noqa: BLE001 - reported as send_batch does
            return exc
        return None

    def group_add(self, group, channel):
        LOG.append(("group_add", group))
        super().group_add(group, channel)

    def send_group(self, group, message):
        LOG.append(("send_group", message.get("text")))
        super().send_group(group, message)

    def receive_batch(self, channels, block=False, limit=1):
        first = self.receive(channels, block=block)
        if first[0] is None:
            return []
        batch = [first]
        while len(batch) < limit:
            more = self.receive(channels)
            if more[0] is None:
                break
            batch.append(more)
        return batch


def label(message):
    """A message's text, or a response's status and first bytes of content."""
    if "status" in message:
        return (message["status"], message.get("content", b"")[:6])
    if "content" in message or "more_content" in message:
        # a streamed response ends with a bare {"more_content": False}, as in 1.x
        return ("chunk", message.get("content", b"")[:6])
    return message.get("text")


def consumer(message, **kwargs):
    text = message["text"]
    LOG.append(("ran", text))
    if text.startswith("slow"):
        time.sleep(0.1)
    if text.startswith("join"):
        Group("room").add(message.reply_channel)
    if text.startswith("now"):
        message.reply_channel.send({"text": text + "!"}, immediately=True)
        return
    if text.startswith("fail"):
        message.reply_channel.send({"text": text})
        raise RuntimeError("consumer bug")
    if text.startswith("shout"):
        Group("room").send({"text": text})
        return
    message.reply_channel.send({"text": text})


@pytest.fixture
def run_batch():
    """Queue ``texts`` behind a first message (the worker learns from it that
    consumers are quick), run a worker over them and return the log of what
    followed the first message."""
    old = channel_layers.backends.get("default")
    layers = []

    def run(texts, budget=1.0):
        LOG.clear()
        layer = ChannelLayerWrapper(
            LoggingLayer(capacity=100), "default", [route("websocket.receive", consumer)]
        )
        layers.append(layer)
        channel_layers.set("default", layer)
        for text in ["first", *texts]:
            layer.send(
                "websocket.receive",
                www.websocket_receive(
                    reply_channel="websocket.send!a", path="/", order=1, text=text
                ),
            )
        LOG.clear()
        worker = Worker(layer, signal_handlers=False)
        worker.batch_budget = budget
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + TIMEOUT
        while layer.receive(["websocket.receive"]) != (None, None) and time.monotonic() < deadline:
            time.sleep(0.01)  # (there is nothing left: the worker took everything)
        expected = 1 + len(texts)
        while sum(1 for entry in LOG if entry[0] == "ran") < expected:
            assert time.monotonic() < deadline, LOG
            time.sleep(0.01)
        time.sleep(0.1)
        worker.stop()
        thread.join(TIMEOUT)
        assert not thread.is_alive()
        first = LOG.index(("send", "first"))
        return LOG[first + 1 :]

    yield run
    channel_layers.set("default", old)


def test_a_batchs_sends_go_together_when_it_ends_in_consumer_order(run_batch):
    log = run_batch(["a", "b", "c"])
    assert log == [("ran", "a"), ("ran", "b"), ("ran", "c"), ("send_batch", ["a", "b", "c"])]


def test_a_group_add_sends_the_held_messages_first(run_batch):
    log = run_batch(["a", "join", "b"])
    assert log == [
        ("ran", "a"),
        ("ran", "join"),
        ("send", "a"),
        ("group_add", "room"),
        ("ran", "b"),
        ("send_batch", ["join", "b"]),
    ]


def test_an_immediate_send_sends_the_held_messages_first(run_batch):
    log = run_batch(["a", "b", "now"])
    assert log == [
        ("ran", "a"),
        ("ran", "b"),
        ("ran", "now"),
        ("send_batch", ["a", "b"]),
        ("send", "now!"),
    ]


def test_a_failing_consumers_sends_are_dropped_and_the_others_still_go(run_batch):
    log = run_batch(["a", "fail", "b"])
    assert log == [("ran", "a"), ("ran", "fail"), ("ran", "b"), ("send_batch", ["a", "b"])]


def test_a_group_send_keeps_its_place_among_the_held_sends(run_batch):
    log = run_batch(["a", "shout", "b"])
    assert log == [
        ("ran", "a"),
        ("ran", "shout"),
        ("ran", "b"),
        ("send", "a"),
        ("send_group", "shout"),
        ("send", "b"),
    ]


def test_a_batch_past_its_time_budget_sends_what_it_holds_at_once(run_batch):
    log = run_batch(["slow", "a", "b"], budget=0.05)
    assert log == [
        ("ran", "slow"),
        ("send", "slow"),
        ("ran", "a"),
        ("ran", "b"),
        ("send_batch", ["a", "b"]),
    ]


def test_outside_a_worker_batch_a_consumers_sends_go_when_it_ends():
    # Channel.send in a consumer run by hand (as the test helpers do) is unchanged.
    layer = LoggingLayer(capacity=100)
    LOG.clear()
    from channels.message import pending_message_store
    from channels.signals import consumer_finished, consumer_started

    consumer_started.send(sender=None)
    Channel("x", channel_layer=layer).send({"text": "one"})
    assert LOG == []
    consumer_finished.send(sender=None)
    assert LOG == [("send", "one")]
    assert not pending_message_store.active


def run_requests(paths):
    """Queue an HTTP request for each path behind a first one, run a worker
    with ViewConsumer over them and return the log after the first's reply."""
    old = channel_layers.backends.get("default")
    LOG.clear()
    layer = ChannelLayerWrapper(
        LoggingLayer(capacity=100), "default", [route("http.request", ViewConsumer())]
    )
    channel_layers.set("default", layer)
    try:
        for n, path in enumerate(["/hello/", *paths]):
            layer.send(
                "http.request",
                www.http_request(
                    reply_channel=f"http.response!{n}",
                    method="GET",
                    path=path.partition("?")[0],
                    query_string=path.partition("?")[2].encode(),
                    headers=[(b"host", b"testserver")],
                ),
            )
        LOG.clear()
        worker = Worker(layer, signal_handlers=False)
        worker.batch_budget = 1.0
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        replies = {}
        deadline = time.monotonic() + TIMEOUT
        while len(replies) <= len(paths):
            assert time.monotonic() < deadline, LOG
            name, content = layer.receive(["http.response!"])
            if name is None:
                time.sleep(0.01)
            elif "status" in content:
                replies[int(name.rpartition("!")[2])] = content
        time.sleep(0.1)
        worker.stop()
        thread.join(TIMEOUT)
        assert not thread.is_alive()
    finally:
        channel_layers.set("default", old)
    return LOG[1:], replies


def test_whole_http_responses_of_a_batch_go_out_together():
    log, replies = run_requests(["/hello/?name=a", "/hello/?name=b", "/hello/?name=c"])
    assert log == [("send_batch", [(200, b"hello "), (200, b"hello "), (200, b"hello ")])]
    assert [replies[n]["content"] for n in (1, 2, 3)] == [b"hello a", b"hello b", b"hello c"]


def test_a_streamed_response_goes_at_once_after_the_held_ones():
    log, replies = run_requests(["/hello/?name=a", "/stream/"])
    assert log[0] == ("send", (200, b"hello "))  # held, sent before the stream starts
    # the stream's first message (status and first part, as 1.x framed it), at once
    assert log[1] == ("send", (200, b"first,"))
    assert all(entry[0] == "send" and entry[1][0] == "chunk" for entry in log[2:])
    assert replies[1]["content"] == b"hello a"


def test_a_held_response_still_goes_when_the_request_ends_in_an_error(caplog):
    def fail(**kwargs):
        raise RuntimeError("request_finished receiver bug")

    request_finished.connect(fail, dispatch_uid="test-held-fail")
    try:
        log, replies = run_requests(["/hello/?name=a", "/hello/?name=b"])
    finally:
        request_finished.disconnect(dispatch_uid="test-held-fail")
    assert [replies[n]["content"] for n in (1, 2)] == [b"hello a", b"hello b"]
    assert log == [("send_batch", [(200, b"hello "), (200, b"hello ")])]
    assert caplog.text.count("request_finished receiver bug") >= 2  # each consumer raised
