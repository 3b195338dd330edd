"""A presence room with acknowledged sends, for the two-daphne presence tests.

``/presence/<room>/?<user>`` joins presence ``room-<room>`` as ``<user>``
(function consumers with ``@channel_presence`` and ``@ack_frames``: the
project has no ``django.contrib.auth``, which the generic consumers import).
A frame ``{"ask": x}`` is sent back with an ack request whose outcome the
``presence-acks`` consumer records; a request frame is answered with its
payload echoed.
"""

import json

from channels.acks import (
    ACK_TIMEOUT_CHANNEL,
    ack_frames,
    ack_timeout_consumer,
    reply,
    send_with_ack,
)
from channels.presence import channel_presence
from channels.routing import route

from .consumers import record

PATH = r"^/presence/(?P<room>\w+)/$"


def meta(message):
    user = message.content.get("query_string", b"").decode()
    return {"user": user} if user else {}


@channel_presence("room-{room}", meta=meta)
def presence_connect(message, room):
    message.reply_channel.send({"accept": True})


@ack_frames
@channel_presence("room-{room}", meta=meta)
def presence_receive(message, room):
    content = json.loads(message["text"])
    if getattr(message, "ack_request", None):
        reply(message, {"echo": content})
    elif isinstance(content, dict) and "ask" in content:
        send_with_ack(
            message.reply_channel, {"asked": content["ask"]}, reply_to="presence-acks", timeout=5
        )


@channel_presence("room-{room}", meta=meta)
def presence_disconnect(message, room):
    record("presence-disconnect", message.content["path"])


def ack_outcome(message):
    record("ack", f"{message['ack']} {message['status']}")


routes = [
    route("websocket.connect", presence_connect, path=PATH),
    route("websocket.receive", presence_receive, path=PATH),
    route("websocket.disconnect", presence_disconnect, path=PATH),
    route("presence-acks", ack_outcome),
    route(ACK_TIMEOUT_CHANNEL, ack_timeout_consumer),
]
