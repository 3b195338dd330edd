"""Django views over ASGI: ViewConsumer against Django's test client.

See docs/reference/channels.rst, "channels.handler".

Each request is run twice, through ``ViewConsumer`` on an in-memory layer
and through ``django.test.Client``, and the two responses must agree.
"""

import hashlib
import json
import threading
import time

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

from asgi import www
from asgi.inmemory import ChannelLayer
from channels.asgi import ChannelLayerWrapper
from channels.handler import AsgiHandler, AsgiRequest, ViewConsumer
from channels.message import Message

from .views import BIG

pytestmark = pytest.mark.integration

REPLY = "http.response!test"


class Response:
    """A response reassembled from reply messages."""

    def __init__(self, messages):
        self.messages = messages
        first = messages[0]
        self.status = first["status"]
        self.headers = [
            (n.decode("latin1").lower(), v.decode("latin1")) for n, v in first["headers"]
        ]
        self.body = b"".join(m.get("content", b"") for m in messages)

    def header(self, name):
        values = [v for n, v in self.headers if n == name]
        return values[0] if values else None

    def cookies(self):
        return {
            v.split("=", 1)[0]: v.split("=", 1)[1].split(";")[0]
            for n, v in self.headers
            if n == "set-cookie"
        }


@pytest.fixture
def layer():
    return ChannelLayerWrapper(ChannelLayer(capacity=100), "default", [])


@pytest.fixture
def consumer():
    return ViewConsumer()


def serve(layer, consumer, *, body_chunks=None, **request):
    """Run one request through ViewConsumer; return the Response (or None)."""
    request.setdefault("reply_channel", REPLY)
    request.setdefault("method", "GET")
    request.setdefault("headers", [(b"host", b"testserver")])
    if body_chunks is not None:
        body_channel = layer.new_channel("http.request.body?")
        request["body_channel"] = body_channel
        for chunk in body_chunks:
            layer.send(body_channel, chunk)
    message = Message(www.http_request(**request), "http.request", layer)
    consumer(message)
    replies = []
    while True:
        _, reply = layer.receive(["http.response!"])
        if reply is None:
            break
        replies.append(reply)
    return Response(replies) if replies else None


def assert_same(ours, theirs, headers=("content-type",)):
    assert ours.status == theirs.status_code
    assert ours.body == theirs.content
    for name in headers:
        assert ours.header(name) == theirs.get(name), name


def test_get_with_query_string_matches_the_test_client(layer, consumer):
    ours = serve(layer, consumer, path="/hello/", query_string=b"name=ada")
    theirs = Client().get("/hello/", {"name": "ada"})
    assert_same(ours, theirs, headers=("content-type", "x-custom", "content-length"))
    assert ours.body == b"hello ada"
    assert ours.cookies() == {"greeted": "yes"}


def test_not_found_matches_the_test_client(layer, consumer):
    assert_same(serve(layer, consumer, path="/nowhere/"), Client().get("/nowhere/"))


def test_redirect_matches_the_test_client(layer, consumer):
    ours = serve(layer, consumer, path="/redirect/")
    theirs = Client().get("/redirect/")
    assert_same(ours, theirs, headers=("location",))
    assert ours.status == 302


def test_common_middleware_redirects_to_the_slash_url(layer, consumer):
    ours = serve(layer, consumer, path="/hello", query_string=b"name=x")
    assert ours.status == 301 and ours.header("location") == "/hello/?name=x"


def test_meta_is_built_from_the_message(layer, consumer):
    ours = serve(
        layer,
        consumer,
        path="/meta/",
        query_string=b"a=1&a=2&b=%C3%A9",
        headers=[
            (b"host", b"example.com"),
            (b"x-multi", b"one"),
            (b"X-Multi", b"two"),
            (b"cookie", b"a=1"),
            (b"cookie", b"b=2"),
        ],
        client=["10.0.0.7", 51234],
        server=["10.0.0.1", 8000],
        http_version="1.0",
    )
    data = json.loads(ours.body)
    assert data["meta"]["HTTP_X_MULTI"] == "one,two"
    assert data["cookies"] == {"a": "1", "b": "2"}
    assert data["get"] == {"a": ["1", "2"], "b": ["é"]}
    assert data["meta"]["REMOTE_ADDR"] == "10.0.0.7" and data["meta"]["REMOTE_PORT"] == 51234
    assert data["meta"]["SERVER_NAME"] == "10.0.0.1" and data["meta"]["SERVER_PORT"] == "8000"
    assert data["meta"]["SERVER_PROTOCOL"] == "HTTP/1.0"
    assert data["uri"] == "http://example.com/meta/?a=1&a=2&b=%C3%A9"


def test_meta_without_client_and_server_uses_unknown_and_zero(layer, consumer):
    data = json.loads(serve(layer, consumer, path="/meta/").body)
    assert data["meta"]["SERVER_NAME"] == "unknown" and data["meta"]["SERVER_PORT"] == "0"
    assert data["meta"]["REMOTE_ADDR"] is None


def test_headers_with_underscores_are_dropped(layer, consumer):
    headers = [(b"host", b"x"), (b"x_forwarded_for", b"spoofed")]
    data = json.loads(serve(layer, consumer, path="/meta/", headers=headers).body)
    assert data["meta"]["HTTP_X_FORWARDED_FOR"] is None


def test_legacy_dict_headers_are_accepted(layer, consumer):
    content = www.http_request(reply_channel=REPLY, method="GET", path="/meta/")
    content["headers"] = {b"host": b"legacy.example", b"x-multi": b"v"}
    consumer(Message(content, "http.request", layer))
    data = json.loads(layer.receive(["http.response!"])[1]["content"])
    assert data["meta"]["HTTP_X_MULTI"] == "v" and data["uri"].startswith("http://legacy.example/")


def test_scheme_and_root_path_set_secure_path_info_and_script_prefix(layer, consumer):
    ours = serve(layer, consumer, path="/prefix/meta/", root_path="/prefix", scheme="https")
    data = json.loads(ours.body)
    assert data["path"] == "/prefix/meta/" and data["path_info"] == "/meta/"
    assert data["script_name"] == "/prefix"
    assert data["scheme"] == "https" and data["secure"] is True
    assert data["reverse"] == "/prefix/meta/"


def post_form(layer, consumer, fields, **kw):
    body = "&".join(f"{k}={v}" for k, v in fields).encode()
    headers = [
        (b"host", b"testserver"),
        (b"content-type", b"application/x-www-form-urlencoded"),
        (b"content-length", str(len(body)).encode()),
    ]
    return serve(layer, consumer, method="POST", path="/form/", headers=headers, body=body, **kw)


def test_urlencoded_post_matches_the_test_client(layer, consumer):
    ours = post_form(layer, consumer, [("a", "1"), ("a", "2"), ("b", "%C3%A9")])
    theirs = Client().post(
        "/form/", "a=1&a=2&b=%C3%A9", content_type="application/x-www-form-urlencoded"
    )
    assert_same(ours, theirs)
    assert json.loads(ours.body)["post"] == {"a": ["1", "2"], "b": ["é"]}


def test_charset_comes_from_the_content_type(layer, consumer):
    content_type = "application/x-www-form-urlencoded; charset=utf-8"
    headers = [(b"host", b"testserver"), (b"content-type", content_type.encode())]
    ours = serve(layer, consumer, method="POST", path="/form/", headers=headers, body=b"b=%C3%A9")
    assert json.loads(ours.body) == {"method": "POST", "post": {"b": ["é"]}, "encoding": "utf-8"}


def test_non_utf8_form_is_rejected_like_the_test_client(layer, consumer):
    content_type = "application/x-www-form-urlencoded; charset=latin-1"
    headers = [(b"host", b"testserver"), (b"content-type", content_type.encode())]
    ours = serve(layer, consumer, method="POST", path="/form/", headers=headers, body=b"b=%E9")
    theirs = Client().post("/form/", b"b=%E9", content_type=content_type)
    assert ours.status == theirs.status_code


def multipart_request(fields):
    body = encode_multipart(BOUNDARY, fields)
    headers = [
        (b"host", b"testserver"),
        (b"content-type", MULTIPART_CONTENT.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    return body, headers


def upload_fields():
    import io

    upload = io.BytesIO(BIG)
    upload.name = "big.bin"
    return {"title": "report", "doc": upload}


def test_multipart_upload_in_the_body_matches_the_test_client(layer, consumer):
    body, headers = multipart_request(upload_fields())
    ours = serve(layer, consumer, method="POST", path="/upload/", headers=headers, body=body)
    theirs = Client().post("/upload/", upload_fields())
    assert_same(ours, theirs)
    data = json.loads(ours.body)
    assert data["files"]["doc"] == {
        "name": "big.bin",
        "size": len(BIG),
        "sha256": hashlib.sha256(BIG).hexdigest(),
    }
    assert data["post"] == {"title": ["report"]}


def test_multipart_upload_over_a_body_channel_is_reassembled(layer, consumer):
    body, headers = multipart_request(upload_fields())
    step = 300 * 1024
    pieces = [body[i : i + step] for i in range(0, len(body), step)]
    chunks = [
        www.http_request_body_chunk(piece, more_content=i < len(pieces) - 1)
        for i, piece in enumerate(pieces[1:], start=1)
    ]
    ours = serve(
        layer,
        consumer,
        method="POST",
        path="/upload/",
        headers=headers,
        body=pieces[0],
        body_chunks=chunks,
    )
    theirs = Client().post("/upload/", upload_fields())
    assert_same(ours, theirs)


def test_chunked_body_without_content_length_is_still_parsed(layer, consumer):
    headers = [(b"host", b"x"), (b"content-type", b"application/x-www-form-urlencoded")]
    chunks = [www.http_request_body_chunk(b"=1&b=2")]
    ours = serve(
        layer,
        consumer,
        method="POST",
        path="/form/",
        headers=headers,
        body=b"a",
        body_chunks=chunks,
    )
    assert json.loads(ours.body)["post"] == {"a": ["1"], "b": ["2"]}


def test_slow_body_gets_408(layer, consumer, monkeypatch):
    monkeypatch.setattr(AsgiRequest, "body_receive_timeout", 0.3)
    ours = serve(layer, consumer, method="POST", path="/raw/", body=b"x", body_chunks=[])
    assert ours.status == 408
    assert ours.body == b"408 Request Timeout (upload too slow)"


def test_a_body_chunk_not_coming_within_body_chunk_timeout_gets_408_before_the_total_limit(
    layer, consumer, monkeypatch
):
    monkeypatch.setattr(AsgiRequest, "body_chunk_timeout", 0.3)
    started = time.monotonic()
    chunks = [www.http_request_body_chunk(b"part", more_content=True)]
    ours = serve(layer, consumer, method="POST", path="/raw/", body=b"x", body_chunks=chunks)
    assert ours.status == 408 and ours.body == b"408 Request Timeout (upload too slow)"
    assert time.monotonic() - started < 5, "not the 60 s of body_receive_timeout"


class TricklingLayer(ChannelLayer):
    """Body chunks come every 50 ms and the 40th is the last: each one in
    time, the whole body in 2 s."""

    def __init__(self):
        super().__init__(capacity=100)
        self.chunks = 0

    def receive(self, channels, block=False):
        if not channels[0].startswith("http.request.body?"):
            return super().receive(channels, block)
        time.sleep(0.05)
        self.chunks += 1
        return channels[0], www.http_request_body_chunk(b"t", more_content=self.chunks < 40)


def test_reading_the_body_channel_longer_than_body_receive_timeout_in_all_gets_408(
    consumer, monkeypatch
):
    monkeypatch.setattr(AsgiRequest, "body_receive_timeout", 0.5)
    layer = ChannelLayerWrapper(TricklingLayer(), "default", [])
    ours = serve(layer, consumer, method="POST", path="/raw/", body=b"x", body_chunks=[])
    assert ours.status == 408
    assert layer.channel_layer.chunks < 40, "given up while chunks still trickled in"


def test_aborted_body_sends_no_response(layer, consumer):
    chunks = [www.http_request_body_chunk(b"part", more_content=True), {"closed": True}]
    assert serve(layer, consumer, method="POST", path="/raw/", body_chunks=chunks) is None


def test_undecodable_query_string_gets_400(layer, consumer):
    assert serve(layer, consumer, path="/hello/", query_string=b"name=%ff\xff").status == 400


def test_malformed_request_message_gets_400(layer, consumer):
    # A str query string is fine (1.x took it); a header that is not a pair is not.
    content = www.http_request(reply_channel=REPLY, method="GET", path="/hello/")
    content["headers"] = [[b"host", b"x", b"extra"]]
    consumer(Message(content, "http.request", layer))
    assert layer.receive(["http.response!"])[1]["status"] == 400


def test_view_error_is_a_500_without_details(layer, consumer):
    ours = serve(layer, consumer, path="/error/")
    theirs = Client(raise_request_exception=False).get("/error/")
    assert_same(ours, theirs)
    assert ours.status == 500 and b"secret detail" not in ours.body


def test_view_error_under_debug_shows_the_traceback(layer, settings):
    settings.DEBUG = True
    ours = serve(layer, ViewConsumer(), path="/error/")
    assert ours.status == 500 and b"secret detail" in ours.body


def test_failing_500_handler_falls_back_to_plain_text(layer, settings):
    settings.ROOT_URLCONF = "tests.channels.core.broken_urls"
    ours = serve(layer, ViewConsumer(), path="/error/")
    assert ours.status == 500 and ours.body == b"Internal Server Error"
    assert ours.header("content-type") == "text/plain"


@pytest.mark.parametrize("path", ["/later/", "/later-response/"])
def test_response_later_sends_nothing_now(layer, consumer, path):
    assert serve(layer, consumer, path=path) is None


def test_response_is_cut_into_512_kb_messages(layer, consumer):
    ours = serve(layer, consumer, path="/big/")
    sizes = [len(m["content"]) for m in ours.messages]
    assert sizes == [512 * 1024, 512 * 1024, len(BIG) - 1024 * 1024]
    assert [m["more_content"] for m in ours.messages] == [True, True, False]
    assert ours.body == BIG and "status" not in ours.messages[1]


def test_file_response_streams_512_kb_chunks(layer, consumer):
    ours = serve(layer, consumer, path="/file/")
    assert ours.status == 200 and ours.body == BIG
    assert max(len(m.get("content", b"")) for m in ours.messages) == 512 * 1024
    assert ours.messages[-1]["more_content"] is False
    assert all(m["more_content"] for m in ours.messages[:-1])


def test_streaming_response_matches_the_test_client(layer, consumer):
    ours = serve(layer, consumer, path="/stream/")
    theirs = Client().get("/stream/")
    assert ours.status == theirs.status_code
    assert ours.body == b"".join(theirs.streaming_content)
    assert max(len(m.get("content", b"")) for m in ours.messages) <= 512 * 1024


def test_empty_response_is_one_message(layer, consumer):
    ours = serve(layer, consumer, path="/empty/")
    assert ours.status == 204 and len(ours.messages) == 1 and ours.body == b""


def test_chunk_bytes_pieces():
    AsgiHandler.chunk_size  # noqa: B018 - the 1.x attribute stays public
    assert list(AsgiHandler.chunk_bytes(b"")) == [(b"", True)]
    data = b"x" * (512 * 1024 + 1)
    assert [(len(c), last) for c, last in AsgiHandler.chunk_bytes(data)] == [
        (512 * 1024, False),
        (1, True),
    ]


@pytest.mark.django_db
def test_csrf_is_enforced_like_the_test_client_with_checks(layer, consumer):
    headers = [(b"host", b"testserver"), (b"content-type", b"application/x-www-form-urlencoded")]
    ours = serve(layer, consumer, method="POST", path="/csrf/", headers=headers, body=b"a=1")
    theirs = Client(enforce_csrf_checks=True).post("/csrf/", {"a": "1"})
    assert ours.status == theirs.status_code == 403


@pytest.mark.django_db
def test_csrf_token_from_the_cookie_is_accepted(layer, consumer):
    token = serve(layer, consumer, path="/csrf/").cookies()["csrftoken"]
    headers = [
        (b"host", b"testserver"),
        (b"content-type", b"application/x-www-form-urlencoded"),
        (b"cookie", f"csrftoken={token}".encode()),
    ]
    body = f"csrfmiddlewaretoken={token}".encode()
    ours = serve(layer, consumer, method="POST", path="/csrf/", headers=headers, body=body)
    assert ours.status == 200 and ours.body == b"accepted"


def cookie_header(cookies):
    return (b"cookie", "; ".join(f"{k}={v}" for k, v in cookies.items()).encode())


@pytest.mark.django_db
def test_sessions_persist_through_the_cookie(layer, consumer):
    first = serve(layer, consumer, path="/session/")
    second = serve(layer, consumer, path="/session/", headers=[cookie_header(first.cookies())])
    assert (first.body, second.body) == (b"1", b"2")


@pytest.mark.django_db
def test_login_then_the_user_is_known(layer, consumer):
    User.objects.create_user("ada", password="pw")
    headers = [(b"host", b"x"), (b"content-type", b"application/x-www-form-urlencoded")]
    login = serve(
        layer,
        consumer,
        method="POST",
        path="/login/",
        headers=headers,
        body=b"username=ada&password=pw",
    )
    assert login.body == b"logged in"
    me = serve(layer, consumer, path="/whoami/", headers=[cookie_header(login.cookies())])
    assert me.body == b"ada"
    assert serve(layer, consumer, path="/whoami/").body == b"anonymous"


@pytest.mark.django_db
def test_messages_framework_survives_the_redirect(layer, consumer):
    added = serve(layer, consumer, path="/messages/add/")
    assert added.status == 302
    shown = serve(layer, consumer, path="/messages/", headers=[cookie_header(added.cookies())])
    assert shown.body == b"saved!"


def test_full_reply_channel_is_retried_until_it_drains(consumer):
    layer = ChannelLayerWrapper(ChannelLayer(capacity=1), "default", [])
    layer.send(REPLY, {"status": 200, "content": b"earlier"})
    drained = []
    timer = threading.Timer(0.3, lambda: drained.append(layer.receive(["http.response!"])))
    timer.start()
    message = Message(
        www.http_request(reply_channel=REPLY, method="GET", path="/empty/"), "http.request", layer
    )
    consumer(message)
    timer.join()
    assert drained[0][1]["content"] == b"earlier"
    assert layer.receive(["http.response!"])[1]["status"] == 204


def test_reply_channel_full_for_too_long_abandons_the_response():
    layer = ChannelLayerWrapper(ChannelLayer(capacity=1), "default", [])
    layer.send(REPLY, {"status": 200})
    consumer = ViewConsumer()
    consumer.reply_timeout = 0.2
    message = Message(
        www.http_request(reply_channel=REPLY, method="GET", path="/big/"), "http.request", layer
    )
    consumer(message)  # returns instead of retrying forever
    assert layer.receive(["http.response!"])[1] == {"status": 200}
    assert layer.receive(["http.response!"]) == (None, None)


@pytest.mark.parametrize("path", ["/big/", "/file/", "/hello/"])
def test_head_sends_headers_without_the_body_like_the_test_client(layer, consumer, path):
    ours = serve(layer, consumer, method="HEAD", path=path)
    theirs = Client().head(path)
    assert ours.status == theirs.status_code == 200
    theirs_body = b"".join(theirs.streaming_content) if theirs.streaming else theirs.content
    assert ours.body == b"" == theirs_body
    assert ours.header("content-length") == theirs.get("content-length")
    assert ours.header("content-length") is not None


def test_malformed_body_chunk_gets_400(layer, consumer):
    chunks = [{"content": "text, not bytes"}]
    assert serve(layer, consumer, method="POST", path="/raw/", body_chunks=chunks).status == 400
