"""daphne on its stock paths over real sockets: with every fast path of
``daphne._compat`` forced off (as after a Twisted or Autobahn release that
moved their internals), Twisted's own reactor, Autobahn's own parser and
plain HTTP/1.x channels serve real HTTP and WebSocket clients."""

import httpx
import pytest
from websockets.sync.client import connect as ws_connect

from daphne._compat import FAST_PATHS
from tests.daphne.processes import Daphne

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def daphne():
    process = Daphne(
        "-m",
        "tests.daphne.serve_inmemory",
        "tcp:port=0:interface=127.0.0.1",
        env={"DAPHNE_STOCK_PATHS": "1"},
    )
    yield process
    assert process.terminate() == 0, process.output()


def test_each_fast_path_forced_off_is_reported_in_one_info_line(daphne):
    with httpx.Client(base_url=daphne.url, timeout=20) as client:
        assert client.get("/warm").status_code == 200
    output = daphne.output()
    for path in FAST_PATHS:
        assert output.count(f"INFO Fast path {path.name} is off") == 1, output


def test_http_requests_and_bodies_round_trip(daphne):
    with httpx.Client(base_url=daphne.url, timeout=20) as client:
        report = client.get("/a/b?x=1").json()
        assert report["path"] == "/a/b" and report["query_string"] == "x=1"
        body = b"z" * 300_000
        chunked = client.post("/echo-body", content=iter([body[:1000], body[1000:]]))
        assert chunked.status_code == 200
        assert chunked.json()["body_length"] == len(body)


def test_websocket_frames_echo_through_autobahns_parser(daphne):
    with ws_connect(daphne.ws_url + "/echo/") as ws:
        for message in ("caf\u00e9", b"\x00\x01\xff", "x" * 100_000):
            ws.send(message)
            assert ws.recv() == message
