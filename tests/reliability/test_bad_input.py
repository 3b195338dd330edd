"""Bad input from the network against a live daphne: a clear answer, nothing crashes.

Every malformed request gets a 4xx status (or a WebSocket close with the
RFC 6455 code), never a traceback, and the server keeps serving; a
Hypothesis fuzz of request bytes checks that for inputs nobody thought of.
"""

from __future__ import annotations

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.support.rawhttp import (
    exchange,
    parse_close,
    read_until_close,
    status_of,
    ws_frame,
    ws_handshake,
    ws_open,
)

pytestmark = pytest.mark.integration


def still_serves(stack) -> None:
    assert httpx.get(stack.url + "/hello/", timeout=15).status_code == 200
    assert stack.daphne.alive(), stack.daphne.output()


def no_tracebacks(stack) -> None:
    assert "Traceback" not in stack.daphne.output(), stack.daphne.output()[-3000:]


@pytest.mark.parametrize(
    "raw",
    [
        b"GARBAGE\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET /hello/ HTTP/9.9\r\nHost: x\r\n\r\n",
        b"GET /hello/ HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
        b"GET /hello/ HTTP/1.1\r\nHost: x\r\n: empty name\r\n\r\n",
        b"GET /hello/ HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"POST /echo/ HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        b"POST /echo/ HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        b"POST /echo/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
    ids=[
        "garbage",
        "no-path",
        "bad-version",
        "header-without-colon",
        "empty-header-name",
        "non-numeric-length",
        "negative-length",
        "conflicting-lengths",
        "bad-chunk-size",
    ],
)
def test_a_malformed_request_is_answered_400_and_daphne_keeps_serving(shared_stack, raw):
    response = exchange(shared_stack.port, raw)
    assert status_of(response) in (400, 505), response[:200]
    still_serves(shared_stack)
    no_tracebacks(shared_stack)


@pytest.mark.parametrize("path", [b"/hello/%zz", b"/hello/%", b"/%ff%fe/", b"/hello/%c3%28"])
def test_bad_percent_encoding_and_utf8_in_paths_are_a_clear_4xx(shared_stack, path):
    response = exchange(shared_stack.port, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_of(response) in (400, 404), response[:300]
    assert b"Traceback" not in response
    still_serves(shared_stack)


def test_huge_headers_are_refused_with_431_or_400(shared_stack):
    raw = b"GET /hello/ HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n"
    response = exchange(shared_stack.port, raw)
    assert status_of(response) in (400, 431), response[:200]
    many = b"".join(b"X-H%d: v\r\n" % n for n in range(5000))
    response = exchange(shared_stack.port, b"GET /hello/ HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    assert status_of(response) in (400, 431), response[:200]
    still_serves(shared_stack)


def test_a_chunked_body_arrives_whole(shared_stack):
    body = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in [b"hello ", b"chunked", b"!"])
    raw = (
        b"POST /echo/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n" + body + b"0\r\n\r\n"
    )
    response = exchange(shared_stack.port, raw)
    assert status_of(response) == 200 and b"\r\nhello chunked!\r\n" in response, response


def test_a_large_body_streams_through_and_arrives_intact(shared_stack):
    body = bytes(range(256)) * 8192  # 2 MiB, above the inline limit
    response = httpx.post(shared_stack.url + "/echo/", content=body, timeout=60)
    assert response.status_code == 200 and response.content == body


def test_a_body_shorter_than_its_content_length_is_dropped_when_the_client_leaves(
    shared_stack,
):
    raw = b"POST /echo/ HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nonly a little"
    response = exchange(shared_stack.port, raw, timeout=3, quiet=1)
    assert response == b"" or status_of(response) in (400, 408), response[:200]
    still_serves(shared_stack)
    no_tracebacks(shared_stack)


def test_extra_bytes_after_the_content_length_are_a_second_request(shared_stack):
    raw = b"POST /echo/ HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcNOT A REQUEST\r\n\r\n"
    response = exchange(shared_stack.port, raw)
    assert status_of(response) == 200
    assert b"\r\nabc\r\n" in response
    assert b"HTTP/1.1 400" in response, response
    still_serves(shared_stack)


_TOKENS = st.sampled_from(
    [b"GET", b"POST", b"PUT", b" ", b"/", b"/hello/", b"?", b"%", b"%zz", b"\x00", b"\xff", b":"]
    + [b"HTTP/1.1", b"HTTP/1.0", b"\r\n", b"\n", b"Host: x", b"Content-Length: ", b"5", b"-1"]
    + [b"Transfer-Encoding: chunked", b"Upgrade: websocket", b"Connection: Upgrade", b"0\r\n"]
    + [b"Sec-WebSocket-Version: 13", b"Expect: 100-continue", b"\t", b"\r\n\r\n"]
)
_REQUESTS = st.one_of(
    st.lists(_TOKENS, min_size=1, max_size=40).map(b"".join),
    st.binary(min_size=1, max_size=600),
    st.builds(
        lambda line, headers: line + b"\r\n" + b"\r\n".join(headers) + b"\r\n\r\n",
        st.lists(_TOKENS, min_size=1, max_size=6).map(b"".join),
        st.lists(st.binary(max_size=40), max_size=6),
    ),
)


def test_fuzzed_request_bytes_get_a_valid_status_or_a_close_and_daphne_survives(shared_stack):
    seen: list[int | None] = []

    @settings(
        max_examples=120,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(_REQUESTS)
    def check(raw: bytes) -> None:
        response = exchange(shared_stack.port, raw + b"\r\n\r\n", timeout=5, quiet=0.3)
        status = status_of(response)
        seen.append(status)
        # Nothing back (an incomplete request the server still waits on, or a
        # hang-up), or a well-formed status line with a known code; never 500.
        assert response == b"" or status is not None, response[:200]
        assert status is None or 100 <= status < 500 or status in (503, 505), response[:300]

    check()
    assert any(status is not None for status in seen)
    still_serves(shared_stack)
    no_tracebacks(shared_stack)


# -- WebSocket --------------------------------------------------------------------


def test_a_handshake_without_a_key_is_400(shared_stack):
    response = exchange(shared_stack.port, ws_handshake(key=False))
    assert status_of(response) == 400, response[:200]


def test_a_handshake_with_an_unsupported_version_is_refused_with_a_4xx(shared_stack):
    raw = ws_handshake().replace(b"Sec-WebSocket-Version: 13", b"Sec-WebSocket-Version: 99")
    response = exchange(shared_stack.port, raw)
    assert status_of(response) in (400, 426), response[:200]


def ws_close_code(stack, frames: bytes) -> int | None:
    sock = ws_open(stack.port)
    try:
        sock.sendall(frames)
        return parse_close(read_until_close(sock, 10))
    except (TimeoutError, ConnectionError):
        return None
    finally:
        sock.close()


@pytest.mark.parametrize(
    ("frames", "code"),
    [
        (ws_frame(1, b"\xff\xfe not utf-8"), 1007),
        (ws_frame(1, b"unmasked", mask=False), 1002),
        (ws_frame(3, b"reserved opcode"), 1002),
        (ws_frame(1, b"rsv bit", rsv=4), 1002),
        (ws_frame(9, b"p" * 200), 1002),  # control frames carry at most 125 bytes
        (ws_frame(0, b"continuation of nothing"), 1002),
        (ws_frame(2, b"x" * (5 * 1024 * 1024)), 1009),  # the layer takes 4 MiB,
    ],
    ids=[
        "bad-utf8",
        "unmasked",
        "reserved-opcode",
        "rsv-bit",
        "long-ping",
        "stray-continuation",
        "oversized",
    ],
)
def test_a_bad_frame_closes_the_socket_with_its_rfc6455_code(shared_stack, frames, code):
    assert ws_close_code(shared_stack, frames) == code
    still_serves(shared_stack)


def test_origin_checks_refuse_a_foreign_origin_with_403_and_accept_our_own(shared_stack):
    with pytest.raises(InvalidStatus) as refused:
        connect(
            shared_stack.ws_url + "/origin/evil/",
            origin="http://evil.example",
            open_timeout=15,
        )
    assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus) as refused:
        connect(shared_stack.ws_url + "/origin/none/", open_timeout=15)
    assert refused.value.response.status_code == 403
    with connect(
        shared_stack.ws_url + "/origin/ours/", origin="http://127.0.0.1", open_timeout=15
    ) as ws:
        ws.send("fine")
        assert ws.recv(timeout=15) == "fine"
