"""``--health-path`` and the 503 explanation over a fake transport and clock.

The in-memory layer (which has the ``inspect`` extension) holds the
heartbeat records, on the same fake clock as daphne.
"""

from __future__ import annotations

import json
import logging

import pytest

from asgi.heartbeat import build_record
from asgi.inmemory import ChannelLayer
from tests.daphne.wire import Harness, request

pytestmark = [pytest.mark.protocol, pytest.mark.usefixtures("daphne_paths")]


class CountingLayer(ChannelLayer):
    """Counts ``inspect_processes`` calls; ``down`` makes them fail like Redis down."""

    def __init__(self, **kwargs):
        super().__init__(capacity=100, **kwargs)
        self.inspections = 0
        self.down = False

    def inspect_processes(self):
        self.inspections += 1
        if self.down:
            raise ConnectionError("Error 111 connecting to 127.0.0.1:1")
        return super().inspect_processes()


class NoInspectLayer(ChannelLayer):
    extensions = ["groups", "flush"]


def worker_record(channels=("http.request", "websocket.connect"), pid=4242):
    return build_record(
        process_id=f"worker:host:{pid}:0badcafe",
        kind="worker",
        host="host",
        pid=pid,
        channels=channels,
        handled=0,
        last_activity=0.0,
        started=0.0,
    )


def make(layer=None, **options):
    harness = Harness(layer=layer or CountingLayer(), health_path="/healthz", **options)
    harness.layer._clock = harness.clock.seconds  # records expire on daphne's fake clock
    return harness


def get(harness, method=b"GET", path=b"/healthz"):
    conn = harness.connect()
    conn.send(request(method=method, path=path))
    return conn.output()


def parse(response: bytes):
    head, _, body = response.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, head, json.loads(body) if body else None


def test_with_no_worker_record_the_health_path_is_503_and_says_so():
    status, head, body = parse(get(make()))
    assert status == 503
    assert body == {
        "status": "unavailable",
        "layer": "reachable",
        "workers": 0,
        "reason": "no live worker consumes http.request",
    }
    assert b"application/json" in head and b"no-store" in head


def test_a_live_worker_consuming_http_request_makes_it_200():
    harness = make()
    harness.layer.heartbeat(worker_record(), 15)
    status, _, body = parse(get(harness))
    assert status == 200
    assert body == {"status": "ok", "layer": "reachable", "workers": 1, "reason": ""}


def test_a_worker_that_does_not_consume_http_request_does_not_count():
    harness = make()
    harness.layer.heartbeat(worker_record(channels=("websocket.receive",)), 15)
    assert parse(get(harness))[0] == 503


def test_the_health_path_never_reaches_the_layer_as_a_request():
    harness = make()
    get(harness)
    assert harness.nothing_on("http.request")


def test_other_paths_still_go_to_the_layer():
    harness = make()
    get(harness, path=b"/healthzz")
    assert harness.receive("http.request")["path"] == "/healthzz"


def test_the_answer_is_cached_for_a_second_so_a_probe_flood_costs_one_query():
    harness = make()
    for _ in range(50):
        assert parse(get(harness))[0] == 503
    assert harness.layer.inspections == 1
    harness.layer.heartbeat(worker_record(), 15)
    assert parse(get(harness))[0] == 503, "still the cached answer"
    harness.clock.advance(1.01)
    assert parse(get(harness))[0] == 200
    assert harness.layer.inspections == 2


def test_the_worker_expiring_turns_it_back_to_503():
    harness = make()
    harness.layer.heartbeat(worker_record(), 15)
    assert parse(get(harness))[0] == 200
    harness.clock.advance(15.01)
    assert parse(get(harness))[0] == 503


def test_an_unreachable_layer_is_503_with_layer_unreachable():
    harness = make()
    harness.layer.down = True
    status, _, body = parse(get(harness))
    assert status == 503
    assert body["layer"] == "unreachable" and body["status"] == "unavailable"
    assert "Error 111" in body["reason"]


def test_a_layer_without_inspect_is_503_with_no_inspect():
    status, _, body = parse(get(make(layer=NoInspectLayer(capacity=100))))
    assert status == 503
    assert body["layer"] == "no-inspect" and "inspect" in body["reason"]


def test_head_gets_the_status_without_a_body():
    harness = make()
    harness.layer.heartbeat(worker_record(), 15)
    out = get(harness, method=b"HEAD")
    assert out.startswith(b"HTTP/1.1 200 ")
    assert out.endswith(b"\r\n\r\n")


@pytest.mark.parametrize("method", [b"POST", b"PUT", b"DELETE", b"OPTIONS"])
def test_other_methods_get_405_with_allow(method):
    harness = make()
    out = get(harness, method=method)
    assert out.startswith(b"HTTP/1.1 405 ")
    assert b"Allow: GET, HEAD" in out
    assert harness.layer.inspections == 0


def test_without_health_path_the_path_is_an_ordinary_request():
    harness = Harness(layer=CountingLayer())
    get(harness)
    assert harness.receive("http.request")["path"] == "/healthz"


def timed_out(harness, caplog):
    conn = harness.connect()
    conn.send(request(path=b"/slow"))
    harness.receive("http.request")
    with caplog.at_level(logging.WARNING, "daphne.http_protocol"):
        harness.clock.advance(9.9)
        harness.clock.advance(0.2)
    return conn.output()


def test_a_timed_out_503_logs_that_no_worker_consumes_http_request(caplog):
    harness = make(timeout=10)
    get(harness)  # the health answer is known (as the heartbeat poll keeps it)
    out = timed_out(harness, caplog)
    assert out.startswith(b"HTTP/1.1 503 ")
    assert "no live worker consumes http.request" in caplog.text
    assert b"no live worker" not in out, "the page says so only with explain_errors"


def test_with_explain_errors_the_503_page_says_it_too(caplog):
    harness = make(timeout=10, explain_errors=True)
    get(harness)
    out = timed_out(harness, caplog)
    assert b"no live worker consumes http.request" in out


def test_with_a_live_worker_the_503_does_not_blame_the_workers(caplog):
    harness = make(timeout=10, explain_errors=True)
    harness.layer.heartbeat(worker_record(), 60)
    get(harness)
    out = timed_out(harness, caplog)
    assert b"no live worker" not in out and "no live worker" not in caplog.text


def test_without_a_recent_answer_the_503_is_not_delayed_and_says_nothing_more(caplog):
    harness = make(timeout=10, explain_errors=True, explain_max_age=5)
    get(harness)
    harness.clock.advance(6)  # the answer is now too old to trust
    out = timed_out(harness, caplog)
    assert out.startswith(b"HTTP/1.1 503 ") and b"no live worker" not in out
    assert harness.layer.inspections == 2, "a fresh answer was asked for the next one"
