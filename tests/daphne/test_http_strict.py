"""Request heads and chunk sizes daphne refuses, over a fake transport
(RFC 9112 strictness; ``strict_http`` for a missing Host)."""

import logging

import pytest

from asgi import www
from daphne._compat import CHUNK_SIZES
from tests.daphne.wire import Harness, request
from tests.support.fast_paths import force_stock

pytestmark = [pytest.mark.protocol, pytest.mark.usefixtures("daphne_paths")]

LOGGER = "daphne.http_protocol"


@pytest.fixture
def harness():
    return Harness(timeout=10)


def assert_refused(harness, conn, status, caplog, reason):
    assert conn.output().startswith(b"HTTP/1.1 %d " % status)
    assert conn.transport.disconnecting
    assert harness.nothing_on("http.request")
    assert f"Refused a request ({reason}): {status}" in caplog.text


def test_obsolete_line_folding_in_a_header_is_400(harness, caplog):
    caplog.set_level(logging.INFO, LOGGER)
    conn = harness.connect()
    conn.send(b"GET / HTTP/1.1\r\nHost: t\r\nX-Long: one\r\n two\r\n\r\n")
    assert_refused(harness, conn, 400, caplog, "obsolete line folding")


def test_obsolete_line_folding_with_a_tab_is_400(harness, caplog):
    caplog.set_level(logging.INFO, LOGGER)
    conn = harness.connect()
    conn.send(b"GET / HTTP/1.1\r\nX-Long: one\r\n\ttwo\r\nHost: t\r\n\r\n")
    assert_refused(harness, conn, 400, caplog, "obsolete line folding")


@pytest.mark.parametrize("control", [b"\x01", b"\x1b", b"\x7f", b"\x0b"])
def test_a_control_character_in_a_header_value_is_400(harness, caplog, control):
    caplog.set_level(logging.INFO, LOGGER)
    conn = harness.connect()
    conn.send(request(headers=[(b"X-Thing", b"a" + control + b"b")]))
    assert_refused(harness, conn, 400, caplog, "control character in a header")


def test_a_tab_and_obs_text_in_a_header_value_are_passed_on(harness):
    conn = harness.connect()
    conn.send(request(headers=[(b"X-Thing", b"a\tb\xe9")]))
    message = harness.receive("http.request")
    assert (b"x-thing", b"a\tb\xe9") in message["headers"]


def test_a_second_request_on_a_connection_is_checked_too(harness, caplog):
    caplog.set_level(logging.INFO, LOGGER)
    conn = harness.connect()
    conn.send(request(path=b"/one"))
    reply = harness.receive("http.request")["reply_channel"]
    harness.factory.dispatch_reply(reply, www.http_response(200, content=b"ok"))
    conn.output()
    conn.send(b"GET /two HTTP/1.1\r\nHost: t\r\nX-Bad: a\x01b\r\n\r\n")
    assert_refused(harness, conn, 400, caplog, "control character in a header")


def test_transfer_encoding_on_http_10_is_400_before_the_body_is_read(harness, caplog):
    caplog.set_level(logging.INFO, LOGGER)
    conn = harness.connect()
    conn.send(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
    assert_refused(harness, conn, 400, caplog, "HTTP/1.0 with TE")


def test_http_10_without_transfer_encoding_is_passed_on(harness):
    conn = harness.connect()
    conn.send(b"POST / HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello")
    assert harness.receive("http.request")["body"] == b"hello"


def test_more_header_fields_than_the_limit_is_431_not_400(harness, caplog):
    caplog.set_level(logging.INFO, LOGGER)
    conn = harness.connect()
    conn.channel.maxHeaders = 20
    conn.send(request(headers=[(b"X-H%d" % i, b"v") for i in range(20)]))  # 21 with Host
    assert_refused(harness, conn, 431, caplog, "more than 20 header fields")


def test_header_fields_up_to_the_limit_are_passed_on(harness):
    conn = harness.connect()
    conn.channel.maxHeaders = 20
    conn.send(request(headers=[(b"X-H%d" % i, b"v") for i in range(19)]))  # 20 with Host
    assert len(harness.receive("http.request")["headers"]) == 20


@pytest.mark.parametrize("daphne_paths", ["fast"], indirect=True)  # the fast path's own test
def test_a_chunk_size_over_the_body_limit_is_413_as_soon_as_its_size_line_is_read(caplog):
    caplog.set_level(logging.INFO, LOGGER)
    harness = Harness(max_request_body_size=100)
    conn = harness.connect()
    conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
    conn.send(b"50\r\n" + b"a" * 80 + b"\r\n")
    assert conn.output() == b""  # 80 bytes: within the limit
    conn.send(b"21\r\n")  # 80 + 33 > 100, and not one of its bytes sent
    assert_refused(harness, conn, 413, caplog, "a 33-byte chunk")


def test_without_twisted_internals_a_chunked_body_is_still_413_once_its_bytes_pass_the_limit(
    monkeypatch,
):
    force_stock(monkeypatch, CHUNK_SIZES)
    harness = Harness(max_request_body_size=100)
    conn = harness.connect()
    conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
    conn.send(b"1000\r\n")
    assert conn.output() == b""  # the fallback cannot see the size line
    conn.send(b"a" * 101)
    assert conn.output().startswith(b"HTTP/1.1 413 ")
    assert harness.nothing_on("http.request")


def test_a_chunked_body_within_the_limit_is_passed_on_whole():
    harness = Harness(max_request_body_size=10)
    conn = harness.connect()
    conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
    conn.send(b"5\r\n12345\r\n5\r\n67890\r\n0\r\n\r\n")
    assert harness.receive("http.request")["body"] == b"1234567890"


def test_an_http_11_request_without_host_is_passed_on_by_default_as_in_1x(harness):
    conn = harness.connect()
    conn.send(b"GET /nohost HTTP/1.1\r\n\r\n")
    assert harness.receive("http.request")["path"] == "/nohost"


def test_with_strict_http_an_http_11_request_without_host_is_400(caplog):
    caplog.set_level(logging.INFO, LOGGER)
    harness = Harness(strict_http=True)
    conn = harness.connect()
    conn.send(b"GET /nohost HTTP/1.1\r\n\r\n")
    assert_refused(harness, conn, 400, caplog, "no Host header")


def test_with_strict_http_two_host_headers_are_400(caplog):
    caplog.set_level(logging.INFO, LOGGER)
    harness = Harness(strict_http=True)
    conn = harness.connect()
    conn.send(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
    assert_refused(harness, conn, 400, caplog, "more than one Host header")


def test_with_strict_http_a_request_with_one_host_is_passed_on():
    harness = Harness(strict_http=True)
    conn = harness.connect()
    conn.send(request(path=b"/ok"))
    assert harness.receive("http.request")["path"] == "/ok"
