"""Stream multiplexing over one WebSocket, run by the real worker.

See docs/topics/generics.rst, "Multiplexing".
"""

from __future__ import annotations

import json

import pytest

from channels.exceptions import SendNotAvailableOnDemultiplexer
from channels.generic.websockets import (
    JsonWebsocketConsumer,
    WebsocketDemultiplexer,
    WebsocketMultiplexer,
)
from channels.message import Message
from channels.routing import route, route_class

from .conftest import Socket

pytestmark = [pytest.mark.unit, pytest.mark.django_db]

EVENTS = []


class EchoStream(JsonWebsocketConsumer):
    def connect(self, message, multiplexer, **kwargs):
        EVENTS.append(("connect", multiplexer.stream))
        multiplexer.send({"status": "connected"})

    def receive(self, content, multiplexer, **kwargs):
        multiplexer.send({"echo": content})

    def disconnect(self, message, multiplexer, **kwargs):
        EVENTS.append(("disconnect", multiplexer.stream))


class RudeStream(JsonWebsocketConsumer):
    groups = ["rude"]

    def receive(self, content, **kwargs):
        self.send({"direct": True})


class Demultiplexer(WebsocketDemultiplexer):
    consumers = {"echo": EchoStream, "other": EchoStream, "rude": RudeStream}


def frame(stream, payload):
    return {"stream": stream, "payload": payload}


@pytest.fixture
def demux(harness):
    EVENTS.clear()
    harness.route([route_class(Demultiplexer, path=r"^/mux/")])
    sock = Socket(harness, path="/mux/")
    sock.connect()
    harness.run_all()
    return sock


def test_connect_accepts_once_and_reaches_every_stream_consumer(harness, demux):
    replies = demux.replies()
    assert replies[0] == {"accept": True}
    assert replies.count({"accept": True}) == 1
    assert sorted(EVENTS) == [("connect", "echo"), ("connect", "other")]
    statuses = [json.loads(r["text"]) for r in replies[1:]]
    assert sorted(s["stream"] for s in statuses) == ["echo", "other"]
    assert harness.layer.group_channels("rude") == [demux.reply_channel]


def test_stream_consumer_replies_through_its_multiplexer(harness, demux):
    demux.replies()
    demux.receive(frame("echo", {"n": 1}))
    harness.run_all()
    assert demux.texts() == [frame("echo", {"echo": {"n": 1}})]


def test_disconnect_reaches_every_stream_consumer(harness, demux):
    demux.disconnect()
    harness.run_all()
    assert ("disconnect", "echo") in EVENTS and ("disconnect", "other") in EVENTS


def test_stream_consumers_join_their_groups_on_the_forwarded_connect(harness, demux):
    assert harness.layer.group_channels("rude") == [demux.reply_channel]


def test_stream_consumer_send_raises_but_the_class_itself_keeps_its_send(harness, demux):
    message = Message(
        demux.receive_message(json.dumps(frame("rude", {}))), "websocket.receive", harness.layer
    )
    with pytest.raises(SendNotAvailableOnDemultiplexer, match="multiplexer"):
        Demultiplexer(message)
    harness.route([route_class(RudeStream)])
    direct = Socket(harness)
    direct.order = 1
    direct.receive({"x": 1})
    harness.run_all()
    assert direct.texts() == [{"direct": True}]


def test_demultiplexer_send_and_group_send_raise(harness, demux):
    message = Message(
        demux.receive_message(json.dumps(frame("echo", {}))), "websocket.receive", harness.layer
    )
    consumer = Demultiplexer(message)
    with pytest.raises(SendNotAvailableOnDemultiplexer):
        consumer.send({"x": 1})
    with pytest.raises(SendNotAvailableOnDemultiplexer):
        Demultiplexer.group_send("g", {"x": 1})


@pytest.mark.parametrize(
    "content, error",
    [
        ([1, 2], "'stream' and 'payload'"),
        ({"stream": "echo"}, "'stream' and 'payload'"),
        ({"payload": {}}, "'stream' and 'payload'"),
        (frame("echo", [1]), "must be a JSON object"),
        (frame("nope", {}), "'nope' is not mapped"),
    ],
)
def test_malformed_frames_are_value_errors(harness, demux, content, error):
    message = Message(
        demux.receive_message(json.dumps(content)), "websocket.receive", harness.layer
    )
    with pytest.raises(ValueError, match=error):
        Demultiplexer(message)


def test_multiplexer_encode_and_group_send_use_the_stream_format(harness):
    assert WebsocketMultiplexer.encode("s", {"a": 1}) == {
        "text": json.dumps({"stream": "s", "payload": {"a": 1}})
    }
    harness.layer.group_add("watchers", "watcher.one")
    WebsocketMultiplexer.group_send("watchers", "s", {"b": 2}, close=True)
    (sent,) = harness.replies("watcher.one")
    assert json.loads(sent["text"]) == frame("s", {"b": 2})
    assert sent["close"] is True


def test_multiplexer_encodes_dates_and_decimals_with_djangos_encoder():
    import datetime
    import decimal

    encoded = WebsocketMultiplexer.encode(
        "s", {"when": datetime.date(2016, 12, 7), "cost": decimal.Decimal("1.50")}
    )
    assert json.loads(encoded["text"])["payload"] == {"when": "2016-12-07", "cost": "1.50"}


class MappingDemultiplexer(WebsocketDemultiplexer):
    mapping = {"intval": "binding.intval", "stats": "internal.stats"}


def test_mapping_forwards_each_payload_with_its_reply_channel_to_the_mapped_channel(harness):
    forwarded = []

    def stats(message):
        forwarded.append(dict(message.content))

    harness.route(
        [route_class(MappingDemultiplexer, path="^/binding/"), route("internal.stats", stats)]
    )
    sock = Socket(harness, path="/binding/")
    sock.connect()
    harness.run_all()
    sock.receive(frame("stats", {"query": "users"}))
    harness.run_all()
    assert forwarded == [
        {"query": "users", "reply_channel": sock.reply_channel, "path": "/binding/"}
    ]


class OrderedStream(JsonWebsocketConsumer):
    strict_ordering = True
    seen: list = []

    def receive(self, content, multiplexer, **kwargs):
        OrderedStream.seen.append(content["n"])
        multiplexer.send({"n": content["n"]})


class OrderedDemultiplexer(WebsocketDemultiplexer):
    strict_ordering = True
    consumers = {"ordered": OrderedStream}


def test_strict_ordering_composes_with_multiplexing(harness):
    OrderedStream.seen = []
    harness.route([route_class(OrderedDemultiplexer)])
    sock = Socket(harness)
    for n in (3, 1, 2):
        sock.order = n
        sock.receive(frame("ordered", {"n": n}))
    sock.connect()
    harness.run_all()
    assert OrderedStream.seen == [1, 2, 3]
    replies = sock.replies()
    assert replies[0] == {"accept": True}
    assert [json.loads(r["text"])["payload"]["n"] for r in replies[1:]] == [1, 2, 3]
