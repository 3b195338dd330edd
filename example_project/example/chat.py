"""The chat: rooms are groups, and the Django login follows the user into the
socket (the talk's slide 29, with a room taken from the path). Rooms keep
their recent lines (CHANNEL_GROUP_HISTORY in settings), so a browser that
reconnects gets the lines it missed.

Beyond 1.x: a "who's online" list (``channels.presence``), lines sent with
an acknowledgement the page shows, and a welcome notice the browser acks
(``channels.acks``); see docs/topics/realtime.rst.
"""

import json
import logging

from channels import Group
from channels.acks import ack_frames, reply, send_with_ack
from channels.auth import channel_session_user, channel_session_user_from_http
from channels.history import resume_history
from channels.presence import Presence, handle_heartbeat

from . import longpoll

logger = logging.getLogger(__name__)


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
    resume_history(message, [room_group(room).name])  # the lines missed while away
    join_presence(message, room)


@ack_frames
@channel_session_user
def chat_receive(message, room):
    if handle_heartbeat([room_presence(room)], message, presence_meta):
        return
    try:
        text = json.loads(message["text"])["text"]
    except (TypeError, ValueError, KeyError):
        return  # not a chat frame: ignore it
    line = {"user": message.user.get_username(), "room": room, "text": str(text)[:1000]}
    room_group(room).send({"text": json.dumps(line)})
    longpoll.publish(line)
    if getattr(message, "ack_request", None):
        reply(message, {"sent": True})  # the page's send(..., {ack: true}) resolves


@channel_session_user
def chat_disconnect(message, room):
    room_group(room).discard(message.reply_channel)
    room_presence(room).leave(message.reply_channel)


# -- who's online and acknowledged sends ------------------------------------------------


def room_presence(room):
    return Presence(f"chat-{room}")


def presence_meta(message):
    return {"user": message.user.get_username()}


def join_presence(message, room):
    """List the socket as online and greet it with a notice it must ack."""
    room_presence(room).join(message.reply_channel, presence_meta(message))
    send_with_ack(
        message.reply_channel,
        {"notice": f"Welcome to #{room}, {message.user.get_username()}"},
        reply_to="chat.welcomed",
        timeout=None,  # no timer: the example runs no delay server (see rundelay)
    )


def welcomed(message):
    """The outcome of a welcome notice: ``ok`` once the browser acked it."""
    logger.info("Welcome %s: %s", message["ack"], message["status"])
