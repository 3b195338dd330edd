"""asgi.udp: the udp.receive and udp.send formats, their builders and validators."""

from __future__ import annotations

import pytest

from asgi import udp
from asgi.exceptions import InvalidMessage

pytestmark = pytest.mark.unit

REPLY = "udp.send.abc!def"


def test_udp_receive_builds_a_valid_message_with_every_key():
    message = udp.udp_receive(
        reply_channel=REPLY, data=b"x", client=("10.0.0.1", 5000), server=["0.0.0.0", 9000]
    )
    assert message == {
        "reply_channel": REPLY,
        "data": b"x",
        "client": ["10.0.0.1", 5000],
        "server": ["0.0.0.0", 9000],
    }
    assert udp.validate("udp.receive", message) is message


def test_udp_receive_server_defaults_to_none_when_normalized():
    message = {"reply_channel": REPLY, "data": b"", "client": ["::1", 1]}
    assert udp.normalize("udp.receive", message)["server"] is None


@pytest.mark.parametrize(
    "changes, complaint",
    [
        ({"data": "text"}, "'data' must be bytes"),
        ({"reply_channel": "udp.receive!x"}, "starting with 'udp.send'"),
        ({"reply_channel": "udp.send.nobang"}, "process-specific"),
        ({"client": ["10.0.0.1"]}, "'client' must be [host, port]"),
        ({"client": ["10.0.0.1", "80"]}, "'client' must be [host, port]"),
        ({"client": ["10.0.0.1", 70000]}, "'client' must be [host, port]"),
        ({"client": ["10.0.0.1", True]}, "'client' must be [host, port]"),
        ({"server": [1, 2]}, "'server' must be [host, port]"),
    ],
)
def test_udp_receive_rejects_bad_values_naming_the_key(changes, complaint):
    message = {"reply_channel": REPLY, "data": b"x", "client": ["h", 1]} | changes
    with pytest.raises(InvalidMessage) as error:
        udp.validate("udp.receive", message)
    assert complaint in str(error.value)


@pytest.mark.parametrize("key", ["reply_channel", "data", "client"])
def test_udp_receive_requires_its_keys(key):
    message = {"reply_channel": REPLY, "data": b"x", "client": ["h", 1]}
    del message[key]
    with pytest.raises(InvalidMessage, match=repr(key)):
        udp.validate("udp.receive", message)


def test_udp_send_round_trips_through_parse():
    assert udp.parse_udp_send(udp.udp_send(b"\x00\x01")) == b"\x00\x01"


@pytest.mark.parametrize(
    "message, complaint",
    [
        ({}, "lacks the required key 'data'"),
        ({"data": "str"}, "'data' must be bytes"),
        ({"data": b"x", "text": "oops"}, "unknown keys ['text']"),
        ("not a dict", "must be a dict"),
    ],
)
def test_parse_udp_send_refuses_malformed_replies(message, complaint):
    with pytest.raises(InvalidMessage) as error:
        udp.parse_udp_send(message)
    assert complaint in str(error.value)
