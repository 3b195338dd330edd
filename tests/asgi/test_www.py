"""The HTTP and WebSocket message formats: builders, validation, reply parsing."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asgi import www
from asgi.exceptions import InvalidMessage

pytestmark = pytest.mark.unit

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


def test_a_minimal_request_gets_the_defaults_daphne_sends():
    message = www.http_request(reply_channel="http.response!a", method="post", path="/p")
    assert message == {
        "reply_channel": "http.response!a",
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/p",
        "query_string": b"",
        "root_path": "",
        "headers": [],
        "body": b"",
        "body_channel": None,
        "client": None,
        "server": None,
    }


def test_request_addresses_become_lists_as_1x_sent_them():
    message = make_request(client=("1.2.3.4", 5), server=("5.6.7.8", 80))
    assert (message["client"], message["server"]) == (["1.2.3.4", 5], ["5.6.7.8", 80])


def test_request_body_chunk_response_and_chunk_builders_spell_out_every_key():
    assert www.http_request_body_chunk() == {
        "content": b"",
        "closed": False,
        "more_content": False,
    }
    assert www.http_request_body_chunk(b"x", more_content=True, closed=True) == {
        "content": b"x",
        "closed": True,
        "more_content": True,
    }
    assert www.http_response(204) == {
        "status": 204,
        "headers": [],
        "content": b"",
        "more_content": False,
    }
    response = www.http_response(
        200, [(bytearray(b"X-A"), memoryview(b"1"))], b"body", more_content=True
    )
    assert response == {
        "status": 200,
        "headers": [(b"X-A", b"1")],
        "content": b"body",
        "more_content": True,
    }
    assert www.http_response_chunk(b"c") == {"content": b"c", "more_content": False}
    assert www.http_response_chunk(b"", more_content=True) == {
        "content": b"",
        "more_content": True,
    }
    www.validate("http.request.body", www.http_request_body_chunk())
    www.validate("http.response", response)
    www.validate("http.response.chunk", www.http_response_chunk(b"c"))


def test_http_disconnect_names_the_reply_channel_and_path():
    message = www.http_disconnect(reply_channel="http.response!a", path="/p")
    assert message == {"reply_channel": "http.response!a", "path": "/p"}
    assert www.validate("http.disconnect", message) is message


def test_websocket_connect_defaults_and_addresses():
    message = www.websocket_connect(
        reply_channel="websocket.send!x", path="/ws/", client=("1.2.3.4", 5), server=("h", 80)
    )
    assert message == {
        "reply_channel": "websocket.send!x",
        "scheme": "ws",
        "path": "/ws/",
        "query_string": b"",
        "root_path": "",
        "headers": [],
        "client": ["1.2.3.4", 5],
        "server": ["h", 80],
        "order": 0,
    }


REPEATED = [(b"Cookie", b"a=1"), (b"Host", b"h"), (b"COOKIE", b"b=2"), (b"cookie", b"c=3")]


def test_websocket_connect_joins_a_repeated_header_with_commas_by_default():
    message = www.websocket_connect(reply_channel="websocket.send!x", path="/", headers=REPEATED)
    assert message["headers"] == [(b"cookie", b"a=1,b=2,c=3"), (b"host", b"h")]


def test_websocket_connect_can_keep_each_occurrence_of_a_repeated_header():
    message = www.websocket_connect(
        reply_channel="websocket.send!x",
        path="/",
        headers=REPEATED,
        join_repeated_headers=False,
    )
    assert message["headers"] == [
        (b"cookie", b"a=1"),
        (b"host", b"h"),
        (b"cookie", b"b=2"),
        (b"cookie", b"c=3"),
    ]


@pytest.mark.parametrize("payload", [{"text": "hi"}, {"bytes": b"\x00"}])
def test_websocket_receive_has_every_key_of_its_format(payload):
    message = www.websocket_receive(reply_channel="r!x", path="/p", order=3, **payload)
    assert message == {
        "reply_channel": "r!x",
        "path": "/p",
        "order": 3,
        "text": payload.get("text"),
        "bytes": payload.get("bytes"),
    }
    assert www.validate("websocket.receive", message) is message


def test_websocket_receive_without_or_with_both_payloads_says_exactly_one():
    reason = "^websocket.receive takes exactly one of text and bytes$"
    with pytest.raises(InvalidMessage, match=reason):
        www.websocket_receive(reply_channel="r!x", path="/", order=1)
    with pytest.raises(InvalidMessage, match=reason):
        www.websocket_receive(reply_channel="r!x", path="/", order=1, text="", bytes=b"")


def test_websocket_disconnect_carries_code_and_order():
    message = www.websocket_disconnect(reply_channel="r!x", path="/p", code=1001, order=4)
    assert message == {"reply_channel": "r!x", "path": "/p", "code": 1001, "order": 4}
    assert www.validate("websocket.disconnect", message) is message


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({}, {}),
        ({"bytes": b"\x01"}, {"bytes": b"\x01"}),
        ({"bytes": b""}, {"bytes": b""}),
        ({"accept": True}, {"accept": True}),
        ({"accept": False}, {"accept": False}),
        ({"close": True}, {"close": True}),
        ({"close": 4000, "text": "t"}, {"close": 4000, "text": "t"}),
    ],
)
def test_websocket_reply_builder_sets_only_the_keys_given(kwargs, expected):
    assert www.websocket_reply(**kwargs) == expected


@pytest.mark.parametrize(
    "message, expected",
    [
        ({"bytes": b"\x00\x01"}, www.WebsocketReply(None, b"\x00\x01", None)),
        ({"close": 0}, www.WebsocketReply(None, None, None)),
        ({"close": 1}, www.WebsocketReply(None, None, 1)),
        ({"close": 1000, "accept": True}, www.WebsocketReply(True, None, 1000)),
    ],
)
def test_websocket_close_zero_is_no_close_and_other_ints_are_codes(message, expected):
    assert www.parse_websocket_reply(message) == expected


def test_a_reply_with_text_and_bytes_says_to_send_one():
    with pytest.raises(
        InvalidMessage, match="^websocket.send message has both text and bytes; send one$"
    ):
        www.parse_websocket_reply({"text": "a", "bytes": b"a"})
