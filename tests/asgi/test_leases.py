"""The lease entries and the disconnects a survivor builds from them."""

from __future__ import annotations

import logging
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asgi import _leases, www
from asgi.inmemory import ChannelLayer

pytestmark = pytest.mark.unit


@given(
    path=st.text(st.characters(exclude_categories=("Cs",))),
    order=st.integers(min_value=1, max_value=2**53),
)
def test_an_entry_round_trips_its_path_and_order_as_str_and_as_bytes(path, order):
    entry = _leases.encode_entry(path, order)
    assert _leases.decode_entry(entry) == (path, order)
    assert _leases.decode_entry(entry.encode()) == (path, order)


def test_a_reaped_socket_gets_a_valid_disconnect_with_code_1006_its_path_and_order():
    messages = _leases.disconnects({b"daphne.response.x!a": b"4 /chat/room 1/"})
    assert messages == [
        (
            "websocket.disconnect",
            {
                "reply_channel": "daphne.response.x!a",
                "path": "/chat/room 1/",
                "code": 1006,
                "order": 4,
            },
        )
    ]
    www.validate("websocket.disconnect", messages[0][1])


def test_a_malformed_entry_is_logged_and_skipped(caplog):
    with caplog.at_level(logging.WARNING, logger="asgi._leases"):
        messages = _leases.disconnects({"d!a": "nonsense", "d!b": "1 /ok"})
    assert [message["reply_channel"] for _, message in messages] == ["d!b"]
    assert "Skipped a malformed lease entry for d!a: 'nonsense'" in caplog.text


def test_only_layers_listing_the_extension_have_leases():
    assert not _leases.has_leases(ChannelLayer())
    assert not _leases.has_leases(object())

    class Leasing:
        extensions = ["groups", "leases"]

    assert _leases.has_leases(Leasing())


class FakeLeasingLayer(ChannelLayer):
    """The in-memory layer with a queue of claimable leases."""

    extensions = ["groups", "flush", "leases"]

    def __init__(self, leases, **kwargs):
        super().__init__(**kwargs)
        self.leases = list(leases)

    def lease_claim(self, limit=16):
        taken, self.leases = self.leases[:limit], self.leases[limit:]
        return taken


def test_reap_claims_in_batches_until_none_are_left_and_sends_every_disconnect():
    leases = [(f"d{i}!", {f"d{i}!a": "1 /a", f"d{i}!b": "2 /b"}) for i in range(5)]
    layer = FakeLeasingLayer(leases, capacity=100)
    assert _leases.reap(layer, batch=2) == 10
    got = [layer.receive(["websocket.disconnect"]) for _ in range(11)]
    assert len([channel for channel, _ in got if channel]) == 10


def test_disconnects_refused_for_another_reason_are_logged_as_lost(caplog, monkeypatch):
    layer = FakeLeasingLayer([("d!", {"d!a": "1 /a"})])
    monkeypatch.setattr(layer, "send_batch", lambda messages: [OSError("down")] * len(messages))
    with caplog.at_level(logging.WARNING, logger="asgi._leases"):
        assert _leases.reap(layer) == 0
    assert "Lost 1 of 1 disconnects of the dead server d!: down" in caplog.text


def test_a_reaper_thread_reaps_every_interval_until_stopped():
    layer = FakeLeasingLayer([("d!", {"d!a": "1 /a"})])
    reaper = _leases.Reaper(layer, interval=0.01)
    reaper.start()
    channel = None
    for _ in range(200):
        channel, message = layer.receive(["websocket.disconnect"])
        if channel:
            break
        time.sleep(0.01)
    reaper.stop(timeout=2)
    assert channel == "websocket.disconnect" and message["code"] == 1006
    assert not reaper._thread.is_alive()


def test_a_reaper_logs_a_failed_round_and_keeps_going(caplog):
    layer = FakeLeasingLayer([])
    calls = []

    def claim(limit=16):
        calls.append(limit)
        raise ConnectionError("redis down")

    layer.lease_claim = claim
    reaper = _leases.Reaper(layer, interval=0.01)
    with caplog.at_level(logging.WARNING, logger="asgi._leases"):
        reaper.start()
        while len(calls) < 2:
            time.sleep(0.01)
        reaper.stop(timeout=2)
    assert "Reaping dead servers' leases failed: redis down" in caplog.text
