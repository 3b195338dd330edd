"""daphne's counting for ``--metrics-port`` over a fake transport and clock.

The counts are read back through the exposition text the collector makes
(parsed with ``prometheus_client.parser``), so these tests check what a
scrape would see; the real listener is in ``test_integration_metrics``.
"""

import pytest
from prometheus_client import generate_latest
from twisted.internet import defer

from asgi import www
from asgi.inmemory import ChannelLayer
from daphne._metrics import channel_label
from daphne._metrics_server import MetricsService
from tests.daphne.wire import Harness, frame, request
from tests.support.metrics import Samples

pytestmark = [pytest.mark.protocol, pytest.mark.usefixtures("daphne_paths")]


@pytest.fixture
def harness():
    return Harness(timeout=10, websocket_connect_timeout=5)


@pytest.fixture
def service(harness):
    service = MetricsService(harness.factory, harness.clock)
    yield service
    defer.ensureDeferred(service.stop())


def scrape(service) -> Samples:
    service.collector.refresh()
    return Samples(generate_latest(service.registry).decode())


def test_without_metrics_the_factory_holds_no_counter_and_traffic_flows(harness):
    assert harness.factory.metrics is None
    conn = harness.connect()
    conn.send(request())
    reply = harness.receive("http.request")["reply_channel"]
    harness.factory.dispatch_reply(reply, www.http_response(200, content=b"ok"))
    assert conn.output().startswith(b"HTTP/1.1 200 OK")


def test_responses_are_counted_by_status_with_their_latency(harness, service):
    conn = harness.connect()
    for status, delay in ((200, 0.2), (404, 0.004), (200, 3.0)):
        conn.send(request())
        reply = harness.receive("http.request")["reply_channel"]
        harness.clock.advance(delay)
        harness.factory.dispatch_reply(reply, www.http_response(status, content=b"x"))
    samples = scrape(service)
    assert samples.get("daphne_http_responses_total", status="200") == 2
    assert samples.get("daphne_http_responses_total", status="404") == 1
    bucket = "daphne_http_response_seconds_bucket"
    assert samples.get(bucket, le="0.005") == 1
    assert samples.get(bucket, le="0.25") == 2
    assert samples.get(bucket, le="2.5") == 2
    assert samples.get(bucket, le="5.0") == 3
    assert samples["daphne_http_response_seconds_sum"] == pytest.approx(3.204)


def test_a_timed_out_request_counts_a_503_and_a_timeout_drop(harness, service):
    conn = harness.connect()
    conn.send(request())
    harness.clock.advance(11)
    assert b"503" in conn.output().split(b"\r\n")[0]
    samples = scrape(service)
    assert samples.get("daphne_http_responses_total", status="503") == 1
    assert samples.get("daphne_drops_total", reason="timeout", channel="http.request") == 1


def test_a_full_request_channel_counts_a_channel_full_drop():
    harness = Harness(layer=ChannelLayer(capacity=1), timeout=10)
    service = MetricsService(harness.factory, harness.clock)
    try:
        first, second = harness.connect(), harness.connect()
        first.send(request())
        second.send(request())
        assert second.output().startswith(b"HTTP/1.1 503")
        samples = scrape(service)
        assert samples.get("daphne_drops_total", reason="channel_full", channel="http.request") == 1
    finally:
        defer.ensureDeferred(service.stop())


def test_open_connections_are_counted_by_kind_until_they_close(harness, service):
    conn = harness.connect()
    other = harness.connect()
    assert scrape(service).get("daphne_connections_open", kind="http") == 2
    other.transport.loseConnection()
    other.lose()
    samples = scrape(service)
    assert samples.get("daphne_connections_open", kind="http") == 1
    assert samples.get("daphne_connections_open", kind="http2") == 0
    conn.upgrade()
    # the upgraded connection is a WebSocket now, not an HTTP connection
    samples = scrape(service)
    assert samples.get("daphne_connections_open", kind="http") == 0
    assert samples.get("daphne_connections_open", kind="websocket") == 1


def test_websocket_frames_and_handshakes_are_counted(harness, service):
    conn = harness.connect()
    conn.upgrade()
    connect = harness.receive("websocket.connect")
    harness.clock.advance(0.03)
    harness.factory.dispatch_reply(connect["reply_channel"], www.websocket_reply(accept=True))
    conn.send(frame(b"one") + frame(b"two") + frame(b"three"))
    harness.factory.dispatch_reply(connect["reply_channel"], www.websocket_reply(text="back"))
    rejected = harness.connect()
    rejected.upgrade()
    refused = harness.receive("websocket.connect")
    harness.factory.dispatch_reply(refused["reply_channel"], www.websocket_reply(accept=False))
    samples = scrape(service)
    assert samples.get("daphne_websocket_frames_total", direction="in") == 3
    assert samples.get("daphne_websocket_frames_total", direction="out") == 1
    name = "daphne_websocket_handshake_seconds_bucket"
    assert samples.get(name, outcome="accepted", le="0.025") == 0
    assert samples.get(name, outcome="accepted", le="0.05") == 1
    assert samples.get("daphne_websocket_handshake_seconds_count", outcome="rejected") == 1


def test_the_sender_backlog_is_read_at_scrape_time(harness, service):
    assert scrape(service).get("daphne_sender_backlog", lane="frames") == 0
    harness.factory.sender.pending = lambda: 7  # a layer that is slow to take them
    assert scrape(service).get("daphne_sender_backlog", lane="frames") == 7


@pytest.mark.parametrize(
    ("channel", "label"),
    [
        ("http.request", "http.request"),
        ("daphne.response.abc!def", "daphne.response.abc!"),
        ("http.request.body?xyz", "http.request.body?"),
        (None, ""),
    ],
)
def test_drop_labels_never_carry_one_connection_s_channel(channel, label):
    assert channel_label(channel) == label
