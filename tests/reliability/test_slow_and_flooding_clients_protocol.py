"""The request-head deadline and the WebSocket rate limit, on daphne's protocols over a fake clock."""

import pytest

from asgi import www
from daphne._rate_limit import TokenBucket
from tests.daphne.wire import Harness, frame, request, server_frames

pytestmark = pytest.mark.protocol


def test_a_head_trickled_byte_by_byte_gets_408_at_the_deadline():
    harness = Harness(request_head_timeout=10)
    conn = harness.connect()
    for byte in request(headers=((b"X-Slow", b"a" * 40),))[:-4]:
        conn.send(bytes([byte]))
        harness.clock.advance(0.3)  # each byte well inside twisted's idle timeout
    assert conn.output().startswith(b"HTTP/1.1 408 ")
    assert conn.transport.disconnecting
    assert harness.nothing_on("http.request")


def test_an_idle_connection_is_closed_quietly_at_the_deadline():
    harness = Harness(request_head_timeout=10)
    conn = harness.connect()
    harness.clock.advance(9.9)
    assert not conn.transport.disconnecting
    harness.clock.advance(0.2)
    assert conn.transport.disconnecting and conn.output() == b""


def test_the_deadline_does_not_cut_a_slow_response_and_restarts_for_the_next_request():
    harness = Harness(request_head_timeout=10, timeout=100)
    conn = harness.connect()
    conn.send(request())
    reply = harness.receive("http.request")["reply_channel"]
    harness.clock.advance(30)  # the application takes its time
    harness.factory.dispatch_reply(reply, www.http_response(200, content=b"ok"))
    assert conn.output().startswith(b"HTTP/1.1 200 ")
    assert not conn.transport.disconnecting
    harness.clock.advance(10.1)  # the keep-alive connection then idles past the deadline
    assert conn.transport.disconnecting


def test_no_deadline_when_turned_off():
    harness = Harness(request_head_timeout=None)
    conn = harness.connect()
    conn.send(b"GET / HTTP/1.1\r\n")
    harness.clock.advance(50)
    assert not conn.transport.disconnecting


def open_socket(harness):
    conn = harness.connect()
    conn.upgrade()
    connect = harness.receive("websocket.connect")
    harness.factory.dispatch_reply(connect["reply_channel"], www.websocket_reply(accept=True))
    assert conn.output().startswith(b"HTTP/1.1 101 ")
    return conn


def test_a_websocket_over_its_rate_limit_is_closed_with_1008_and_the_rest_is_not_forwarded():
    harness = Harness(
        websocket_rate_limit=5, websocket_connect_timeout=5, ping_interval=20, ping_timeout=30
    )
    conn = open_socket(harness)
    for n in range(10):  # the burst: twice the rate, at least 10
        conn.send(frame(b"m%d" % n))
    assert server_frames(conn.output()) == []
    conn.send(frame(b"one too many"))
    ((opcode, payload),) = server_frames(conn.output())
    assert opcode == 8 and payload[:2] == (1008).to_bytes(2, "big")
    received = []
    while (message := harness.layer.receive(["websocket.receive"]))[0]:
        received.append(message[1]["text"])
    assert received == [f"m{n}" for n in range(10)]


def test_a_websocket_within_its_rate_is_never_closed():
    harness = Harness(
        websocket_rate_limit=5, websocket_connect_timeout=5, ping_interval=20, ping_timeout=30
    )
    conn = open_socket(harness)
    for _ in range(100):
        conn.send(frame(b"steady"))
        harness.clock.advance(0.2)
    assert server_frames(conn.output()) == []


def test_the_token_bucket_refills_at_its_rate_up_to_its_burst():
    bucket = TokenBucket(rate=2, burst=3, now=0)
    assert [bucket.take(0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(0.5) and not bucket.take(0.5)
    assert [bucket.take(100) for _ in range(4)] == [True, True, True, False]
    with pytest.raises(ValueError):
        TokenBucket(rate=0, burst=1, now=0)
