"""``daphne --metrics-port``: the real endpoint of a real daphne process on Redis.

A worker process answers (``tests.daphne.worker_process``); the tests drive
HTTP and WebSocket traffic through daphne and check that the exposition text
moves with it. A second daphne without a worker, on a channel of capacity 1,
shows the refusals counted by reason.
"""

import re
import uuid

import httpx
import pytest
from websockets.sync.client import connect as ws_connect

from tests.daphne.processes import Daphne, Process
from tests.support.metrics import scrape

pytestmark = pytest.mark.integration

_METRICS_AT = re.compile(r"Serving Prometheus metrics at (http://[\d.]+:\d+/metrics)")


def start_daphne(env, *flags):
    process = Daphne(
        "-m",
        "daphne",
        "-e",
        "tcp:port=0:interface=127.0.0.1",
        "-t",
        "2",
        "--metrics-port",
        "0",
        *flags,
        "tests.daphne.redis_layer:channel_layer",
        env=env,
    )
    process.metrics_url = process.wait_for(_METRICS_AT).group(1)
    return process


@pytest.fixture(scope="module")
def env(redis_url):
    return {"DAPHNE_TEST_REDIS_URL": redis_url, "DAPHNE_TEST_PREFIX": f"dm{uuid.uuid4().hex[:8]}:"}


@pytest.fixture(scope="module")
def daphne(env):
    worker = Process("-m", "tests.daphne.worker_process", "2", env=env)
    worker.wait_for("worker ready")
    process = start_daphne(env, "--metrics-layer", "--metrics-channel", "extra.channel")
    yield process
    assert process.terminate() == 0, process.output()
    assert worker.terminate() == 0, worker.output()


def test_three_requests_add_three_to_the_200_count_and_the_latency_histogram(daphne):
    before = scrape(daphne.metrics_url)
    for _ in range(3):
        assert httpx.get(daphne.url + "/trivial", timeout=10).status_code == 200
    after = scrape(daphne.metrics_url)
    assert after.types["daphne_http_responses"] == "counter"
    assert (
        after.get("daphne_http_responses_total", status="200")
        - before.get("daphne_http_responses_total", status="200")
        == 3
    )
    assert (
        after["daphne_http_response_seconds_count"]
        - before.get("daphne_http_response_seconds_count")
        == 3
    )
    # every response of a local echo took well under 30 s: all in the finite buckets
    assert (
        after.get("daphne_http_response_seconds_bucket", le="30.0")
        == after["daphne_http_response_seconds_count"]
    )


def test_websocket_traffic_moves_the_frames_handshakes_and_open_connections(daphne):
    before = scrape(daphne.metrics_url)
    with ws_connect(daphne.ws_url + "/echo", open_timeout=10) as ws:
        for text in ("one", "two"):
            ws.send(text)
            assert ws.recv(timeout=10) == text
        during = scrape(daphne.metrics_url)
    after = scrape(daphne.metrics_url)
    assert during.get("daphne_connections_open", kind="websocket") == 1
    assert (
        during.get("daphne_websocket_frames_total", direction="in")
        - before.get("daphne_websocket_frames_total", direction="in")
        == 2
    )
    assert (
        during.get("daphne_websocket_frames_total", direction="out")
        - before.get("daphne_websocket_frames_total", direction="out")
        == 2
    )
    name = "daphne_websocket_handshake_seconds_count"
    assert after.get(name, outcome="accepted") - before.get(name, outcome="accepted") == 1
    assert after.get("daphne_sender_backlog", lane="frames") == 0


def test_an_open_http_connection_is_counted_by_kind(daphne):
    with httpx.Client(base_url=daphne.url, timeout=10) as client:
        assert client.get("/trivial").status_code == 200  # kept alive
        samples = scrape(daphne.metrics_url)
    assert samples.get("daphne_connections_open", kind="http") >= 1
    assert samples.get("daphne_connections_open", kind="http2") == 0


def test_the_layer_metrics_report_the_standard_and_named_channels(daphne):
    samples = scrape(daphne.metrics_url)
    assert samples["asgi_layer_up"] == 1
    for channel in ("http.request", "websocket.receive", "extra.channel"):
        assert samples.get("asgi_layer_channel_depth", None, channel=channel) == 0
        assert samples.get("asgi_layer_channel_capacity", None, channel=channel) == 1000
    shards = samples.series("asgi_layer_shard_up")
    assert list(shards.values()) == [1]


def test_the_application_cannot_shadow_the_metrics_path(daphne):
    # daphne's own port hands /metrics to the application like any path
    response = httpx.get(daphne.url + "/metrics", timeout=10)
    assert "daphne_http_responses" not in response.text


def test_refusals_and_timeouts_are_counted_by_reason(env):
    lonely = dict(env, DAPHNE_TEST_PREFIX=f"dm{uuid.uuid4().hex[:8]}:", DAPHNE_TEST_CAPACITY="1")
    process = start_daphne(lonely)
    try:
        with (
            httpx.Client(base_url=process.url, timeout=10) as first,
            httpx.Client(base_url=process.url, timeout=10) as second,
        ):
            import threading

            answers = []
            waiting = threading.Thread(target=lambda: answers.append(first.get("/a")))
            waiting.start()  # nobody consumes: it fills http.request, then times out
            deadline_ok = False
            for _ in range(50):
                refused = second.get("/b")
                if refused.status_code == 503 and "full" in refused.text:
                    deadline_ok = True
                    break
            waiting.join(15)
        assert deadline_ok, process.output()
        assert answers and answers[0].status_code == 503
        samples = scrape(process.metrics_url)
        assert samples.get("daphne_drops_total", reason="channel_full", channel="http.request") >= 1
        assert samples.get("daphne_drops_total", reason="timeout", channel="http.request") == 1
        assert samples.get("daphne_http_responses_total", status="503") >= 2
        # no --metrics-layer: no layer metrics
        assert "asgi_layer_up" not in samples.types
    finally:
        assert process.terminate() == 0, process.output()
