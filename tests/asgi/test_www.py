"""The HTTP and WebSocket message formats: builders, validation, reply parsing."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asgi import www
from asgi.exceptions import InvalidMessage

header_pairs = st.lists(
    st.tuples(st.binary(min_size=1, max_size=20), st.binary(max_size=40)), max_size=10
)


def make_request(**overrides):
    options = {"reply_channel": "http.response!abc", "method": "get", "path": "/p"}
    options.update(overrides)
    return www.http_request(**options)


@given(header_pairs)
def test_request_headers_are_lowercased_and_keep_order_and_duplicates(pairs):
    message = make_request(headers=pairs)
    assert message["headers"] == [(name.lower(), value) for name, value in pairs]
    www.validate("http.request", message)


def test_request_carries_every_key_of_the_format_and_validates():
    message = make_request(client=("1.2.3.4", 5), server=("5.6.7.8", 80))
    assert set(message) == www.FORMATS["http.request"].keys
    assert message["method"] == "GET"
    assert message["client"] == ["1.2.3.4", 5]
    assert www.validate("http.request", message) is message


def test_websocket_connect_carries_scheme_root_path_and_order_zero():
    message = www.websocket_connect(reply_channel="websocket.send!x", path="/ws/")
    assert set(message) == www.FORMATS["websocket.connect"].keys
    assert (message["scheme"], message["root_path"], message["order"]) == ("ws", "", 0)
    www.validate("websocket.connect", message)


@pytest.mark.parametrize("missing", sorted(www.FORMATS["http.request"].required))
def test_a_missing_required_key_is_named(missing):
    message = make_request()
    del message[missing]
    with pytest.raises(InvalidMessage, match=repr(missing)):
        www.validate("http.request", message)


def test_wrong_types_are_named_with_what_was_expected():
    with pytest.raises(InvalidMessage, match="'status' must be int, got str"):
        www.validate("http.response", {"status": "200"})
    with pytest.raises(InvalidMessage, match="got a bool"):
        www.validate("http.response", {"status": True})
    with pytest.raises(InvalidMessage, match="must be a dict"):
        www.validate("http.response", [200])


def test_normalize_fills_optional_defaults_without_touching_the_original():
    original = {"status": 204}
    filled = www.normalize("http.response", original)
    assert filled == {"status": 204, "headers": [], "content": b"", "more_content": False}
    assert original == {"status": 204}


def test_websocket_receive_needs_exactly_one_payload():
    with pytest.raises(InvalidMessage):
        www.websocket_receive(reply_channel="r!x", path="/", order=1)
    with pytest.raises(InvalidMessage):
        www.websocket_receive(reply_channel="r!x", path="/", order=1, text="a", bytes=b"a")
    message = www.websocket_receive(reply_channel="r!x", path="/", order=1, bytes=b"")
    assert message["bytes"] == b"" and message["text"] is None


@pytest.mark.parametrize(
    "message, expected",
    [
        ({"accept": True}, www.WebsocketReply(True, None, None)),
        ({"accept": False}, www.WebsocketReply(False, None, None)),
        ({"text": ""}, www.WebsocketReply(None, "", None)),
        ({"bytes": b""}, www.WebsocketReply(None, b"", None)),
        ({"close": True}, www.WebsocketReply(None, None, 1000)),
        ({"close": 4001, "text": "bye"}, www.WebsocketReply(None, "bye", 4001)),
        ({"close": False, "text": "x"}, www.WebsocketReply(None, "x", None)),
    ],
)
def test_websocket_replies_reduce_to_actions(message, expected):
    assert www.parse_websocket_reply(message) == expected


@pytest.mark.parametrize(
    "message, error",
    [
        ({"text": "a", "bytes": b"a"}, "both text and bytes"),
        ({"text": "a", "extra": 1}, "unknown keys"),
        ({"close": -1}, "positive int"),
        ({"text": b"not str"}, "'text' must be str or None"),
    ],
)
def test_malformed_websocket_replies_raise_with_a_reason(message, error):
    with pytest.raises(InvalidMessage, match=error):
        www.parse_websocket_reply(message)


def test_websocket_reply_builder_round_trips_through_the_parser():
    built = www.websocket_reply(text="hi", close=1001)
    assert www.parse_websocket_reply(built) == www.WebsocketReply(None, "hi", 1001)
