"""Every drop or refusal daphne makes reaches ``daphne/_drops.py``: the
``daphne.drops`` log line and its observers."""

from __future__ import annotations

import logging

import pytest

from asgi import www
from asgi._drop_log import DropLimiter
from asgi.inmemory import ChannelLayer
from daphne import _drops
from tests.daphne.test_ws_protocol import make, open_socket
from tests.daphne.wire import BrokenLayer, Harness, frame, request

pytestmark = [pytest.mark.protocol, pytest.mark.usefixtures("daphne_paths")]


@pytest.fixture
def drops(monkeypatch):
    # a fresh rate limit: an earlier test's line must not hide this test's
    monkeypatch.setattr(_drops._LOG, "limiter", DropLimiter())
    seen: list[tuple] = []

    def observer(reason, channel, count):
        seen.append((reason, channel, count))

    _drops.add_drop_observer(observer)
    yield seen
    _drops.remove_drop_observer(observer)


def test_a_full_http_request_channel_is_reported_as_channel_full(drops, caplog):
    harness = Harness(layer=ChannelLayer(capacity=1))
    harness.layer.send("http.request", {"filler": True})
    with caplog.at_level(logging.WARNING, "daphne.drops"):
        harness.connect().send(request())
    assert (_drops.CHANNEL_FULL, "http.request", 1) in drops
    lines = [r for r in caplog.records if r.name == "daphne.drops"]
    assert lines and lines[-1].reason == _drops.CHANNEL_FULL


def test_an_unreachable_layer_is_reported_as_layer_down(drops):
    harness = Harness(layer=BrokenLayer({"http.request"}))
    harness.connect().send(request())
    assert (_drops.LAYER_DOWN, "http.request", 1) in drops


def test_an_unanswered_request_is_reported_as_a_timeout(drops):
    harness = Harness(timeout=10)
    conn = harness.connect()
    conn.send(request(path=b"/slow"))
    harness.receive("http.request")
    harness.clock.advance(9.9)
    harness.clock.advance(0.2)
    assert conn.output().startswith(b"HTTP/1.1 503 ")
    assert drops == [(_drops.TIMEOUT, "http.request", 1)]


def test_a_client_that_does_not_read_is_reported_as_a_slow_reader(drops):
    harness = Harness(http_buffer_limit=1000)
    conn = harness.connect()
    conn.send(request(path=b"/sse"))
    reply = harness.receive("http.request")["reply_channel"]
    harness.factory.dispatch_reply(reply, www.http_response(200, more_content=True))
    conn.channel.pauseProducing()
    for _ in range(2):
        harness.factory.dispatch_reply(
            reply, www.http_response_chunk(b"a" * 600, more_content=True)
        )
    assert (_drops.SLOW_READER, "http.response!", 1) in drops


def test_a_reply_for_a_gone_client_is_reported_under_its_general_name(drops):
    harness = Harness()
    harness.factory.dispatch_reply("daphne.response.abc!xyz", www.http_response(200))
    assert drops == [(_drops.CLIENT_GONE, "daphne.response.abc!", 1)]


def test_a_websocket_over_its_message_rate_is_reported_as_rate_limit(drops):
    harness = make(websocket_rate_limit=1)
    conn, _ = open_socket(harness)
    conn.send(b"".join(frame(b"x") for _ in range(12)))
    assert (_drops.RATE_LIMIT, "websocket.receive", 1) in drops
