"""The chat: rooms are groups, and the Django login follows the user into the
socket (the talk's slide 29, with a room taken from the path)."""

import json

from channels import Group
from channels.auth import channel_session_user, channel_session_user_from_http

from . import longpoll


def room_group(room):
    return Group(f"chat-{room}")


@channel_session_user_from_http
def chat_connect(message, room):
    if not message.user.is_authenticated:
        message.reply_channel.send({"close": True})  # rejects the handshake: 403
        return
    message.channel_session["room"] = room
    room_group(room).add(message.reply_channel)
    message.reply_channel.send({"accept": True})


@channel_session_user
def chat_receive(message, room):
    try:
        text = json.loads(message["text"])["text"]
    except (TypeError, ValueError, KeyError):
        return  # not a chat frame: ignore it
    line = {"user": message.user.get_username(), "room": room, "text": str(text)[:1000]}
    room_group(room).send({"text": json.dumps(line)})
    longpoll.publish(line)


@channel_session_user
def chat_disconnect(message, room):
    room_group(room).discard(message.reply_channel)
