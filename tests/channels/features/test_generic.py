"""Generic consumers, routed and run by the real worker.

See docs/topics/generics.rst.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client as DjangoClient

from channels import Group
from channels.generic import BaseConsumer
from channels.generic.websockets import JsonWebsocketConsumer, WebsocketConsumer
from channels.message import Message
from channels.routing import route_class

from .conftest import Socket

pytestmark = [pytest.mark.unit, pytest.mark.django_db]


class MyConsumer(JsonWebsocketConsumer):
    # The talk's slide 31, as written.
    def connection_groups(self, **kwargs):
        return ["test"]

    def receive(self, content, **kwargs):
        """
        Called when a message is received with decoded JSON content
        """
        # Simple echo
        self.send(content)


class Echo(WebsocketConsumer):
    groups = ["echoes"]

    def receive(self, text=None, bytes=None, **kwargs):
        if text == "close":
            self.close()
        elif text == "close-4000":
            self.close(4000)
        elif text is not None:
            self.send(text=text.upper())
        else:
            self.send(bytes=bytes[::-1])


class Users(WebsocketConsumer):
    http_user = True

    def connect(self, message, **kwargs):
        self.send(text=f"hello {message.user.username or 'anonymous'}")
        super().connect(message, **kwargs)

    def receive(self, text=None, bytes=None, **kwargs):
        self.send(text=f"{self.message.user.username or 'anonymous'} said {text}")


class Counter(WebsocketConsumer):
    channel_session = True
    strict_ordering = True

    def connect(self, message, **kwargs):
        message.channel_session["count"] = 0
        super().connect(message, **kwargs)

    def receive(self, text=None, bytes=None, **kwargs):
        self.message.channel_session["count"] += 1
        self.send(text=f"{self.message.channel_session['count']}:{text}")


def test_talk_slide_31_json_echo_joins_test_group_and_echoes(harness):
    harness.route([route_class(MyConsumer)])
    sock = Socket(harness)
    sock.connect()
    harness.run_all()
    assert sock.replies() == [{"accept": True}]
    assert harness.layer.group_channels("test") == [sock.reply_channel]
    sock.receive({"hello": ["world", 1]})
    harness.run_all()
    assert sock.texts() == [{"hello": ["world", 1]}]
    MyConsumer.group_send("test", {"to": "all"})
    assert sock.texts() == [{"to": "all"}]
    sock.disconnect()
    harness.run_all()
    assert list(harness.layer.group_channels("test")) == []


def test_websocket_consumer_gets_text_and_bytes_and_can_close(harness):
    harness.route([route_class(Echo)])
    sock = Socket(harness)
    sock.connect()
    harness.run_all()
    sock.receive("hi")
    harness.run_all()
    sock.receive(bytes=b"abc")
    harness.run_all()
    sock.receive("close")
    harness.run_all()
    sock.receive("close-4000")
    harness.run_all()
    assert sock.replies() == [
        {"accept": True},
        {"text": "HI"},
        {"bytes": b"cba"},
        {"close": True},
        {"close": 4000},
    ]


def test_group_send_reaches_every_socket_in_the_group(harness):
    harness.route([route_class(Echo)])
    first, second = Socket(harness), Socket(harness)
    first.connect()
    second.connect()
    harness.run_all()
    first.replies(), second.replies()
    Echo.group_send("echoes", text="news")
    Echo.group_send("echoes", bytes=b"\x00", close=True)
    expected = [{"text": "news"}, {"bytes": b"\x00", "close": True}]
    assert first.replies() == expected
    assert second.replies() == expected


def test_send_without_text_or_bytes_is_a_value_error(harness):
    message = Message(Socket(harness).connect_message(), "websocket.connect", harness.layer)
    consumer = Echo.__new__(Echo)
    consumer.message = message
    with pytest.raises(ValueError, match="text or bytes"):
        consumer.send()
    with pytest.raises(ValueError, match="text or bytes"):
        Echo.group_send("echoes")


def test_http_user_gives_the_logged_in_user_on_connect_and_receive(harness):
    user = User.objects.create_user("grace", password="x")
    browser = DjangoClient()
    browser.force_login(user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"
    harness.route([route_class(Users)])
    sock = Socket(harness, headers=[[b"cookie", cookie.encode()]])
    sock.connect()
    harness.run_all()
    sock.receive("hi")
    harness.run_all()
    assert sock.replies() == [{"text": "hello grace"}, {"accept": True}, {"text": "grace said hi"}]


def test_http_user_and_session_keeps_the_http_session_on_later_frames(harness):
    class Both(WebsocketConsumer):
        http_user_and_session = True

        def receive(self, text=None, bytes=None, **kwargs):
            self.send(text=str(self.message.http_session["colour"]))

    browser = DjangoClient()
    session = browser.session
    session["colour"] = "teal"
    session.save()
    harness.route([route_class(Both)])
    sock = Socket(harness, headers=[[b"cookie", f"sessionid={session.session_key}".encode()]])
    sock.connect()
    harness.run_all()
    sock.receive("?")
    harness.run_all()
    assert sock.replies() == [{"accept": True}, {"text": "teal"}]


def test_strict_ordering_with_channel_session_runs_frames_in_order(harness):
    harness.route([route_class(Counter)])
    sock = Socket(harness)
    for order in (3, 2, 1):
        sock.order = order
        sock.receive(f"f{order}")
    sock.connect()
    harness.run_all()
    assert sock.replies() == [
        {"accept": True},
        {"text": "1:f1"},
        {"text": "2:f2"},
        {"text": "3:f3"},
    ]


def test_slight_ordering_on_a_consumer_is_a_value_error(harness):
    class Slight(WebsocketConsumer):
        slight_ordering = True

    message = Message(Socket(harness).connect_message(), "websocket.connect", harness.layer)
    with pytest.raises(ValueError, match="slight_ordering"):
        Slight(message)


def test_as_route_filters_and_overrides_attributes(harness):
    harness.route([Echo.as_route(attrs={"groups": ["other"]}, path=r"^/echo/(?P<room>\w+)/$")])
    matched = Socket(harness, path="/echo/lobby/")
    matched.connect()
    unmatched = Socket(harness, path="/elsewhere/")
    unmatched.connect()
    harness.run_all()
    assert matched.replies() == [{"accept": True}]
    assert unmatched.replies() == []
    assert harness.layer.group_channels("other") == [matched.reply_channel]
    assert harness.layer.group_channels("echoes") == []
    assert Echo.groups == ["echoes"]


def test_as_route_attrs_must_be_a_dict():
    with pytest.raises(TypeError, match="dict"):
        Echo.as_route(attrs=["groups"])


def test_consumer_instance_keeps_message_kwargs_and_path(harness):
    sock = Socket(harness, path="/rooms/7/")
    message = Message(sock.connect_message(), "websocket.connect", harness.layer)
    consumer = Echo(message, room="7")
    assert consumer.message is message
    assert consumer.kwargs == {"room": "7"}
    assert consumer.path == "/rooms/7/"


def test_base_consumer_routes_channels_named_in_method_mapping(harness):
    class Chat(BaseConsumer):
        method_mapping = {"chat.message": "on_message"}

        def on_message(self, message, **kwargs):
            Group("log").send({"text": message["text"]})

    assert Chat.channel_names() == {"chat.message"}
    harness.route([route_class(Chat)])
    harness.layer.group_add("log", "log.reader")
    harness.send("chat.message", {"text": "hi"})
    harness.run_all()
    assert harness.replies("log.reader") == [{"text": "hi"}]
    unrouted = Message({"text": "x"}, "chat.other", harness.layer)
    with pytest.raises(ValueError, match="no method for channel 'chat.other'"):
        Chat(unrouted)


def test_json_consumer_refuses_binary_and_non_json_frames(harness):
    sock = Socket(harness)
    with pytest.raises(ValueError, match="JSON text frames"):
        MyConsumer(Message(sock.receive_message(bytes=b"\x00"), "websocket.receive", harness.layer))
    with pytest.raises(ValueError, match="not JSON"):
        MyConsumer(Message(sock.receive_message("{nope"), "websocket.receive", harness.layer))
