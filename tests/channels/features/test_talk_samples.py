# ruff: noqa: UP031 - the slides use %-formatting
"""The code samples of the talk (TALK.txt), run as written apart from imports.

Slide 31 (``MyConsumer``) is in test_generic.py. Slides 21, 25 and 26 show
pre-1.0 pseudo-code: the tests below run them as written and pin down what
1.x (and this project, per docs/reference/channels.rst, "Channel and
Group") does with them, next to the 1.x form.
"""

from __future__ import annotations

import json
import logging

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.http import HttpResponse
from django.test import Client as DjangoClient

from channels import Group
from channels.auth import channel_session_user, channel_session_user_from_http
from channels.binding.websockets import WebsocketBinding
from channels.generic.websockets import WebsocketDemultiplexer
from channels.handler import AsgiHandler
from channels.routing import route, route_class
from tests.values.models import IntegerValue

from .conftest import Socket

pytestmark = [pytest.mark.unit, pytest.mark.django_db(transaction=True)]


# -- slides 21 and 26 --------------------------------------------------------------------


class consumers:  # noqa: N801 - stands in for the slide's consumers module
    # Consumer
    def ws_connect(message):  # noqa: N805 - the slide's module-level function
        message.reply_channel.send(message["text"])

    def ws_receive(message):  # noqa: N805 - the slide's module-level function
        message.reply_channel.send({"text": message["text"]})

    def ws_disconnect(message):  # noqa: N805 - the slide's module-level function
        pass


# Routing
channel_routing = {
    "websocket.connect": consumers.ws_connect,
    "websocket.receive": consumers.ws_receive,
    "websocket.disconnect": consumers.ws_disconnect,
}


def test_slide_26_dict_routing_with_the_slides_message(harness, caplog):
    harness.route(channel_routing)
    # Message
    message = {
        "text": "Hello, world!",
        "path": "/chat/socket/",
        "reply_channel": "websocket.send!9m12in2p",
    }
    harness.send("websocket.connect", message)
    with caplog.at_level(logging.ERROR, logger="channels"):
        harness.run_all()
    # Slide 21's body sends a bare str: Channel.send takes dicts only
    # (docs/reference/channels.rst, "Channel and Group").
    assert "You can only send dicts" in caplog.text
    harness.send("websocket.receive", dict(message, order=1))
    harness.run_all()
    assert harness.layer.receive(["websocket.send!"], block=False) == (
        "websocket.send!9m12in2p",
        {"text": "Hello, world!"},
    )


# -- slide 25 -------------------------------------------------------------------------------


def http_consumer(message):
    response = HttpResponse("Hey there")
    message.reply_channel.send(response.channel_encode())


def http_consumer_1x(message):
    response = HttpResponse("Hey there")
    for chunk in AsgiHandler.encode_response(response):
        message.reply_channel.send(chunk)


def test_slide_25_http_consumer(harness, caplog):
    # Routing
    harness.route({"http.request": http_consumer})
    # Message
    message = {
        "reply_channel": "http.response!g23vD2x5",
        "method": "GET",
        "http_version": "2",
        "path": "/chat/socket/",
        "query_string": "foo=bar",
        "headers": [["cookie", "abcdef..."]],
    }
    harness.send("http.request", message)
    with caplog.at_level(logging.ERROR, logger="channels"):
        harness.run_all()
    # channel_encode() was a 0.x API; 1.x encodes with AsgiHandler.encode_response.
    assert "channel_encode" in caplog.text
    harness.route({"http.request": http_consumer_1x})
    harness.send("http.request", message)
    harness.run_all()
    _channel, reply = harness.layer.receive(["http.response!"], block=False)
    assert (reply["status"], reply["content"]) == (200, b"Hey there")


# -- slide 29 -------------------------------------------------------------------------------


@channel_session_user_from_http
def ws_add(message):
    Group("chat-%s" % message.user.username[0]).add(message.reply_channel)


@channel_session_user
def ws_message(message):
    Group("chat-%s" % message.user.username[0]).send(
        {
            "text": message["text"],
        }
    )


def test_slide_29_chat_groups_by_the_users_initial(harness):
    harness.route([route("websocket.connect", ws_add), route("websocket.receive", ws_message)])
    user = User.objects.create_user("ada", password="lovelace")
    browser = DjangoClient()
    browser.force_login(user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"
    sock = Socket(harness, path="/chat/socket/", headers=[[b"cookie", cookie.encode()]])
    sock.connect()
    harness.run_all()
    assert harness.layer.group_channels("chat-a") == [sock.reply_channel]
    sock.receive("hi all")
    harness.run_all()
    assert sock.replies() == [{"text": "hi all"}]


# -- slides 33, 35 and 36 --------------------------------------------------------------------


class Demultiplexer(WebsocketDemultiplexer):
    mapping = {
        "intval": "binding.intval",
        "stats": "internal.stats",
    }


# Consumer
class IntegerValueBinding(WebsocketBinding):
    model = IntegerValue
    stream = "intval"
    fields = ["name", "value"]

    def group_names(self, instance, action):
        return ["intval-updates"]

    def has_permission(self, user, action, pk):
        return True


# Routing
binding_routing = [
    route_class(Demultiplexer, path="^/binding/"),
    route("binding.intval", IntegerValueBinding.consumer),
]


def test_slides_33_to_36_integer_value_binding_round_trip(harness):
    harness.route(binding_routing)
    IntegerValue.objects.create(name="Other", value=1)
    IntegerValue.objects.create(name="Cool", value=0)
    sock = Socket(harness, path="/binding/")
    sock.connect()
    harness.run_all()
    assert sock.replies() == [{"accept": True}]
    harness.layer.group_add("intval-updates", sock.reply_channel)
    # Message (Client)
    sock.receive(
        {"payload": {"action": "update", "data": {"value": "56"}, "pk": "2"}, "stream": "intval"}
    )
    harness.run_all()
    # Message (Server)
    assert sock.texts() == [
        {
            "payload": {
                "action": "update",
                "data": {"name": "Cool", "value": 56},
                "model": "values.integervalue",
                "pk": 2,
            },
            "stream": "intval",
        }
    ]
    assert IntegerValue.objects.get(pk=2).value == 56


def test_slide_35_binding_broadcasts_changes_made_anywhere(harness):
    harness.route(binding_routing)
    harness.layer.group_add("intval-updates", "watcher.1")
    value = IntegerValue.objects.create(name="Cool", value=3)
    (sent,) = harness.replies("watcher.1")
    assert json.loads(sent["text"]) == {
        "stream": "intval",
        "payload": {
            "action": "create",
            "data": {"name": "Cool", "value": 3},
            "model": "values.integervalue",
            "pk": value.pk,
        },
    }
