"""1.x fidelity of ``channels.handler``: the requests it reads, the responses it sends.

Written the way a Channels 1.x user wrote tests: hand-built message dicts,
``ChannelTestCase`` with ``Client`` and the in-memory layer, and direct calls
of ``AsgiRequest(message)`` and ``AsgiHandler.encode_response(response)``.

* ``AsgiRequest`` reads the minimal messages 1.x read (``reply_channel``,
  ``method`` and ``path`` only; ``str`` query strings; dict headers; bytes
  paths), and WebSocket messages, which have no method; only input that
  cannot be decoded is refused (a 400 through the handler).
* ``encode_response`` gives header pairs as ``(bytes, bytes)`` tuples.
* Responses are framed as 1.x framed them: status and headers on the first
  message with the first content; one message per streamed part; a bare
  ``{"more_content": False}`` at the end of a stream; ``FileResponse`` reads
  512 KB blocks.
"""

import io
import json

import pytest
from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from hypothesis import given
from hypothesis import strategies as st

from asgi import www
from asgi.exceptions import InvalidMessage
from asgi.inmemory import ChannelLayer
from channels import Channel
from channels.asgi import ChannelLayerWrapper
from channels.handler import AsgiHandler, AsgiRequest, ViewConsumer
from channels.message import Message
from channels.routing import route
from channels.test import ChannelTestCase, Client, apply_routes

pytestmark = pytest.mark.integration

LAYER = ChannelLayerWrapper(ChannelLayer(), "default", [])


def request_from(content, channel="http.request"):
    return AsgiRequest(Message(content, channel, LAYER))


def minimal(**extra):
    """The smallest http.request 1.x code built by hand, plus ``extra`` keys."""
    content = {"reply_channel": "http.response!abc", "method": "GET", "path": "/x/"}
    content.update(extra)
    return content


# -- item 1: AsgiRequest reads minimal messages -------------------------------------


def test_a_request_with_only_reply_channel_method_and_path_has_the_spec_defaults():
    request = request_from(minimal())
    assert request.path == request.path_info == "/x/"
    assert request.method == "GET" and request.META["REQUEST_METHOD"] == "GET"
    assert request.META["QUERY_STRING"] == "" and dict(request.GET) == {}
    assert request.META["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert request.META["SCRIPT_NAME"] == "" and request.scheme == "http"
    assert not [key for key in request.META if key.startswith("HTTP_")]
    assert request.body == b"" and request.COOKIES == {}
    assert (request.META["SERVER_NAME"], request.META["SERVER_PORT"]) == ("unknown", "0")
    assert request.reply_channel.name == "http.response!abc"


def test_a_lower_case_method_is_upper_cased():
    assert request_from(minimal(method="post")).method == "POST"


def test_a_str_query_string_is_read_like_its_utf8_bytes():
    from_str = request_from(minimal(query_string="a=1&a=2&b=%C3%A9&c=é"))
    from_bytes = request_from(minimal(query_string="a=1&a=2&b=%C3%A9&c=é".encode()))
    assert from_str.GET.getlist("a") == ["1", "2"]
    assert from_str.GET["b"] == from_str.GET["c"] == "é"
    assert from_str.META["QUERY_STRING"] == from_bytes.META["QUERY_STRING"]
    assert dict(from_str.GET.lists()) == dict(from_bytes.GET.lists())


def test_a_none_query_string_and_none_root_path_are_empty():
    request = request_from(minimal(query_string=None, root_path=None))
    assert request.META["QUERY_STRING"] == "" and request.script_name == ""
    assert request.path_info == "/x/"


def test_a_dict_of_headers_is_converted_like_a_list():
    request = request_from(
        minimal(headers={"host": b"legacy.example", "cookie": b"a=1", "x-thing": "v"})
    )
    assert request.META["HTTP_HOST"] == "legacy.example"
    assert request.META["HTTP_X_THING"] == "v"
    assert request.COOKIES == {"a": "1"}
    assert request.get_host() == "legacy.example"


def test_header_pairs_may_be_tuples_lists_or_str():
    request = request_from(
        minimal(
            headers=[
                (b"x-multi", b"one"),
                [b"x-multi", b"two"],
                ["x-multi", "three"],
                ("content-type", b"text/plain; charset=latin-1"),
            ]
        )
    )
    assert request.META["HTTP_X_MULTI"] == "one,two,three"
    assert request.META["CONTENT_TYPE"] == "text/plain; charset=latin-1"
    assert request.encoding == "latin-1"


def test_missing_http_version_means_1_1_and_a_given_one_is_kept():
    assert request_from(minimal()).META["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert request_from(minimal(http_version="1.0")).META["SERVER_PROTOCOL"] == "HTTP/1.0"


def test_a_bytes_path_is_decoded_as_utf8():
    request = request_from(minimal(path="/café/".encode()))
    assert request.path == "/café/" and request.path_info == "/café/"


def test_a_bytes_root_path_is_decoded_and_split_off_the_path():
    request = request_from(minimal(path=b"/prefix/x/", root_path=b"/prefix"))
    assert (request.script_name, request.path_info) == ("/prefix", "/x/")


def test_a_websocket_connect_message_gives_its_query_string_and_cookies():
    content = {
        "reply_channel": "websocket.send!abc",
        "path": "/chat/",
        "query_string": b"token=abc&room=1",
        "headers": [[b"cookie", b"sessionid=s3cret"], [b"origin", b"http://example.com"]],
        "client": ["10.0.0.7", 51234],
        "server": ["10.0.0.1", 8000],
        "order": 0,
    }
    request = request_from(content, channel="websocket.connect")
    assert request.GET["token"] == "abc" and request.GET["room"] == "1"
    assert request.COOKIES == {"sessionid": "s3cret"}
    assert request.META["HTTP_ORIGIN"] == "http://example.com"
    assert request.META["REMOTE_ADDR"] == "10.0.0.7"
    assert request.META["SERVER_PORT"] == "8000"
    assert request.method is None and "REQUEST_METHOD" not in request.META


def test_a_websocket_receive_message_gives_a_request_for_its_path():
    content = {"reply_channel": "websocket.send!abc", "path": "/chat/", "order": 1, "text": "hi"}
    request = request_from(content, channel="websocket.receive")
    assert request.path == "/chat/" and dict(request.GET) == {} and request.COOKIES == {}


@given(st.text(max_size=40))
def test_any_str_query_string_reads_like_its_utf8_bytes(query):
    from_str = request_from(minimal(query_string=query))
    from_bytes = request_from(minimal(query_string=query.encode()))
    assert dict(from_str.GET.lists()) == dict(from_bytes.GET.lists())


header_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=8)


@given(st.lists(st.tuples(st.sampled_from(["x-a", "X-B", "cookie", "host"]), header_text)))
def test_str_header_pairs_read_like_their_latin1_bytes(headers):
    as_str = request_from(minimal(headers=headers)).META
    as_bytes = request_from(
        minimal(headers=[(n.encode("latin1"), v.encode("latin1")) for n, v in headers])
    ).META
    assert as_str == as_bytes


def test_a_path_that_is_not_utf8_cannot_be_read():
    with pytest.raises(UnicodeDecodeError, match="utf-8"):
        request_from(minimal(path=b"/caf\xe9/"))


def test_a_query_string_that_is_not_utf8_cannot_be_read():
    with pytest.raises(UnicodeDecodeError, match="utf-8"):
        request_from(minimal(query_string=b"name=\xff"))


def test_a_message_without_a_path_cannot_be_read():
    content = minimal()
    del content["path"]
    with pytest.raises(InvalidMessage, match="lacks the required key 'path'"):
        request_from(content)


@pytest.mark.parametrize(
    "headers",
    [
        [[b"host", b"x", b"extra"]],
        [[b"host"]],
        [b"host: x"],
        "host: x",
        42,
    ],
    ids=["triple", "single", "bytes-line", "str", "int"],
)
def test_headers_that_are_not_name_value_pairs_cannot_be_read(headers):
    with pytest.raises(InvalidMessage, match=r"headers must be .*\[name, value\] pairs"):
        request_from(minimal(headers=headers))


def test_a_header_name_that_is_neither_bytes_nor_str_cannot_be_read():
    with pytest.raises(InvalidMessage, match=r"pairs of bytes, got \(1, b'x'\)"):
        request_from(minimal(headers=[(1, b"x")]))


def test_a_method_that_is_neither_str_nor_bytes_cannot_be_read():
    with pytest.raises(InvalidMessage, match="'method' must be str .*got int"):
        request_from(minimal(method=1))


def test_a_str_body_cannot_be_read():
    with pytest.raises(InvalidMessage, match="'body' must be bytes, got str"):
        request_from(minimal(body="text"))


def test_a_client_that_is_not_a_host_port_pair_cannot_be_read():
    with pytest.raises(
        InvalidMessage, match=r"'client' must be \[host, port\], got \['10.0.0.7'\]"
    ):
        request_from(minimal(client=["10.0.0.7"]))


def test_a_body_channel_that_is_not_a_name_cannot_be_read():
    with pytest.raises(InvalidMessage, match="'body_channel' must be a channel name, got 5"):
        request_from(minimal(body_channel=5))


@apply_routes([route("http.request", ViewConsumer())])
class MinimalRequestsThroughTheHandlerTests(ChannelTestCase):
    """Hand-built messages sent on ``http.request`` and served by ``ViewConsumer``."""

    def serve(self, content):
        client = Client()
        content = dict(content, reply_channel=client.reply_channel)
        Channel("http.request").send(content)
        client.consume("http.request")
        return client.receive()

    def test_a_minimal_request_with_a_str_query_string_reaches_the_view(self):
        reply = self.serve({"method": "GET", "path": "/hello/", "query_string": "name=ada"})
        assert reply["status"] == 200 and reply["content"] == b"hello ada"
        assert reply["more_content"] is False

    def test_a_minimal_request_gets_the_default_meta(self):
        data = json.loads(self.serve({"method": "GET", "path": "/meta/"})["content"])
        assert data["meta"]["SERVER_PROTOCOL"] == "HTTP/1.1"
        assert data["meta"]["QUERY_STRING"] == "" and data["get"] == {}
        assert data["meta"]["SERVER_NAME"] == "unknown"

    def test_a_request_without_a_method_gets_400(self):
        reply = self.serve({"path": "/hello/"})
        assert reply["status"] == 400

    def test_an_undecodable_path_gets_400(self):
        assert self.serve({"method": "GET", "path": b"/hello/\xff"})["status"] == 400

    def test_malformed_headers_get_400(self):
        reply = self.serve({"method": "GET", "path": "/hello/", "headers": [[b"host"]]})
        assert reply["status"] == 400


# -- item 3: encode_response's header pairs are tuples --------------------------------


def test_encoded_response_headers_are_tuples_of_bytes_with_their_case_kept():
    response = HttpResponse(b"hi", content_type="text/plain")
    response["X-Custom"] = "välue"
    (message,) = AsgiHandler.encode_response(response)
    assert message["headers"] == [
        (b"Content-Type", b"text/plain"),
        (b"X-Custom", "välue".encode("latin1")),
    ]
    assert all(type(pair) is tuple for pair in message["headers"])


def test_each_cookie_is_one_set_cookie_tuple():
    response = HttpResponse(b"hi")
    response.set_cookie("a", "1")
    response.set_cookie("b", "2", path="/p")
    (message,) = AsgiHandler.encode_response(response)
    cookies = [pair for pair in message["headers"] if pair[0] == b"Set-Cookie"]
    assert cookies == [(b"Set-Cookie", b"a=1; Path=/"), (b"Set-Cookie", b"b=2; Path=/p")]


def test_streamed_response_headers_are_tuples_too():
    response = StreamingHttpResponse([b"a"], content_type="text/plain")
    first = next(iter(AsgiHandler.encode_response(response)))
    assert first["headers"] == [(b"Content-Type", b"text/plain")]


# -- item 5: response framing ----------------------------------------------------------


def test_a_small_response_is_one_message_with_status_headers_and_content():
    messages = list(AsgiHandler.encode_response(HttpResponse(b"hello", status=201)))
    assert messages == [
        {
            "status": 201,
            "headers": [(b"Content-Type", b"text/html; charset=utf-8")],
            "content": b"hello",
            "more_content": False,
        }
    ]
    www.validate("http.response", messages[0])


def test_a_streamed_response_sends_one_message_per_part_then_a_bare_end():
    response = StreamingHttpResponse([b"first", b"", b"last"], content_type="text/plain")
    messages = list(AsgiHandler.encode_response(response))
    assert messages == [
        {
            "status": 200,
            "headers": [(b"Content-Type", b"text/plain")],
            "content": b"first",
            "more_content": True,
        },
        {"content": b"", "more_content": True},
        {"content": b"last", "more_content": True},
        {"more_content": False},
    ]
    www.validate("http.response", messages[0])
    for message in messages[1:]:
        www.validate("http.response.chunk", message)


def test_an_empty_stream_is_exactly_one_message():
    response = StreamingHttpResponse(iter([]), status=204)
    messages = list(AsgiHandler.encode_response(response))
    assert messages == [
        {
            "status": 204,
            "headers": [(b"Content-Type", b"text/html; charset=utf-8")],
            "more_content": False,
        }
    ]


def test_a_stream_of_one_empty_part_is_the_status_with_one_empty_chunk_and_the_end():
    messages = list(AsgiHandler.encode_response(StreamingHttpResponse([b""])))
    assert [(m.get("status"), m.get("content"), m["more_content"]) for m in messages] == [
        (200, b"", True),
        (None, None, False),
    ]


@given(st.lists(st.binary(max_size=16), max_size=6))
def test_any_stream_is_its_parts_one_message_each_then_the_end(parts):
    messages = list(AsgiHandler.encode_response(StreamingHttpResponse(parts)))
    assert len(messages) == len(parts) + 1
    assert [m.get("content") for m in messages] == [*parts, None]
    assert messages[0]["status"] == 200 and not any("status" in m for m in messages[1:])
    assert [m["more_content"] for m in messages] == [True] * len(parts) + [False]


def test_a_streamed_part_over_the_chunk_size_is_cut():
    class SmallChunks(AsgiHandler):
        chunk_size = 4

    messages = list(SmallChunks.encode_response(StreamingHttpResponse([b"abcdefghij", b"k"])))
    assert [m.get("content") for m in messages] == [b"abcd", b"efgh", b"ij", b"k", None]
    assert [m["more_content"] for m in messages] == [True, True, True, True, False]
    assert "status" in messages[0] and not any("status" in m for m in messages[1:])


def test_a_large_response_is_cut_into_512_kb_messages_the_first_with_the_status():
    body = b"x" * (512 * 1024 * 2 + 10)
    messages = list(AsgiHandler.encode_response(HttpResponse(body)))
    assert [len(m["content"]) for m in messages] == [512 * 1024, 512 * 1024, 10]
    assert [m["more_content"] for m in messages] == [True, True, False]
    assert messages[0]["status"] == 200 and set(messages[1]) == {"content", "more_content"}


class FileResponseBlocks(AsgiHandler):
    """A handler serving one FileResponse, whatever the request."""

    chunk_size = 1024 * 1024
    data = bytes(range(256)) * 4096 * 2  # 2 MB

    def get_response(self, request):
        return FileResponse(io.BytesIO(self.data), content_type="application/octet-stream")


def test_a_file_response_is_read_in_512_kb_blocks_whatever_the_chunk_size():
    handler = FileResponseBlocks()
    message = Message(minimal(headers=[(b"host", b"x")]), "http.request", LAYER)
    messages = list(handler(message))
    assert [len(m.get("content", b"")) for m in messages] == [512 * 1024] * 4 + [0]
    assert b"".join(m.get("content", b"") for m in messages) == FileResponseBlocks.data
    assert messages[0]["status"] == 200 and messages[-1] == {"more_content": False}
