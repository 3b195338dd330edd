import json

from channels import Group
from channels.auth import channel_session_user, channel_session_user_from_http


@channel_session_user_from_http
def ws_connect(message, room):
    message.channel_session["room"] = room
    Group(f"chat-{room}").add(message.reply_channel)
    message.reply_channel.send({"accept": True})


@channel_session_user
def ws_message(message):
    room = message.channel_session["room"]
    line = {"user": message.user.username, "text": message["text"]}
    Group(f"chat-{room}").send({"text": json.dumps(line)})


@channel_session_user
def ws_disconnect(message):
    room = message.channel_session["room"]
    Group(f"chat-{room}").discard(message.reply_channel)
