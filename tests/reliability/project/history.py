"""A group with history, for the two-daphne history test.

``/history/<room>/`` joins group ``hist.<room>``, which keeps its last
:data:`SIZE` text frames (docs/topics/history.rst): on connect the socket is
added to the group, accepted, and sent what it missed after the offset of
the ``channels_history`` query parameter (function consumers, as
``presence.py``: the project has no ``django.contrib.auth``, which the
generic consumers import); each text frame it sends is sent to the group.
"""

from channels import Group
from channels.history import resume_history
from channels.routing import route

PATH = r"^/history/(?P<room>\w+)/$"
#: Text frames the group keeps: small, so that a test can send past it.
SIZE = 5
#: Seconds the history lives after the last send: longer than any test.
TTL = 120


def room_group(room: str) -> Group:
    return Group(f"hist.{room}", history=SIZE, history_ttl=TTL)


def history_connect(message, room):
    group = room_group(room)
    group.add(message.reply_channel)
    message.reply_channel.send({"accept": True})
    resume_history(message, [group.name])


def history_receive(message, room):
    room_group(room).send({"text": message.content.get("text") or ""})


def history_disconnect(message, room):
    room_group(room).discard(message.reply_channel)


routes = [
    route("websocket.connect", history_connect, path=PATH),
    route("websocket.receive", history_receive, path=PATH),
    route("websocket.disconnect", history_disconnect, path=PATH),
]
