"""asgi.irc: the irc-client.* formats and control messages."""

from __future__ import annotations

import pytest

from asgi import irc
from asgi.exceptions import InvalidMessage

pytestmark = pytest.mark.unit

REPLY = "irc-client.send.abc!client"


def test_builders_make_messages_that_validate():
    assert irc.irc_connect(reply_channel=REPLY, server=("irc.example", 6667)) == {
        "reply_channel": REPLY,
        "server": ["irc.example", 6667],
    }
    assert irc.irc_join(reply_channel=REPLY, channel="#a") == {
        "reply_channel": REPLY,
        "channel": "#a",
    }
    received = irc.irc_receive(
        reply_channel=REPLY, type="action", user="al!al@h", channel="#a", body="waves"
    )
    assert irc.validate("irc-client.receive", received) is received


@pytest.mark.parametrize("kind", ["message", "action", "notice"])
def test_receive_accepts_each_spec_type(kind):
    message = irc.irc_receive(reply_channel=REPLY, type=kind, user="u", channel="#c", body="b")
    assert message["type"] == kind
    assert irc.validate("irc-client.receive", message) is message


def test_receive_rejects_an_unknown_type():
    with pytest.raises(InvalidMessage, match="must be one of message, action, notice"):
        irc.irc_receive(reply_channel=REPLY, type="join", user="u", channel="#c", body="b")


@pytest.mark.parametrize("key", ["reply_channel", "type", "user", "channel", "body"])
def test_receive_requires_every_key(key):
    message = {"reply_channel": REPLY, "type": "message", "user": "u", "channel": "#c", "body": ""}
    del message[key]
    with pytest.raises(InvalidMessage, match=repr(key)):
        irc.validate("irc-client.receive", message)


def test_connect_rejects_a_server_that_is_not_host_and_port():
    with pytest.raises(InvalidMessage, match="'server' must be"):
        irc.validate("irc-client.connect", {"reply_channel": REPLY, "server": ["h"]})


@pytest.mark.parametrize(
    "message, expected",
    [
        ({"type": "join", "channel": "#a"}, irc.IrcControl("join", "#a", None)),
        ({"type": "part", "channel": "#a"}, irc.IrcControl("part", "#a", None)),
        ({"type": "message", "channel": "#a", "body": "hi"}, irc.IrcControl("message", "#a", "hi")),
        (
            {"type": "action", "channel": "nick", "body": "waves"},
            irc.IrcControl("action", "nick", "waves"),
        ),
    ],
)
def test_parse_control_reduces_each_type(message, expected):
    assert irc.parse_irc_control(message) == expected


@pytest.mark.parametrize(
    "message, complaint",
    [
        ({"type": "message", "channel": "#a"}, "needs a str 'body'"),
        ({"type": "action", "channel": "#a", "body": None}, "needs a str 'body'"),
        ({"type": "kick", "channel": "#a"}, "must be one of join, part, message, action"),
        ({"channel": "#a"}, "lacks the required key 'type'"),
        ({"type": "join"}, "lacks the required key 'channel'"),
        ({"type": "join", "channel": "#a", "text": "x"}, "unknown keys ['text']"),
        ({"type": "join", "channel": "#a b"}, "without spaces"),
        ({"type": "join", "channel": ""}, "without spaces"),
        ({"type": "message", "channel": "#a", "body": "x\r\nQUIT"}, "one line"),
        ({"type": "message", "channel": "#a", "body": b"bytes"}, "'body' must be str or None"),
    ],
)
def test_parse_control_refuses_malformed_or_injecting_messages(message, complaint):
    with pytest.raises(InvalidMessage) as error:
        irc.parse_irc_control(message)
    assert complaint in str(error.value)


def test_irc_control_builder_omits_body_for_join():
    assert irc.irc_control(type="join", channel="#a") == {"type": "join", "channel": "#a"}
