"""``runworker --metrics-port``: two real worker processes, one metrics port each.

Both serve the reliability project on a private Redis behind a real daphne;
HTTP and WebSocket traffic goes through, and each worker's endpoint is
scraped and parsed. Summed over the two processes (as a Prometheus query
would sum the two targets), every message is counted exactly once.
"""

import re
import time

import httpx
import pytest
from websockets.sync.client import connect as ws_connect

from tests.support.metrics import Samples, scrape
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

_METRICS_AT = re.compile(r"Serving Prometheus metrics at (http://[\d.]+:\d+/metrics)")


def metrics_urls(stack: Stack) -> list[str]:
    urls = []
    for worker in stack.workers:
        worker.wait_for_output("Serving Prometheus metrics at")
        urls.append(_METRICS_AT.search(worker.output()).group(1))
    return urls


def total(scrapes: list[Samples], name: str, **labels: str) -> float:
    return sum(samples.get(name, **labels) for samples in scrapes)


@pytest.fixture(scope="module")
def stack(redis_url):
    with Stack([redis_url], workers=2, worker_args=("--metrics-port", "0")) as running:
        running.metrics_urls = metrics_urls(running)
        yield running


def test_each_worker_process_serves_its_own_port(stack):
    assert len(set(stack.metrics_urls)) == 2
    for url in stack.metrics_urls:
        samples = scrape(url)
        assert samples.types["channels_worker_messages"] == "counter"
        assert samples["channels_worker_threads"] == 1
        # the Redis layer offers the inspect extension: its metrics come along
        assert samples["asgi_layer_up"] == 1
        assert samples.get("asgi_layer_channel_depth", None, channel="http.request") == 0


def test_requests_are_counted_once_across_the_worker_processes(stack):
    before = [scrape(url) for url in stack.metrics_urls]
    for _ in range(3):
        assert httpx.get(stack.url + "/hello/", timeout=10).status_code == 200
    time.sleep(0.5)  # the http.disconnect messages that follow the responses
    after = [scrape(url) for url in stack.metrics_urls]
    name = "channels_worker_messages_total"
    assert (
        total(after, name, channel="http.request") - total(before, name, channel="http.request")
        == 3
    )
    consumer = "channels.handler.ViewConsumer"
    count = "channels_worker_consumer_seconds_count"
    assert total(after, count, consumer=consumer) - total(before, count, consumer=consumer) == 3
    batches = "channels_worker_batch_size_count"
    assert total(after, batches) > total(before, batches)
    # one of the two just handled a message
    assert min(s["channels_worker_seconds_since_last_message"] for s in after) < 5


def test_websocket_messages_are_counted_by_channel_and_consumer(stack):
    before = [scrape(url) for url in stack.metrics_urls]
    with ws_connect(stack.ws_url + "/echo/metrics/", open_timeout=10) as ws:
        for text in ("a", "b", "c", "d"):
            ws.send(text)
            assert ws.recv(timeout=10) == text
    after = [scrape(url) for url in stack.metrics_urls]
    name = "channels_worker_messages_total"
    for channel, expected in (("websocket.connect", 1), ("websocket.receive", 4)):
        assert total(after, name, channel=channel) - total(before, name, channel=channel) == (
            expected
        )
    count = "channels_worker_consumer_seconds_count"
    echo = "tests.reliability.project.consumers.ws_echo"
    assert total(after, count, consumer=echo) - total(before, count, consumer=echo) == 4
