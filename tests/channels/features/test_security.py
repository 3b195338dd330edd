"""Origin validators: which handshakes get through, run by the real worker.

See docs/topics/security.rst.
"""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from django.test import override_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from channels.routing import route
from channels.security.websockets import (
    AllowedHostsOnlyOriginValidator,
    BaseOriginValidator,
    allowed_hosts_only,
)

from .conftest import Socket

pytestmark = pytest.mark.unit


@allowed_hosts_only
def guarded_connect(message):
    message.reply_channel.send({"accept": True})


class Guarded:
    @allowed_hosts_only
    def connect(self, message):
        message.reply_channel.send({"accept": True})


def handshake(harness, origin, consumer=guarded_connect):
    harness.route([route("websocket.connect", consumer)])
    headers = [] if origin is None else [[b"origin", origin]]
    sock = Socket(harness, headers=headers)
    sock.connect()
    harness.run_all()
    return sock.replies()


ACCEPTED = [{"accept": True}]
DENIED = [{"close": True}]


@override_settings(ALLOWED_HOSTS=["example.com", ".example.org"])
@pytest.mark.parametrize(
    "origin",
    [b"https://example.com", b"http://example.com:8000", b"https://www.example.org"],
)
def test_origin_whose_host_is_allowed_is_accepted(harness, origin):
    assert handshake(harness, origin) == ACCEPTED


@override_settings(ALLOWED_HOSTS=["example.com"])
@pytest.mark.parametrize(
    "origin",
    [
        None,
        b"",
        b"https://evil.com",
        b"https://example.com.evil.com",
        b"null",
        "https://exämple.com".encode(),
        b"http://[::1",
    ],
    ids=["missing", "empty", "other-host", "suffix-trick", "null", "non-ascii", "malformed"],
)
def test_origin_that_is_missing_empty_non_ascii_or_not_allowed_is_denied(harness, origin):
    assert handshake(harness, origin) == DENIED


@override_settings(ALLOWED_HOSTS=[], DEBUG=True)
@pytest.mark.parametrize(
    "origin", [b"http://localhost:8000", b"http://127.0.0.1", b"http://[::1]:80"]
)
def test_debug_with_empty_allowed_hosts_allows_local_origins(harness, origin):
    assert handshake(harness, origin) == ACCEPTED


@override_settings(ALLOWED_HOSTS=[], DEBUG=True)
def test_debug_with_empty_allowed_hosts_still_denies_remote_origins(harness):
    assert handshake(harness, b"http://example.com") == DENIED


@override_settings(ALLOWED_HOSTS=[], DEBUG=False)
def test_no_allowed_hosts_without_debug_denies_everything(harness):
    assert handshake(harness, b"http://localhost") == DENIED


@override_settings(ALLOWED_HOSTS=["*"])
def test_wildcard_allowed_hosts_accepts_any_origin_but_still_needs_one(harness):
    assert handshake(harness, b"https://anything.example") == ACCEPTED
    assert handshake(harness, None) == DENIED


@override_settings(ALLOWED_HOSTS=["example.com"])
def test_validator_works_on_consumer_methods(harness):
    guarded = Guarded()
    assert handshake(harness, b"https://example.com", guarded.connect) == ACCEPTED
    assert handshake(harness, b"https://evil.com", guarded.connect) == DENIED


def test_alias_is_the_allowed_hosts_validator():
    assert allowed_hosts_only is AllowedHostsOnlyOriginValidator


def test_base_validator_without_validate_origin_raises_not_implemented_error(harness):
    class Lazy(BaseOriginValidator):
        pass

    validator = Lazy(lambda message: None)
    sock = Socket(harness, headers=[[b"origin", b"https://example.com"]])
    from channels.message import Message

    message = Message(sock.connect_message(), "websocket.connect", harness.layer)
    with pytest.raises(NotImplementedError, match="validate_origin"):
        validator(message)


def test_custom_validator_decides_from_the_origin(harness):
    class OnlyHttps(BaseOriginValidator):
        def validate_origin(self, message, origin):
            return origin.startswith("https://")

    @OnlyHttps
    def connect(message):
        message.reply_channel.send({"accept": True})

    assert handshake(harness, b"https://a.example", connect) == ACCEPTED
    assert handshake(harness, b"http://a.example", connect) == DENIED


def test_get_header_finds_the_header_case_insensitively_or_raises_key_error(harness):
    validator = AllowedHostsOnlyOriginValidator(lambda message: None)
    sock = Socket(harness, headers=[[b"Origin", b"https://x.example"]])
    from channels.message import Message

    message = Message(sock.connect_message(), "websocket.connect", harness.layer)
    # a list of the values after the name, as 1.x returned it
    assert validator.get_header(message, b"origin") == [b"https://x.example"]
    with pytest.raises(KeyError):
        validator.get_header(message, b"referer")


def test_validator_on_a_receive_consumer_is_a_value_error(harness):
    from channels.message import Message

    validator = AllowedHostsOnlyOriginValidator(lambda message: None)
    message = Message(Socket(harness).receive_message("hi"), "websocket.receive", harness.layer)
    with pytest.raises(ValueError, match="websocket.connect"):
        validator(message)


@override_settings(ALLOWED_HOSTS=["example.com"])
@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=60) | st.text(max_size=60).map(str.encode))
def test_any_origin_header_is_either_accepted_or_denied_never_an_error(origin):
    from channels.exceptions import DenyConnection
    from channels.message import Message

    validator = AllowedHostsOnlyOriginValidator(lambda message: "accepted")
    content = {"reply_channel": "websocket.send.p", "path": "/", "headers": [[b"origin", origin]]}
    message = Message(content, "websocket.connect", channel_layer=None)
    try:
        assert validator(message) == "accepted"
    except DenyConnection:
        return
    assert urlparse(origin.decode("ascii")).hostname == "example.com"
