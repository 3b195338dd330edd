"""daphne over real sockets with real clients, on the in-memory layer with
worker threads in the daphne process (how runserver embeds it)."""

import base64
import hashlib
import json
import os
import re
import socket
import time

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as ws_connect

from tests.daphne.processes import Daphne

pytestmark = pytest.mark.integration

ENDPOINT = "tcp:port=0:interface=127.0.0.1"


@pytest.fixture(scope="module")
def daphne():
    process = Daphne("-m", "tests.daphne.serve_inmemory", ENDPOINT)
    yield process
    assert process.terminate() == 0, process.output()


@pytest.fixture
def client(daphne):
    with httpx.Client(base_url=daphne.url, timeout=20) as client:
        yield client


def raw_exchange(daphne, data: bytes, timeout=10) -> bytes:
    """What daphne answers to ``data``: up to the close, or to the end of the
    first response when it keeps the connection open (a well-formed request
    with a bad path)."""
    with socket.create_connection((daphne.host, daphne.port), timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        while not _whole_response(received):
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            received += chunk
        return received


def _whole_response(data: bytes) -> bool:
    head, found, body = data.partition(b"\r\n\r\n")
    if not found:
        return False
    match = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
    return match is not None and len(body) >= int(match.group(1))


def events(client, kind, reply_channel, wait=10):
    deadline = time.monotonic() + wait
    while True:
        found = [
            e
            for e in client.get("/events").json()
            if e["kind"] == kind and e["reply_channel"] == reply_channel
        ]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_get_reaches_the_app_with_every_key_and_the_reply_comes_back(client, daphne):
    response = client.get("/some%20path/?a=1&b=%20", headers={"X-Custom": "v", "X_Under": "u"})
    assert response.status_code == 200
    assert response.headers.get_list("set-cookie") == ["a=1", "b=2"]
    report = response.json()
    assert report["path"] == "/some path/" and report["query_string"] == "a=1&b=%20"
    assert report["method"] == "GET" and report["http_version"] == "1.1"
    assert report["scheme"] == "http" and report["server"] == ["127.0.0.1", daphne.port]
    assert ["x-custom", "v"] in report["headers"]
    assert not any(name == "x_under" for name, _ in report["headers"])


def test_keep_alive_reuses_one_connection(client):
    first = client.get("/a").json()["client"]
    second = client.get("/b").json()["client"]
    assert first == second


def test_pipelined_requests_on_one_socket_are_answered_in_order(daphne):
    data = (
        b"GET /p1 HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /p2 HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /p3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    out = raw_exchange(daphne, data)
    assert out.count(b"HTTP/1.1 200 OK") == 3
    assert out.index(b'"/p1"') < out.index(b'"/p2"') < out.index(b'"/p3"')


def test_http_10_request_is_answered(daphne):
    out = raw_exchange(daphne, b"GET /old HTTP/1.0\r\n\r\n")
    assert out.startswith(b"HTTP/1.0 200") and b'"http_version": "1.0"' in out


def test_chunked_upload_is_reassembled(client):
    parts = [os.urandom(1000) for _ in range(5)]
    response = client.post("/up", content=iter(parts))
    report = response.json()
    assert report["body_length"] == 5000
    assert report["body_sha256"] == hashlib.sha256(b"".join(parts)).hexdigest()


def test_upload_larger_than_the_message_limit_streams_over_a_body_channel(client):
    body = os.urandom(6 * 1024 * 1024)  # above the in-memory layer's 4 MiB limit
    report = client.post("/big", content=body).json()
    assert report["body_channel"].startswith("http.request.body?")
    assert report["body_chunks"] > 1
    assert report["body_length"] == len(body)
    assert report["body_sha256"] == hashlib.sha256(body).hexdigest()


def test_body_above_the_configured_limit_is_413(daphne):
    out = raw_exchange(
        daphne, b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\nabc"
    )
    assert out.startswith(b"HTTP/1.1 413")


def test_streamed_response_arrives_chunk_by_chunk(client):
    with client.stream("GET", "/stream") as response:
        assert response.status_code == 200
        chunks = list(response.iter_text())
    assert "".join(chunks) == "chunk0\nchunk1\nchunk2\nend\n"


def test_no_reply_gets_503_after_the_http_timeout(client):
    started = time.monotonic()
    response = client.get("/silent")
    assert response.status_code == 503
    assert "failed to respond within time limit" in response.text
    assert time.monotonic() - started >= 2.5


def test_invalid_reply_is_500_not_a_traceback(client, daphne):
    response = client.get("/invalid")
    assert response.status_code == 500
    assert "Traceback" not in daphne.output()


def test_client_leaving_early_and_completed_requests_each_send_one_http_disconnect(client, daphne):
    with socket.create_connection((daphne.host, daphne.port)) as sock:
        sock.sendall(b"GET /early/silent HTTP/1.1\r\nHost: x\r\n\r\n")
        daphne.wait_for(r'EVENT \{"kind": "http.request".*"/early/silent"', timeout=15)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        kinds = [e["kind"] for e in _all_events_eventually(client, "/early/silent")]
        if "http.disconnect" in kinds:
            break
        time.sleep(0.1)
    assert kinds == ["http.request", "http.disconnect"]
    client.get("/completed")
    assert _all_events_eventually(client, "/completed"), "1.x: sent after a completed response"
    time.sleep(0.3)  # a second disconnect for it would have arrived by now
    found = _all_events_eventually(client, "/completed")
    assert [e["kind"] for e in found] == ["http.disconnect"]


def _all_events_eventually(client, path, wait=10):
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        found = [e for e in client.get("/events").json() if e.get("path") == path]
        if found:
            return found
        time.sleep(0.1)
    return []


@pytest.mark.parametrize(
    "data, status",
    [
        (b"THIS IS NOT HTTP\r\n\r\n", b"400"),
        (b"GET /x HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n", b"431"),
        (b"GET /%ff HTTP/1.1\r\nHost: x\r\n\r\n", b"400"),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n", b"400"),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", b"400"),
    ],
)
def test_bad_input_gets_an_error_status_not_a_crash(daphne, client, data, status):
    out = raw_exchange(daphne, data)
    assert out.split(b" ", 2)[1] == status
    assert client.get("/still-alive").status_code == 200


def test_websocket_echo_of_text_binary_and_empty_frames(daphne):
    with ws_connect(daphne.ws_url + "/echo/") as ws:
        ws.send("caf\u00e9")
        assert ws.recv() == "caf\u00e9"
        ws.send(b"\x00\x01\xff")
        assert ws.recv() == b"\x00\x01\xff"
        ws.send("empty-text")
        assert ws.recv() == ""
        ws.send("empty-bytes")
        assert ws.recv() == b""
        big = os.urandom(1024 * 1024)
        ws.send(big)
        assert ws.recv() == big


def test_websocket_connect_message_has_scheme_root_path_and_query(daphne):
    with ws_connect(daphne.ws_url + "/ws/info?x=1") as ws:
        info = json.loads(ws.recv())
    assert info["scheme"] == "ws" and info["root_path"] == ""
    assert info["path"] == "/ws/info" and info["query_string"] == "x=1"
    assert info["order"] == 0 and info["server"] == ["127.0.0.1", daphne.port]


def test_websocket_reject_and_close_during_handshake_are_403(daphne):
    for path in ("/reject", "/close"):
        with pytest.raises(InvalidStatus) as info:
            ws_connect(daphne.ws_url + path)
        assert info.value.response.status_code == 403


def test_websocket_data_during_handshake_implies_accept(daphne):
    with ws_connect(daphne.ws_url + "/hello") as ws:
        assert ws.recv() == "hello"


def test_websocket_handshake_nobody_answers_is_rejected_after_the_connect_timeout(daphne):
    started = time.monotonic()
    with pytest.raises(InvalidStatus) as info:
        ws_connect(daphne.ws_url + "/silent", open_timeout=20)
    assert info.value.response.status_code == 403
    assert time.monotonic() - started >= 2.5


def test_websocket_subprotocol_is_negotiated(daphne):
    with ws_connect(daphne.ws_url + "/sp", subprotocols=["other", "chat.v2"]) as ws:
        assert ws.subprotocol == "chat.v2"


def test_websocket_close_from_the_app_reaches_the_client_and_one_disconnect_is_sent(daphne, client):
    with ws_connect(daphne.ws_url + "/info") as ws:
        reply_channel = json.loads(ws.recv())["reply_channel"]
        ws.send("close")
        with pytest.raises(ConnectionClosed) as info:
            ws.recv()
    assert info.value.rcvd.code == 4000
    events(client, "websocket.disconnect", reply_channel)
    time.sleep(0.3)  # a second disconnect would have arrived by now
    found = events(client, "websocket.disconnect", reply_channel)
    assert [(e["code"], e["order"]) for e in found] == [(4000, 2)]


def test_websocket_client_close_and_network_drop_each_send_one_disconnect(daphne, client):
    with ws_connect(daphne.ws_url + "/info") as ws:
        clean = json.loads(ws.recv())["reply_channel"]
        ws.close(code=4100)
    with ws_connect(daphne.ws_url + "/info") as dropped_ws:
        dropped = json.loads(dropped_ws.recv())["reply_channel"]
        # cut the TCP connection without a close frame
        dropped_ws.socket.shutdown(socket.SHUT_RDWR)
    assert [e["code"] for e in events(client, "websocket.disconnect", clean)] == [4100]
    assert [e["code"] for e in events(client, "websocket.disconnect", dropped)] == [1006]


def raw_websocket(daphne, path: bytes) -> socket.socket:
    """A WebSocket client on a bare socket that reads only the handshake."""
    sock = socket.create_connection((daphne.host, daphne.port), timeout=10)
    key = base64.b64encode(os.urandom(16))
    sock.sendall(
        b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101")
    return sock


def test_a_client_that_does_not_read_is_closed_with_1013_not_buffered_forever(daphne, client):
    sock = raw_websocket(daphne, b"/flood")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    payload = b"flood:131072:150"  # 150 x 128 KiB = 18.75 MiB, never read
    mask = os.urandom(4)
    sock.sendall(
        bytes([0x81, 0x80 | len(payload)])
        + mask
        + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    )
    try:
        daphne.wait_for(r"reads too slowly \(\d+ bytes queued\); closing with 1013", timeout=30)
    finally:
        sock.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = [
            e
            for e in client.get("/events").json()
            if e["kind"] == "websocket.disconnect" and e["path"] == "/flood"
        ]
        if found:
            break
        time.sleep(0.1)
    assert [e["code"] for e in found] == [1013]


def test_an_http_client_that_does_not_read_a_stream_is_cut_off(daphne, client):
    sock = socket.create_connection((daphne.host, daphne.port), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.sendall(b"GET /http/flood HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        daphne.wait_for(r"reads too slowly \(\d+ bytes queued\); dropping /http/flood", timeout=30)
    finally:
        sock.close()
    found = _all_events_eventually(client, "/http/flood")
    assert [e["kind"] for e in found] == ["http.disconnect"]
