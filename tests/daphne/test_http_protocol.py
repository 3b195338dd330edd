"""HTTP over a fake transport and clock: messages out, bytes back, every timeout."""

import logging
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet import defer
from twisted.python.failure import Failure

from asgi import www
from asgi.inmemory import ChannelLayer
from daphne._offload import OffReactorSend
from tests.daphne.wire import BrokenLayer, Harness, request

pytestmark = [pytest.mark.protocol, pytest.mark.usefixtures("daphne_paths")]


@pytest.fixture
def harness():
    return Harness(timeout=10)


def test_request_becomes_an_http_request_message_with_every_key(harness):
    conn = harness.connect()
    conn.send(request(b"POST", b"/a%20b?x=1&y", [(b"X-Thing", b"1"), (b"x_bad", b"2")], b"hello"))
    message = harness.receive("http.request")
    www.validate("http.request", message)
    assert message["method"] == "POST" and message["path"] == "/a b"
    assert message["query_string"] == b"x=1&y" and message["body"] == b"hello"
    assert message["http_version"] == "1.1" and message["scheme"] == "http"
    assert message["client"] == ["10.0.0.1", 5555] and message["server"] == ["127.0.0.1", 8000]
    assert (b"x-thing", b"1") in message["headers"]
    assert not any(name == b"x_bad" for name, _ in message["headers"])
    assert message["body_channel"] is None
    assert message["reply_channel"].startswith("daphne.response.test!")


def test_reply_is_written_and_the_connection_kept_alive(harness):
    conn = harness.connect()
    conn.send(request(path=b"/one"))
    message = harness.receive("http.request")
    harness.factory.dispatch_reply(
        message["reply_channel"], www.http_response(201, [(b"X-A", b"b")], b"done")
    )
    out = conn.output()
    assert out.startswith(b"HTTP/1.1 201 Created\r\n") and b"X-A: b" in out
    assert out.endswith(b"done") or b"4\r\ndone" in out
    assert not conn.transport.disconnecting
    assert message["reply_channel"] not in harness.factory.reply_protocols


def test_pipelined_requests_are_answered_in_order(harness):
    conn = harness.connect()
    conn.send(request(path=b"/first") + request(path=b"/second"))
    first = harness.receive("http.request")
    assert first["path"] == "/first"
    assert harness.nothing_on("http.request"), "second waits until the first is answered"
    harness.factory.dispatch_reply(first["reply_channel"], www.http_response(200, content=b"1"))
    second = harness.receive("http.request")
    assert second["path"] == "/second"
    harness.factory.dispatch_reply(second["reply_channel"], www.http_response(200, content=b"2"))
    out = conn.output()
    assert out.count(b"HTTP/1.1 200 OK") == 2 and out.index(b"1") < out.rindex(b"2")


def test_chunked_request_body_is_reassembled(harness):
    conn = harness.connect()
    conn.send(
        b"POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )
    assert harness.receive("http.request")["body"] == b"hello world"


def test_streamed_response_is_written_as_chunks_arrive(harness):
    conn = harness.connect()
    conn.send(request())
    reply = harness.receive("http.request")["reply_channel"]
    harness.factory.dispatch_reply(reply, www.http_response(200, content=b"a", more_content=True))
    assert b"a" in conn.output()
    harness.factory.dispatch_reply(reply, www.http_response_chunk(b"bb", more_content=True))
    assert b"bb" in conn.output()
    harness.clock.advance(100)  # streaming responses do not time out
    harness.factory.dispatch_reply(reply, www.http_response_chunk(b""))
    assert conn.output().endswith(b"0\r\n\r\n")


def test_a_client_leaving_during_a_streamed_response_is_a_disconnect_not_an_error(harness):
    conn = harness.connect()
    conn.send(request(path=b"/ticks"))
    reply = harness.receive("http.request")["reply_channel"]
    harness.factory.dispatch_reply(reply, www.http_response(200, content=b"a", more_content=True))
    conn.lose()
    assert harness.receive("http.disconnect") == www.http_disconnect(
        reply_channel=reply, path="/ticks"
    )
    assert reply not in harness.factory.reply_protocols
    harness.factory.dispatch_reply(reply, www.http_response_chunk(b"late"))


def test_no_reply_within_http_timeout_is_503(harness):
    conn = harness.connect()
    conn.send(request(path=b"/slow"))
    reply = harness.receive("http.request")["reply_channel"]
    harness.clock.advance(9.9)
    assert conn.output() == b""
    harness.clock.advance(0.2)
    out = conn.output()
    assert out.startswith(b"HTTP/1.1 503 ") and b"failed to respond within time limit" in out
    harness.factory.dispatch_reply(reply, www.http_response(200, content=b"late"))
    assert conn.output() == b"", "a late reply is dropped"


def test_channel_full_on_http_request_is_503_with_retry_after():
    harness = Harness(layer=ChannelLayer(capacity=1), retry_after=7)
    harness.layer.send("http.request", {"filler": True})
    conn = harness.connect()
    conn.send(request())
    out = conn.output()
    assert out.startswith(b"HTTP/1.1 503 ") and b"Retry-After: 7" in out
    assert b"Request queue full" in out
    assert harness.factory.reply_protocols == {}


def test_invalid_reply_is_answered_500_and_raises_value_error_for_the_reader_to_log(harness):
    conn = harness.connect()
    conn.send(request(path=b"/bad"))
    reply = harness.receive("http.request")["reply_channel"]
    with pytest.raises(ValueError, match="must have a 'status' key"):
        harness.factory.dispatch_reply(reply, {"content": b"no status"})
    assert conn.output().startswith(b"HTTP/1.1 500 ")


def test_invalid_chunk_after_start_drops_the_connection(harness):
    conn = harness.connect()
    conn.send(request())
    reply = harness.receive("http.request")["reply_channel"]
    harness.factory.dispatch_reply(reply, www.http_response(200, more_content=True))
    with pytest.raises(ValueError, match="must be bytes"):
        harness.factory.dispatch_reply(reply, {"content": "str is not bytes"})
    assert conn.transport.disconnecting


def test_http_disconnect_only_when_client_leaves_before_the_response_completed():
    harness = Harness(timeout=10, http_disconnect_after_response=False)
    done = harness.connect()
    done.send(request(path=b"/done"))
    reply = harness.receive("http.request")["reply_channel"]
    harness.factory.dispatch_reply(reply, www.http_response(200))
    done.lose()
    assert harness.nothing_on("http.disconnect")

    early = harness.connect()
    early.send(request(path=b"/early"))
    reply = harness.receive("http.request")["reply_channel"]
    early.lose()
    message = harness.receive("http.disconnect")
    assert message == www.http_disconnect(reply_channel=reply, path="/early")
    assert reply not in harness.factory.reply_protocols


def test_malformed_request_line_is_400(harness):
    conn = harness.connect()
    conn.send(b"NONSENSE\r\n\r\n")
    assert conn.output().startswith(b"HTTP/1.1 400")


def test_non_ascii_path_is_400(harness):
    conn = harness.connect()
    conn.send(request(path="/caf\u00e9".encode()))
    assert conn.output().startswith(b"HTTP/1.1 400")
    assert harness.nothing_on("http.request")


def test_path_that_is_not_utf8_once_decoded_is_400_with_an_error_page(harness):
    conn = harness.connect()
    conn.send(request(path=b"/%ff%fe"))
    out = conn.output()
    assert out.startswith(b"HTTP/1.1 400") and b"not valid UTF-8" in out
    assert harness.nothing_on("http.request")


def test_oversized_headers_are_431():
    harness = Harness(max_header_size=1024)
    conn = harness.connect()
    conn.send(request(headers=[(b"X-Big", b"a" * 2000)]))
    assert conn.output().startswith(b"HTTP/1.1 431")
    assert conn.transport.disconnecting
    assert harness.nothing_on("http.request")


def test_many_headers_adding_up_past_the_limit_are_431():
    harness = Harness(max_header_size=1024)
    conn = harness.connect()
    conn.send(request(headers=[(b"X-H%d" % i, b"v" * 50) for i in range(40)]))
    assert conn.output().startswith(b"HTTP/1.1 431")


def test_declared_body_over_the_limit_is_413_before_reading_it():
    harness = Harness(max_request_body_size=100)
    conn = harness.connect()
    conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 101\r\n\r\n")
    assert conn.output().startswith(b"HTTP/1.1 413")
    assert conn.transport.disconnecting
    assert harness.nothing_on("http.request")


def test_expect_100_continue_over_the_limit_gets_413_and_no_continue():
    harness = Harness(max_request_body_size=100)
    conn = harness.connect()
    conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 500\r\n\r\n")
    out = conn.output()
    assert out.startswith(b"HTTP/1.1 413") and b"100 Continue" not in out


def test_chunked_body_growing_past_the_limit_is_413():
    harness = Harness(max_request_body_size=10)
    conn = harness.connect()
    conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
    conn.send(b"8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n")
    assert conn.output().startswith(b"HTTP/1.1 413")
    assert harness.nothing_on("http.request")


def test_large_body_streams_over_a_body_channel_in_chunks():
    harness = Harness(body_inline_limit=100, body_chunk_size=40)
    body = bytes(range(256)) * 2
    conn = harness.connect()
    conn.send(request(b"POST", b"/up", body=body))
    message = harness.receive("http.request")
    assert message["body_channel"].startswith("http.request.body?")
    assert message["body"] == body[:40]
    received = message["body"]
    while True:
        harness.clock.advance(0)
        chunk = harness.receive(message["body_channel"])
        www.validate("http.request.body", chunk)
        received += chunk["content"]
        if not chunk["more_content"]:
            break
    assert received == body


def test_body_chunks_wait_and_retry_when_the_body_channel_is_full():
    harness = Harness(
        layer=ChannelLayer(capacity=100, channel_capacity={"http.request.body?*": 1}),
        body_inline_limit=10,
        body_chunk_size=10,
    )
    conn = harness.connect()
    conn.send(request(b"POST", body=b"x" * 35))
    message = harness.receive("http.request")
    channel = message["body_channel"]
    harness.clock.advance(0)
    harness.clock.advance(0)  # second chunk hits the full channel
    contents = [harness.receive(channel)["content"]]
    assert harness.nothing_on(channel)
    for _ in range(2):
        harness.clock.advance(0.05)
        contents.append(harness.receive(channel)["content"])
    assert b"".join(contents) == b"x" * 25


class ReactorSendLayer(ChannelLayer):
    """An in-memory layer with ``send_batch_twisted``: each call's Deferred
    is held until the test lands it (the way a network layer answers later)."""

    def __init__(self, **options):
        super().__init__(**options)
        self.written = []  # (messages, Deferred)
        self.blocking_sends = []

    def send(self, channel, message):
        self.blocking_sends.append(channel)
        super().send(channel, message)

    def send_batch_twisted(self, messages):
        landing = defer.Deferred()
        self.written.append((list(messages), landing))
        return landing

    def land(self, outcome=None):
        """Make the oldest written batch land: deliver it (outcome None), or
        refuse it (outcome an exception) or fail it (outcome a Failure)."""
        messages, landing = self.written.pop(0)
        if isinstance(outcome, Failure):
            landing.errback(outcome)
            return
        if outcome is None:
            for channel, message in messages:
                ChannelLayer.send(self, channel, message)
        landing.callback([outcome] * len(messages))


def body_upload(layer, body=b"z" * 35):
    harness = Harness(layer=layer, body_inline_limit=10, body_chunk_size=10)
    harness.factory.sender = harness.factory.make_sender(threaded=False, on_reactor=True)
    harness.factory.offload = OffReactorSend(layer, harness.clock)
    conn = harness.connect()
    conn.send(request(b"POST", b"/up", body=body))
    layer.land()  # the http.request itself, sent by the sender
    message = harness.receive("http.request")
    return harness, conn, message


def test_with_a_reactor_layer_body_chunks_go_one_at_a_time_without_blocking():
    layer = ReactorSendLayer(capacity=100)
    harness, conn, message = body_upload(layer)
    channel = message["body_channel"]
    contents = [message["body"]]
    for _ in range(3):
        harness.clock.advance(0)
        assert len(layer.written) == 1, "one chunk in flight at a time"
        harness.clock.advance(0)
        assert len(layer.written) == 1, "the next waits for this one to land"
        layer.land()
        contents.append(harness.receive(channel)["content"])
    harness.clock.advance(0)
    assert layer.written == [] and layer.blocking_sends == []
    assert b"".join(contents) == b"z" * 35


def test_with_a_reactor_layer_a_refused_chunk_is_retried_after_a_pause():
    layer = ReactorSendLayer(capacity=100)
    harness, conn, message = body_upload(layer)
    harness.clock.advance(0)
    layer.land(layer.ChannelFull("full"))
    harness.clock.advance(0.01)
    assert layer.written == []
    harness.clock.advance(0.05)
    ((sent, _),) = layer.written
    assert sent[0][1]["content"] == b"z" * 10  # the same chunk again
    layer.land()
    assert harness.receive(message["body_channel"])["content"] == b"z" * 10


def test_with_a_reactor_layer_a_lost_layer_mid_upload_is_503_and_ends_the_upload(caplog):
    layer = ReactorSendLayer(capacity=100)
    harness, conn, message = body_upload(layer)
    harness.clock.advance(0)
    layer.land(Failure(ConnectionError("layer unreachable at 10.1.2.3")))
    out = conn.output()
    assert out.startswith(b"HTTP/1.1 503 ") and b"Retry-After" in out
    assert b"10.1.2.3" not in out and "unavailable during the upload" in caplog.text
    harness.clock.advance(1)
    body_messages = [
        m for batch, _ in layer.written for c, m in batch if c == message["body_channel"]
    ]
    assert body_messages == [www.http_request_body_chunk(closed=True)], (
        "no more data chunks after the failure, only the closed chunk"
    )
    harness.factory.dispatch_reply(message["reply_channel"], www.http_response(200))
    assert conn.output() == b"", "the application's late reply is dropped"


def test_client_leaving_mid_body_tells_the_body_channel_closed():
    harness = Harness(body_inline_limit=10, body_chunk_size=10)
    conn = harness.connect()
    conn.send(request(b"POST", body=b"y" * 50))
    message = harness.receive("http.request")
    conn.lose()
    harness.clock.advance(0)
    assert harness.receive(message["body_channel"])["closed"] is True
    assert harness.receive("http.disconnect")["reply_channel"] == message["reply_channel"]


def test_daphne_root_path_header_and_root_path_option():
    harness = Harness(root_path="/opt")
    conn = harness.connect()
    conn.send(request(path=b"/x"))
    assert harness.receive("http.request")["root_path"] == "/opt"
    conn2 = harness.connect()
    conn2.send(request(path=b"/x", headers=[(b"Daphne-Root-Path", b"/hdr%20x")]))
    message = harness.receive("http.request")
    assert message["root_path"] == "/hdr x"
    assert not any(name == b"daphne-root-path" for name, _ in message["headers"])


def test_proxy_headers_are_used_only_when_configured():
    headers = [(b"X-Forwarded-For", b"9.9.9.9"), (b"X-Forwarded-Proto", b"https")]
    plain = Harness()
    plain.connect().send(request(headers=headers))
    assert plain.receive("http.request")["client"] == ["10.0.0.1", 5555]
    proxied = Harness(
        proxy_forwarded_address_header="X-Forwarded-For",
        proxy_forwarded_port_header="X-Forwarded-Port",
        proxy_forwarded_proto_header="X-Forwarded-Proto",
    )
    proxied.connect().send(request(headers=headers))
    message = proxied.receive("http.request")
    assert message["client"] == ["9.9.9.9", 0] and message["scheme"] == "https"


PROXY_OPTIONS = dict(
    proxy_forwarded_address_header="X-Forwarded-For",
    proxy_forwarded_port_header="X-Forwarded-Port",
    proxy_forwarded_proto_header="X-Forwarded-Proto",
)
FORGED = [(b"X-Forwarded-For", b"6.6.6.6, 9.9.9.9"), (b"X-Forwarded-Proto", b"https")]


def test_a_trusted_proxy_peer_gives_the_rightmost_untrusted_forwarded_client():
    harness = Harness(proxy_trusted_ips="10.0.0.0/8", **PROXY_OPTIONS)
    harness.connect().send(request(headers=FORGED))
    message = harness.receive("http.request")
    assert message["client"] == ["9.9.9.9", 0] and message["scheme"] == "https"


def test_proxy_headers_from_a_peer_outside_the_trusted_list_are_ignored():
    harness = Harness(proxy_trusted_ips=["127.0.0.1"], **PROXY_OPTIONS)
    harness.connect().send(request(headers=FORGED))
    message = harness.receive("http.request")
    assert message["client"] == ["10.0.0.1", 5555] and message["scheme"] == "http"


def test_the_trusted_list_applies_to_websocket_connects_too():
    harness = Harness(proxy_trusted_ips="10.0.0.1", **PROXY_OPTIONS)
    harness.connect().upgrade(extra=b"X-Forwarded-For: 6.6.6.6, 9.9.9.9\r\n")
    assert harness.receive("websocket.connect")["client"] == ["9.9.9.9", 0]


def test_setting_the_trusted_list_on_a_running_factory_parses_it_once():
    harness = Harness(**PROXY_OPTIONS)
    assert harness.factory.proxy_trusted_ips is None
    harness.factory.proxy_trusted_ips = "10.0.0.1, 10.1.0.0/16"
    assert "10.1.2.3" in harness.factory.proxy_trusted_ips
    assert harness.factory.proxy_headers.trusted is harness.factory.proxy_trusted_ips
    with pytest.raises(ValueError, match="got 'proxy.local'"):
        harness.factory.proxy_trusted_ips = "proxy.local"


def test_http_10_request_gets_http_version_10(harness):
    conn = harness.connect()
    conn.send(b"GET /old HTTP/1.0\r\n\r\n")
    message = harness.receive("http.request")
    assert message["http_version"] == "1.0"
    harness.factory.dispatch_reply(message["reply_channel"], www.http_response(200, content=b"x"))
    assert conn.output().startswith(b"HTTP/1.0 200")


def test_completed_request_is_logged_through_the_action_logger():
    actions = []
    harness = Harness(action_logger=lambda *args: actions.append(args))
    conn = harness.connect()
    conn.send(request(b"PUT", b"/logged"))
    reply = harness.receive("http.request")["reply_channel"]
    harness.clock.advance(0.25)
    harness.factory.dispatch_reply(reply, www.http_response(202, content=b"abc"))
    ((protocol, action, details),) = actions
    assert (protocol, action) == ("http", "complete")
    assert details["path"] == "/logged" and details["status"] == 202
    assert details["method"] == "PUT" and details["client"] == "10.0.0.1:5555"
    assert details["time_taken"] == pytest.approx(0.25) and details["size"] == 3


def test_reply_for_an_unknown_channel_is_dropped(harness, caplog):
    conn = harness.connect()
    conn.send(request(path=b"/waiting"))
    message = harness.receive("http.request")
    with caplog.at_level(logging.DEBUG, logger="daphne.http_protocol"):
        harness.factory.dispatch_reply("daphne.response.test!nobody", www.http_response(200))
    assert "Reply for unknown channel daphne.response.test!nobody dropped" in caplog.text
    # it reached no connection: the pending request still waits for its own
    assert conn.output() == b""
    assert harness.factory.reply_protocols.keys() == {message["reply_channel"]}
    harness.factory.dispatch_reply(message["reply_channel"], www.http_response(204))
    assert conn.output().startswith(b"HTTP/1.1 204 ")


def test_alpn_offers_h2_and_http11(harness, daphne_paths):
    assert harness.factory.acceptableProtocols()[-1] == b"http/1.1"
    if daphne_paths == "fast":
        assert b"h2" in harness.factory.acceptableProtocols()
    else:  # without twisted.web's negotiating wrapper, HTTP/1.x only
        assert harness.factory.acceptableProtocols() == [b"http/1.1"]


token = st.text(
    alphabet=string.ascii_letters + string.digits + "-_!#$%&'*+.^`|~", min_size=1, max_size=12
)
value = st.text(alphabet=string.ascii_letters + string.digits + " ;=,/:-", max_size=30).map(
    str.strip
)


@settings(max_examples=60, deadline=None)
@given(
    headers=st.lists(st.tuples(token, value), max_size=8),
    body=st.binary(max_size=300),
    query=st.text(alphabet=string.ascii_letters + "=&%+", max_size=20),
)
def test_any_headers_body_and_query_arrive_intact_in_order_with_duplicates(headers, body, query):
    harness = Harness(body_inline_limit=100, body_chunk_size=64)
    conn = harness.connect()
    raw = [(n.encode(), v.encode()) for n, v in headers if n.lower() not in _FRAMING]
    conn.send(request(b"POST", b"/h?" + query.encode(), raw, body))
    message = harness.receive("http.request")
    expected = [(n.lower(), v) for n, v in raw if b"_" not in n]
    sent = [h for h in message["headers"] if h[0] not in (b"host", b"content-length")]
    assert sent == expected
    assert message["query_string"] == query.encode()
    received = message["body"]
    if message["body_channel"]:
        while True:
            harness.clock.advance(0)
            chunk = harness.receive(message["body_channel"])
            received += chunk["content"]
            if not chunk["more_content"]:
                break
    assert received == body


_FRAMING = {"host", "content-length", "transfer-encoding", "expect", "connection", "upgrade"}


def test_streaming_to_a_client_that_does_not_read_is_cut_off_past_the_buffer_limit(caplog):
    harness = Harness(http_buffer_limit=1000)
    conn = harness.connect()
    conn.send(request(path=b"/sse"))
    reply = harness.receive("http.request")["reply_channel"]
    harness.factory.dispatch_reply(reply, www.http_response(200, more_content=True))
    conn.channel.pauseProducing()  # the transport's buffer is full
    harness.factory.dispatch_reply(reply, www.http_response_chunk(b"a" * 600, more_content=True))
    assert not conn.transport.disconnecting
    harness.factory.dispatch_reply(reply, www.http_response_chunk(b"b" * 600, more_content=True))
    assert conn.transport.disconnecting
    assert "reads too slowly" in caplog.text
    assert reply not in harness.factory.reply_protocols


def test_a_streaming_client_that_catches_up_is_not_cut_off():
    harness = Harness(http_buffer_limit=1000)
    conn = harness.connect()
    conn.send(request(path=b"/sse"))
    reply = harness.receive("http.request")["reply_channel"]
    harness.factory.dispatch_reply(reply, www.http_response(200, more_content=True))
    for _ in range(5):
        conn.channel.pauseProducing()
        harness.factory.dispatch_reply(
            reply, www.http_response_chunk(b"x" * 800, more_content=True)
        )
        conn.channel.resumeProducing()
    harness.factory.dispatch_reply(reply, www.http_response_chunk(b""))
    assert not conn.transport.disconnecting
    # the connection is reusable: the producer was unregistered before finishing
    conn.send(request(path=b"/next"))
    reply = harness.receive("http.request")["reply_channel"]
    harness.factory.dispatch_reply(reply, www.http_response(200, more_content=True))
    harness.factory.dispatch_reply(reply, www.http_response_chunk(b""))


def test_an_unreachable_layer_on_http_request_is_503_without_internals(caplog):
    harness = Harness(layer=BrokenLayer({"http.request"}))
    conn = harness.connect()
    conn.send(request())
    out = conn.output()
    assert out.startswith(b"HTTP/1.1 503") and b"10.1.2.3" not in out
    assert b"Retry-After" in out
    assert "layer unreachable" in caplog.text


def test_requests_arriving_during_shutdown_get_503_and_connection_close(harness):
    conn = harness.connect()
    harness.factory.shutting_down = True
    conn.send(request(path=b"/late"))
    out = conn.output()
    assert out.startswith(b"HTTP/1.1 503") and b"Connection: close" in out
    assert harness.nothing_on("http.request")


def stalled_upload(body_send_timeout=1.0):
    """A 30-byte upload onto a body channel of capacity 1 that nobody reads."""
    harness = Harness(
        layer=ChannelLayer(capacity=100, channel_capacity={"http.request.body?*": 1}),
        body_inline_limit=10,
        body_chunk_size=10,
        body_send_timeout=body_send_timeout,
    )
    conn = harness.connect()
    conn.send(request(b"POST", b"/up", body=b"x" * 30))
    message = harness.receive("http.request")
    harness.clock.advance(0)  # the first chunk lands, the second finds the channel full
    return harness, conn, message


def advance_in_steps(clock, seconds, step=0.05):
    for _ in range(round(seconds / step)):
        clock.advance(step)


def test_body_channel_full_past_the_send_timeout_answers_503_and_sends_closed(caplog):
    harness, conn, message = stalled_upload(body_send_timeout=1.0)
    advance_in_steps(harness.clock, 0.9)
    assert conn.output() == b"", "still retrying within body_send_timeout"
    advance_in_steps(harness.clock, 0.2)
    out = conn.output()
    assert out.startswith(b"HTTP/1.1 503 ") and b"Retry-After" in out
    assert "stayed full for 1s; abandoning the upload" in caplog.text
    channel = message["body_channel"]
    assert harness.receive(channel)["content"] == b"x" * 10  # the reader wakes up
    advance_in_steps(harness.clock, 1.0)
    assert harness.receive(channel) == www.http_request_body_chunk(closed=True)
    advance_in_steps(harness.clock, 2.0)
    assert harness.nothing_on(channel), "no data chunk after the closed one"


def test_closed_chunk_refused_past_the_send_timeout_is_given_up_with_a_warning(caplog):
    harness, conn, message = stalled_upload(body_send_timeout=0.5)
    advance_in_steps(harness.clock, 0.6)
    assert conn.output().startswith(b"HTTP/1.1 503 ")
    advance_in_steps(harness.clock, 0.6)
    assert "Could not tell http.request.body?" in caplog.text
    assert "that the body of /up is incomplete" in caplog.text
    harness.receive(message["body_channel"])
    advance_in_steps(harness.clock, 2.0)
    assert harness.nothing_on(message["body_channel"]), "no more tries once given up"


def test_a_failed_body_chunk_send_sends_closed_once_the_layer_is_back(caplog):
    layer = BrokenLayer(broken=set())
    harness = Harness(layer=layer, body_inline_limit=10, body_chunk_size=10)
    conn = harness.connect()
    conn.send(request(b"POST", b"/up", body=b"w" * 30))
    message = harness.receive("http.request")
    layer.broken.add(message["body_channel"])
    harness.clock.advance(0)
    out = conn.output()
    assert out.startswith(b"HTTP/1.1 503 ") and b"Retry-After" in out
    assert "Channel layer unavailable during the upload" in caplog.text
    advance_in_steps(harness.clock, 0.5)
    assert harness.nothing_on(message["body_channel"])
    layer.broken.clear()  # the Redis blip is over
    advance_in_steps(harness.clock, 1.0)
    assert harness.receive(message["body_channel"]) == www.http_request_body_chunk(closed=True)
    assert harness.nothing_on(message["body_channel"])


def test_client_leaving_while_a_chunk_is_in_flight_sends_closed_after_it_lands():
    layer = ReactorSendLayer(capacity=100)
    harness, conn, message = body_upload(layer)
    harness.clock.advance(0)
    conn.lose()
    layer.land()  # the chunk that was on its way
    harness.clock.advance(0)
    channel = message["body_channel"]
    sent = [m for batch, _ in layer.written for c, m in batch if c == channel]
    assert sent == [www.http_request_body_chunk(closed=True)]
