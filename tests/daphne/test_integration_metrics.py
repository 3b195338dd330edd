"""``daphne --metrics-port``: the real endpoint of a real daphne process on Redis.

A worker process answers (``tests.daphne.worker_process``); the tests drive
HTTP and WebSocket traffic through daphne and check that the exposition text
moves with it. A second daphne without a worker, on a channel of capacity 1,
shows the refusals counted by reason.
"""

import re
import socket
import ssl
import threading
import time
import uuid

import httpx
import pytest
from websockets.sync.client import connect as ws_connect

from tests.daphne.certs import write_self_signed
from tests.daphne.processes import Daphne, Process
from tests.support.metrics import scrape

pytestmark = pytest.mark.integration

_METRICS_AT = re.compile(r"Serving Prometheus metrics at (http://[\d.]+:\d+/metrics)")


def start_daphne(env, *flags, endpoint="tcp:port=0:interface=127.0.0.1"):
    process = Daphne(
        "-m",
        "daphne",
        "-e",
        endpoint,
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
def worker(env):
    process = Process("-m", "tests.daphne.worker_process", "2", env=env)
    process.wait_for("worker ready")
    yield process
    assert process.terminate() == 0, process.output()


@pytest.fixture(scope="module")
def daphne(env, worker):
    process = start_daphne(env, "--metrics-layer", "--metrics-channel", "extra.channel")
    yield process
    assert process.terminate() == 0, process.output()


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
    # capacity 1 and no worker: the first request fills http.request and
    # times out (-t 2), the next ones are refused as full at once
    lonely = dict(env, DAPHNE_TEST_PREFIX=f"dm{uuid.uuid4().hex[:8]}:", DAPHNE_TEST_CAPACITY="1")
    process = start_daphne(lonely)
    try:
        answers = []
        waiting = threading.Thread(
            target=lambda: answers.append(httpx.get(process.url + "/a", timeout=10))
        )
        waiting.start()
        refused = None
        for _ in range(50):
            refused = httpx.get(process.url + "/b", timeout=10)
            if refused.status_code == 503 and "full" in refused.text:
                break
            time.sleep(0.02)
        waiting.join(15)
        assert refused.status_code == 503 and "full" in refused.text, process.output()
        assert answers and answers[0].status_code == 503
        samples = scrape(process.metrics_url)
        assert samples.get("daphne_drops_total", reason="channel_full", channel="http.request") >= 1
        assert samples.get("daphne_drops_total", reason="timeout", channel="http.request") == 1
        assert samples.get("daphne_http_responses_total", status="503") >= 2
        # no --metrics-layer: no layer metrics
        assert "asgi_layer_up" not in samples.types
    finally:
        assert process.terminate() == 0, process.output()


def test_http2_and_http1_connections_over_tls_are_told_apart(env, worker, tmp_path):
    key, cert = write_self_signed(tmp_path)
    endpoint = f"ssl:port=0:interface=127.0.0.1:privateKey={key}:certKey={cert}"
    process = start_daphne(env, endpoint=endpoint)
    verify = ssl.create_default_context(cafile=str(cert))
    base = f"https://127.0.0.1:{process.port}"
    try:
        with httpx.Client(base_url=base, http2=True, verify=verify, timeout=20) as h2:
            assert h2.get("/trivial").http_version == "HTTP/2"
            with httpx.Client(base_url=base, http2=False, verify=verify, timeout=20) as h1:
                assert h1.get("/trivial").http_version == "HTTP/1.1"
                both = scrape(process.metrics_url)
            only_h2 = scrape(process.metrics_url)
        assert both.get("daphne_connections_open", kind="http2") == 1
        assert both.get("daphne_connections_open", kind="http") == 1
        assert only_h2.get("daphne_connections_open", kind="http2") == 1
        assert only_h2.get("daphne_connections_open", kind="http") == 0
        assert only_h2.get("daphne_http_responses_total", status="200") == 2
    finally:
        assert process.terminate() == 0, process.output()


def test_a_metrics_port_in_use_stops_daphne_with_an_error(env):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = Process(
            "-m",
            "daphne",
            "-e",
            "tcp:port=0:interface=127.0.0.1",
            "--metrics-port",
            str(port),
            "tests.daphne.redis_layer:channel_layer",
            env=env,
        )
        code = process.popen.wait(30)
    assert code == 1, process.output()
    assert "Could not listen" in process.output()
