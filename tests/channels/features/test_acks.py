"""Acknowledged sends, both ways, run by the real worker on the in-memory layer.

See docs/topics/realtime.rst, "Acknowledged sends".
"""

from __future__ import annotations

import json

import pytest

from asgi.inmemory import ChannelLayer as InMemoryChannelLayer
from channels.acks import (
    ACK_TIMEOUT_CHANNEL,
    AckMixin,
    ack_frames,
    ack_timeout_consumer,
    reply,
    send_with_ack,
)
from channels.exceptions import AckError
from channels.generic.websockets import JsonWebsocketConsumer, WebsocketDemultiplexer
from channels.routing import route, route_class

from .conftest import Socket

pytestmark = [pytest.mark.unit, pytest.mark.django_db]

OUTCOMES = []


def outcome_consumer(message):
    OUTCOMES.append(dict(message.content))


class Echo(AckMixin, JsonWebsocketConsumer):
    def receive(self, content, **kwargs):
        if content == {"ask": "me"}:
            self.send_with_ack({"hello": "client"}, reply_to="acks.outcome", timeout=5)
        elif getattr(self.message, "ack_request", None):
            self.reply({"echo": content})
        else:
            self.send({"plain": content})


class EchoStream(JsonWebsocketConsumer):
    def receive(self, content, multiplexer, **kwargs):
        reply(self.message, {"echo": content, "stream": multiplexer.stream})


class Mux(AckMixin, WebsocketDemultiplexer):
    consumers = {"echo": EchoStream}


@ack_frames
def receive_consumer(message):
    OUTCOMES.append(("receive", message["text"]))
    if getattr(message, "ack_request", None):
        reply(message, error="nope")


@pytest.fixture
def echo(harness):
    OUTCOMES.clear()
    harness.route(
        [
            route_class(Echo, path=r"^/echo/$"),
            route_class(Mux, path=r"^/mux/$"),
            route("acks.outcome", outcome_consumer),
            route(ACK_TIMEOUT_CHANNEL, ack_timeout_consumer),
        ]
    )
    sock = Socket(harness, path="/echo/")
    sock.connect()
    harness.run_all()
    assert sock.replies() == [{"accept": True}]
    return sock


def ask_for_ack(harness, sock):
    sock.receive({"ask": "me"})
    harness.run_all()
    (frame,) = sock.texts()
    assert frame["payload"] == {"hello": "client"}
    return frame["ack_request"]


def deliver_delayed(harness):
    """Do what rundelay does once the delay passed: forward each delayed message."""
    for message in harness.replies("asgi.delay"):
        harness.send(message["channel"], message["content"])
    harness.run_all()


def test_an_ack_from_the_client_reports_ok_and_the_later_timer_reports_nothing(harness, echo):
    ack_id = ask_for_ack(harness, echo)
    echo.receive({"ack": ack_id})
    harness.run_all()
    assert OUTCOMES == [{"ack": ack_id, "status": "ok"}]
    deliver_delayed(harness)
    assert OUTCOMES == [{"ack": ack_id, "status": "ok"}]


def test_no_ack_reports_a_timeout_and_a_late_ack_reports_nothing(harness, echo):
    ack_id = ask_for_ack(harness, echo)
    (delayed,) = harness.replies("asgi.delay")
    assert delayed == {"channel": ACK_TIMEOUT_CHANNEL, "content": {"ack": ack_id}, "delay": 5000}
    harness.send(delayed["channel"], delayed["content"])
    harness.run_all()
    echo.receive({"ack": ack_id})
    harness.run_all()
    assert OUTCOMES == [{"ack": ack_id, "status": "timeout"}]


def test_an_ack_from_another_socket_is_ignored(harness, echo):
    ack_id = ask_for_ack(harness, echo)
    other = Socket(harness, path="/echo/")
    other.connect()
    other.receive({"ack": ack_id})
    harness.run_all()
    assert OUTCOMES == []
    echo.receive({"ack": ack_id})
    harness.run_all()
    assert OUTCOMES == [{"ack": ack_id, "status": "ok"}]


def test_a_request_reaches_the_consumer_unwrapped_and_reply_answers_it(harness, echo):
    echo.receive({"request": "r1", "payload": {"n": 1}})
    echo.receive({"n": 2})
    harness.run_all()
    assert echo.texts() == [{"reply": "r1", "payload": {"echo": {"n": 1}}}, {"plain": {"n": 2}}]


def test_a_request_on_a_stream_is_answered_on_that_stream(harness, echo):
    sock = Socket(harness, path="/mux/")
    sock.connect()
    harness.run_all()
    sock.replies()
    sock.receive({"stream": "echo", "payload": {"n": 3}, "request": "r2"})
    harness.run_all()
    assert sock.texts() == [
        {"reply": "r2", "stream": "echo", "payload": {"echo": {"n": 3}, "stream": "echo"}}
    ]


def test_the_decorator_hides_acks_and_can_reply_with_an_error(harness):
    OUTCOMES.clear()
    harness.route([route("websocket.receive", receive_consumer)])
    sock = Socket(harness)
    sock.receive({"ack": "unknown"})
    sock.receive({"request": "r3", "payload": [1, 2]})
    harness.run_all()
    assert OUTCOMES == [("receive", "[1, 2]")]
    assert sock.texts() == [{"reply": "r3", "error": "nope"}]


def test_reply_to_a_message_that_was_no_request_raises(harness, echo):
    class Plain:
        content = {"text": "{}"}

    with pytest.raises(AckError, match="request frame"):
        reply(Plain(), 1)


@pytest.mark.parametrize("timeout", [0, -1, "5", 60, 61])
def test_a_timeout_the_layer_cannot_keep_is_refused(harness, timeout):
    with pytest.raises(AckError, match="timeout must be"):
        send_with_ack(
            "websocket.send.x", {}, "acks.outcome", timeout=timeout, channel_layer=harness.layer
        )


def test_a_malformed_ack_id_gets_a_clear_error(harness, echo):
    from channels.acks import handle_ack_frames

    class Fake:
        content = {"text": json.dumps({"ack": "bad id!"})}

        def get(self, key):
            return self.content[key]

    with pytest.raises(ValueError, match="'ack' id of a frame must be"):
        handle_ack_frames(Fake())


def test_a_timeout_message_without_an_id_is_refused(harness):
    class Fake:
        content = {}
        channel_layer = harness.layer

        def get(self, key):
            return None

    with pytest.raises(AckError, match="needs a str 'ack' id"):
        ack_timeout_consumer(Fake())


def test_no_timeout_sets_no_timer_and_an_ack_still_reports_ok(harness, echo):
    ack_id = send_with_ack(echo.reply_channel, {"n": 1}, "acks.outcome", timeout=None)
    assert harness.replies("asgi.delay") == []
    echo.receive({"ack": ack_id})
    harness.run_all()
    assert OUTCOMES == [{"ack": ack_id, "status": "ok"}]


def test_a_full_delay_channel_costs_the_timeout_report_not_the_send(caplog):
    layer = InMemoryChannelLayer(channel_capacity={"asgi.delay": 1})
    send_with_ack("websocket.send.full", {"n": 1}, "acks.outcome", channel_layer=layer)
    second = send_with_ack("websocket.send.full", {"n": 2}, "acks.outcome", channel_layer=layer)
    assert "is manage.py rundelay running?" in caplog.text
    assert second in caplog.text
    frames = [layer.receive(["websocket.send.full"])[1] for _ in range(2)]
    assert [json.loads(frame["text"])["payload"] for frame in frames] == [{"n": 1}, {"n": 2}]
