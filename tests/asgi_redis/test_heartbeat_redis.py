"""``asgi.heartbeat.Heartbeat`` against a real redis-server: the record as
stored, renewal, expiry and removal."""

from __future__ import annotations

import os
import time

import pytest

from asgi import __version__
from asgi.heartbeat import Activity, Heartbeat

pytestmark = pytest.mark.integration


def wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_a_beat_stores_the_record_with_every_field(layer):
    activity = Activity()
    beat = Heartbeat(
        layer, "worker", lambda: ["http.request", "websocket.connect"], activity.snapshot
    )
    activity.note(3)
    assert beat.beat()
    (record,) = layer.inspect_processes()
    assert record["id"] == beat.process_id
    assert (record["kind"], record["pid"], record["version"]) == (
        "worker",
        os.getpid(),
        __version__,
    )
    assert record["channels"] == ["http.request", "websocket.connect"]
    assert record["handled"] == 3
    assert record["started"] <= record["last_activity"] <= time.time()


def test_a_record_not_renewed_expires_after_its_ttl_and_a_renewed_one_stays(layer):
    lapsing = Heartbeat(layer, "worker", lambda: ["x"], lambda: (0, None), ttl=1.0)
    kept = Heartbeat(layer, "daphne", lambda: ["y"], lambda: (0, None), ttl=1.0, interval=0.2)
    lapsing.beat()
    kept.start()
    try:
        assert wait_until(
            lambda: [r["id"] for r in layer.inspect_processes()] == [kept.process_id]
        ), layer.inspect_processes()
        time.sleep(1.2)  # several of kept's ttl: the thread renewed it
        assert [r["id"] for r in layer.inspect_processes()] == [kept.process_id]
    finally:
        kept.stop()
    assert layer.inspect_processes() == []


def test_stop_with_redis_down_does_not_raise(make_layer, make_redis_server):
    server = make_redis_server()
    layer = make_layer(hosts=[server.url])
    beat = Heartbeat(layer, "worker", lambda: ["x"], lambda: (0, None))
    assert beat.beat()
    server.stop()
    assert not beat.beat()
    beat.stop()  # logs; the record would expire by itself
