"""Consumers used by the tests of channels.test."""

from channels import Channel
from channels.exceptions import ConsumeLater, DenyConnection, WebsocketCloseException


def echo_http(message):
    message.reply_channel.send(
        {
            "status": 200,
            "headers": [[b"content-type", b"text/plain"]],
            "content": message["path"].encode(),
        }
    )


def accept(message):
    message.reply_channel.send({"accept": True})
    return "accepted"


def deny(message):
    raise DenyConnection


def reject_with_close(message):
    message.reply_channel.send({"close": True})


def echo_text(message):
    message.reply_channel.send({"text": message["text"]})


SEEN_INSIDE = []


def reply_then_look(message):
    """Sends a reply, then records whether the layer already holds it."""
    message.reply_channel.send({"text": "reply"})
    SEEN_INSIDE.append(message.channel_layer.receive([message.reply_channel.name]))


def reply_then_fail(message):
    message.reply_channel.send({"text": "never"})
    raise RuntimeError("consumer bug")


def immediate_then_fail(message):
    Channel(message.reply_channel.name).send({"text": "sent at once"}, immediately=True)
    raise RuntimeError("consumer bug")


def close_with_4001(message):
    raise WebsocketCloseException(4001)


class CountingLater:
    calls = 0

    def __call__(self, message):
        type(self).calls += 1
        if type(self).calls == 1:
            raise ConsumeLater
        message.reply_channel.send({"text": "second try"})


def _user_consumers():
    from channels.auth import channel_session_user, channel_session_user_from_http

    @channel_session_user_from_http
    def connect(message):
        message.reply_channel.send({"accept": True})

    @channel_session_user
    def receive(message):
        message.reply_channel.send({"text": message.user.get_username() or "anonymous"})

    return connect, receive


user_connect, user_receive = _user_consumers()
