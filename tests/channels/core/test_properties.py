"""Property tests of the pure pieces: response chunking, META headers, routing."""

import re

import pytest
from django.http import HttpResponse
from hypothesis import given, settings
from hypothesis import strategies as st

from asgi import www
from asgi.inmemory import ChannelLayer
from channels.asgi import ChannelLayerWrapper
from channels.handler import AsgiHandler, AsgiRequest
from channels.message import Message
from channels.routing import Router, include, route

pytestmark = pytest.mark.unit

LAYER = ChannelLayerWrapper(ChannelLayer(), "props", [])


class SmallChunks(AsgiHandler):
    chunk_size = 7


@given(st.binary(max_size=100))
def test_chunk_bytes_reassembles_with_full_chunks_and_one_last_flag(data):
    pieces = list(SmallChunks.chunk_bytes(data))
    assert b"".join(chunk for chunk, _ in pieces) == data
    assert [last for _, last in pieces] == [False] * (len(pieces) - 1) + [True]
    assert all(len(chunk) == 7 for chunk, _ in pieces[:-1])
    assert 0 < len(pieces[-1][0]) <= 7 or data == b""


@given(st.binary(max_size=100), st.integers(min_value=200, max_value=599))
def test_encoded_response_reassembles_and_only_the_first_message_has_a_status(content, status):
    messages = list(SmallChunks.encode_response(HttpResponse(content, status=status)))
    assert b"".join(m["content"] for m in messages) == content
    assert messages[0]["status"] == status
    assert all("status" not in m for m in messages[1:])
    assert [m["more_content"] for m in messages] == [True] * (len(messages) - 1) + [False]
    for message in messages[1:]:
        www.validate("http.response.chunk", message)
    www.validate("http.response", messages[0])


header_names = st.sampled_from(["x-a", "x-b", "x_c", "cookie", "content-type"])
header_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=8)


@settings(max_examples=60)
@given(st.lists(st.tuples(header_names, header_values), max_size=8))
def test_meta_joins_repeated_headers_and_drops_underscored_names(headers):
    content = www.http_request(
        reply_channel="http.response!p",
        method="GET",
        path="/",
        headers=[(n.encode(), v.encode("latin1")) for n, v in headers],
    )
    meta = AsgiRequest(Message(content, "http.request", LAYER)).META
    for name in {n for n, _ in headers}:
        values = [v for n, v in headers if n == name]
        key = name.upper().replace("-", "_")
        key = key if key == "CONTENT_TYPE" else "HTTP_" + key
        if "_" in name:
            assert key not in meta
        else:
            assert meta[key] == ("; " if name == "cookie" else ",").join(values)


segment = st.text(alphabet="abcxyz0123456789", min_size=1, max_size=6)


@given(segment, segment)
def test_include_prefix_then_route_equals_one_route_on_the_whole_path(prefix, rest):
    def consumer(message, **kwargs):
        pass

    nested = Router(
        [include([route("http.request", consumer, path=r"^/(?P<rest>\w+)/$")], path=rf"^/{prefix}")]
    )
    flat = Router([route("http.request", consumer, path=rf"^/{re.escape(prefix)}/(?P<rest>\w+)/$")])
    message = Message({"path": f"/{prefix}/{rest}/"}, "http.request", LAYER)
    assert nested.match(message) == flat.match(message) == (consumer, {"rest": rest})
