"""The bridge's presence and acknowledged-send support in real headless
Chromium, against the echo server of test_websocketbridge_browser: the page
sends the server's frames itself and the echo hands them back, so these
tests pin the client side of the wire format (docs/topics/realtime.rst).
The end-to-end runs against daphne are in tests/example."""

from __future__ import annotations

import json
import time

import pytest

from tests.support.browser import wait_for

pytestmark = pytest.mark.integration


# A page-side stand-in for a server: it answers the bridge's requests, as a
# consumer's reply() would, when the echo hands them back.
ANSWER_REQUESTS = """
bridge.socket.addEventListener("message", (event) => {
    const frame = JSON.parse(event.data);
    if (!frame || typeof frame.request !== "string") { return; }
    if (frame.payload.silent) { return; }
    const reply = frame.payload.fail
        ? {reply: frame.request, error: "refused"}
        : {reply: frame.request, payload: {echo: frame.payload}};
    if ("stream" in frame) { reply.stream = frame.stream; }
    bridge.socket.send(JSON.stringify(reply));
});
"""


def sent_frames(echo_server) -> list:
    return [json.loads(frame) for frame in echo_server.frames]


def test_presence_frames_drive_sync_join_and_leave_and_the_list(page, echo_server):
    page.execute_script(
        """
        window.bridge = new channels.WebSocketBridge();
        bridge.connect("/ws/presence/");
        const room = bridge.presence("room");
        room.onJoin((key, before, joined) => events.push(["join", key, !!before, joined.map((m) => m.ref)]));
        room.onLeave((key, after, left) => events.push(["leave", key, !!after, left.map((m) => m.ref)]));
        room.onSync((members) => events.push(["sync", members.map((m) => m.key)]));
        const send = (frame) => bridge.socket.send(JSON.stringify(frame));
        bridge.socket.addEventListener("open", () => {
            send({presence: "room", ttl: 60, state: {ann: {metas: [{user: "ann", ref: "a1"}]}}});
            send({presence: "room", joins: {bob: {metas: [{user: "bob", ref: "b1"}]}}, leaves: {}});
            send({presence: "room", joins: {bob: {metas: [{user: "bob", ref: "b1"}]}}, leaves: {}});
            send({presence: "room", joins: {ann: {metas: [{user: "ann", ref: "a2"}]}}, leaves: {}});
            send({presence: "room", joins: {}, leaves: {ann: {metas: [{user: "ann", ref: "a1"}]}}});
            send({presence: "other", joins: {eve: {metas: [{ref: "e1"}]}}, leaves: {}});
            send({presence: "room", joins: {}, leaves: {bob: {metas: [{user: "bob", ref: "b1"}]}}});
        });
        bridge.listen((msg) => received.push(msg));
        """
    )
    wait_for(page, "events.filter((e) => e[0] === 'sync').length === 6")
    events = page.execute_script("return events")
    assert events == [
        ["sync", ["ann"]],
        ["join", "bob", False, ["b1"]],
        ["sync", ["ann", "bob"]],
        ["sync", ["ann", "bob"]],  # a join already known changes nothing
        ["join", "ann", True, ["a2"]],  # a second socket of ann
        ["sync", ["ann", "bob"]],
        ["leave", "ann", True, ["a1"]],  # ann is still there on a2
        ["sync", ["ann", "bob"]],
        ["leave", "bob", False, ["b1"]],
        ["sync", ["ann"]],
    ]
    assert page.execute_script("return bridge.presence('room').list()") == [
        {"key": "ann", "metas": [{"user": "ann", "ref": "a2"}]}
    ]
    assert page.execute_script("return received") == []  # presence frames are not messages


def test_the_bridge_sends_heartbeats_every_third_of_the_ttl(page, echo_server):
    heartbeat = {"presence": "beat", "heartbeat": True}
    before = sent_frames(echo_server).count(heartbeat)
    page.execute_script(
        """
        window.bridge = new channels.WebSocketBridge();
        bridge.connect("/ws/heartbeat/");
        bridge.presence("beat");
        bridge.socket.addEventListener("open", () => bridge.socket.send(
            JSON.stringify({presence: "beat", ttl: 3, state: {}})));
        """
    )
    started = time.monotonic()
    while sent_frames(echo_server).count(heartbeat) - before < 2:
        assert time.monotonic() - started < 10, "fewer than two heartbeats in 10 s"
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    assert 1.5 < elapsed < 4  # ttl 3 s: one each second, the first a second after the state


def test_a_frame_asking_for_an_ack_is_acked_and_delivered_as_its_payload(page, echo_server):
    page.execute_script(
        """
        window.bridge = new channels.WebSocketBridge();
        bridge.connect("/ws/acks/");
        bridge.listen((msg, stream) => received.push(["default", msg]));
        bridge.demultiplex("news", (payload, stream) => received.push([stream, payload]));
        bridge.socket.addEventListener("open", () => {
            bridge.socket.send(JSON.stringify({payload: {n: 1}, ack_request: "plain1"}));
            bridge.socket.send(JSON.stringify({stream: "news", payload: {n: 2}, ack_request: "news1"}));
        });
        """
    )
    received = wait_for(page, "received.filter((r) => r[1] && r[1].n).length === 2 && received")
    assert [r for r in received if "n" in (r[1] or {})] == [
        ["default", {"n": 1}],
        ["news", {"n": 2}],
    ]
    wait_for(page, "true")
    frames = sent_frames(echo_server)
    assert {"ack": "plain1"} in frames
    assert {"ack": "news1"} in frames


def test_send_with_ack_resolves_with_the_reply_or_rejects_on_error_and_timeout(page, echo_server):
    page.execute_script(
        """
        window.bridge = new channels.WebSocketBridge();
        bridge.connect("/ws/requests/");
        bridge.listen(() => {});
        """
        + ANSWER_REQUESTS
        + """
        const settle = (name, promise) => promise.then(
            (value) => events.push([name, "resolved", value]),
            (error) => events.push([name, "rejected", error.message]));
        settle("plain", bridge.send({n: 1}, {ack: true}));
        settle("stream", bridge.stream("chat").send({n: 2}, {ack: true}));
        settle("error", bridge.send({fail: true}, {ack: true}));
        settle("timeout", bridge.send({silent: true}, {ack: true, timeout: 300}));
        """
    )
    events = wait_for(page, "events.length === 4 && events")
    by_name = {name: (outcome, value) for name, outcome, value in events}
    assert by_name["plain"] == ("resolved", {"echo": {"n": 1}})
    assert by_name["stream"] == ("resolved", {"echo": {"n": 2}})
    assert by_name["error"] == ("rejected", "refused")
    assert by_name["timeout"][0] == "rejected"
    assert "within 300 ms" in by_name["timeout"][1]
    requests = [f for f in sent_frames(echo_server) if "request" in f]
    stream_request = next(f for f in requests if f["payload"] == {"n": 2})
    assert stream_request["stream"] == "chat"
