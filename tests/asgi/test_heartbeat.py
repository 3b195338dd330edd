"""``asgi/heartbeat.py``: the process record and its renewer, on the in-memory layer."""

from __future__ import annotations

import logging
import os
import socket
import threading

import pytest

from asgi import __version__
from asgi.heartbeat import Activity, Heartbeat, build_record, has_inspect, new_process_id
from asgi.inmemory import ChannelLayer

pytestmark = pytest.mark.unit


class FakeClock:
    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now


class FlakyLayer(ChannelLayer):
    """``down`` makes heartbeat calls fail as an unreachable Redis would."""

    down = False

    def heartbeat(self, record, ttl):
        if self.down:
            raise ConnectionError("Error 111 connecting")
        super().heartbeat(record, ttl)

    def heartbeat_remove(self, process_id):
        if self.down:
            raise ConnectionError("Error 111 connecting")
        super().heartbeat_remove(process_id)


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def layer(clock):
    return FlakyLayer(clock=clock)


def make(layer, clock, channels=("http.request",), activity=(0, None), **kwargs):
    return Heartbeat(
        layer, "worker", lambda: list(channels), lambda: activity, clock=clock, **kwargs
    )


def test_a_process_id_is_kind_host_pid_and_8_hex_digits_unique_per_start():
    first = new_process_id("daphne", "web-1", 12)
    kind, host, pid, suffix = first.split(":")
    assert (kind, host, pid) == ("daphne", "web-1", "12")
    assert len(suffix) == 8 and int(suffix, 16) >= 0
    assert new_process_id("daphne", "web-1", 12) != first


def test_the_record_has_exactly_the_agreed_keys_and_types():
    record = build_record(
        process_id="worker:h:1:00000000",
        kind="worker",
        host="h",
        pid=1,
        channels=["websocket.connect", "http.request", "http.request"],
        handled=3,
        last_activity=5,
        started=2,
    )
    assert record == {
        "id": "worker:h:1:00000000",
        "kind": "worker",
        "host": "h",
        "pid": 1,
        "version": __version__,
        "channels": ["http.request", "websocket.connect"],
        "handled": 3,
        "last_activity": 5.0,
        "started": 2.0,
    }


def test_a_beat_stores_this_process_record_in_the_layer(layer, clock):
    beat = make(layer, clock, activity=(7, 1010.0))
    assert beat.beat()
    (record,) = layer.inspect_processes()
    assert record["id"] == beat.process_id and record["kind"] == "worker"
    assert record["host"] == socket.gethostname() and record["pid"] == os.getpid()
    assert record["channels"] == ["http.request"]
    assert (record["handled"], record["last_activity"], record["started"]) == (7, 1010.0, 1000.0)


def test_before_any_activity_last_activity_is_the_start_time(layer, clock):
    beat = make(layer, clock)
    clock.now += 3
    beat.beat()
    assert layer.inspect_processes()[0]["last_activity"] == 1000.0


def test_the_record_expires_ttl_after_the_last_renewal(layer, clock):
    beat = make(layer, clock, ttl=15)
    beat.beat()
    clock.now += 10
    beat.beat()
    clock.now += 14.9
    assert len(layer.inspect_processes()) == 1
    clock.now += 0.2
    assert layer.inspect_processes() == []


def test_the_interval_defaults_to_a_third_of_the_ttl_and_must_be_below_it(layer, clock):
    assert make(layer, clock, ttl=15).interval == 5
    with pytest.raises(ValueError, match="below the ttl"):
        make(layer, clock, ttl=15, interval=15)
    with pytest.raises(ValueError, match="positive number"):
        make(layer, clock, ttl=0)


def test_a_layer_that_is_down_is_logged_once_then_the_recovery_once(layer, clock, caplog):
    beat = make(layer, clock)
    layer.down = True
    with caplog.at_level(logging.DEBUG, "asgi.heartbeat"):
        assert not beat.beat()
        assert not beat.beat()
        assert not beat.beat()
        layer.down = False
        assert beat.beat()
    levels = [r.levelno for r in caplog.records if r.name == "asgi.heartbeat"]
    assert levels == [logging.WARNING, logging.DEBUG, logging.DEBUG, logging.INFO]
    assert len(layer.inspect_processes()) == 1


def test_stop_removes_the_record_and_tolerates_a_layer_that_is_down(layer, clock, caplog):
    beat = make(layer, clock)
    beat.beat()
    beat.stop()
    assert layer.inspect_processes() == []
    other = make(layer, clock)
    other.beat()
    layer.down = True
    other.stop()  # no exception: the record expires by itself
    assert "Could not remove" in caplog.text


def test_the_thread_renews_every_interval_until_stopped():
    layer = ChannelLayer()
    renewals = threading.Semaphore(0)
    original = layer.heartbeat

    def counting(record, ttl):
        original(record, ttl)
        renewals.release()

    layer.heartbeat = counting
    beat = Heartbeat(layer, "daphne", lambda: ["daphne.response.x!*"], lambda: (0, None), ttl=0.6)
    beat.start()
    try:
        for _ in range(3):  # the first at once, then one every 0.2 s
            assert renewals.acquire(timeout=5)
        assert [r["id"] for r in layer.inspect_processes()] == [beat.process_id]
    finally:
        beat.stop()
    assert layer.inspect_processes() == []
    assert beat._thread is None


def test_activity_counts_from_several_threads():
    activity = Activity(clock=lambda: 42.0)
    threads = [
        threading.Thread(target=lambda: [activity.note() for _ in range(1000)]) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert activity.snapshot() == (4000, 42.0)


def test_has_inspect_follows_the_layer_extensions():
    assert has_inspect(ChannelLayer())

    class Plain:
        extensions = ["groups"]

    assert not has_inspect(Plain()) and not has_inspect(object())
