"""The JavaScript WebSocketBridge in real headless Chromium.

A small real WebSocket server (the ``websockets`` library) serves a test page
and echoes frames back, so these tests pin the bridge's own behaviour:
URL resolution, listening, (de)multiplexing, and reconnection with a send
queue. The end-to-end tests against daphne live with the live-server tests.
"""

from __future__ import annotations

import json

import pytest

from tests.support.browser import wait_for

pytestmark = pytest.mark.integration


def test_connect_with_a_relative_url_uses_this_host_and_echo_reaches_listen(page, echo_server):
    page.execute_script(
        """
        window.bridge = new channels.WebSocketBridge();
        bridge.connect("/ws/echo/");
        bridge.listen((msg, stream) => received.push({msg: msg, stream: stream}));
        bridge.socket.addEventListener("open", () => bridge.send({hello: "world"}));
        """
    )
    received = wait_for(page, "received.length > 0 && received")
    assert received == [{"msg": {"hello": "world"}, "stream": None}]
    url = page.execute_script("return bridge.socket.url")
    assert url == f"ws://127.0.0.1:{echo_server.port}/ws/echo/"


def test_connect_without_url_uses_the_page_host(page, echo_server):
    url = page.execute_script(
        "window.bridge = new channels.WebSocketBridge(); bridge.connect(); return bridge.socket.url"
    )
    assert url == f"ws://127.0.0.1:{echo_server.port}/"


def test_stream_send_multiplexes_and_demultiplex_routes_by_stream(page, echo_server):
    page.execute_script(
        """
        window.bridge = new channels.WebSocketBridge();
        bridge.connect("/ws/mux/");
        bridge.listen((msg) => received.push(["default", msg]));
        bridge.demultiplex("intval", (payload, stream) => received.push([stream, payload]));
        bridge.socket.addEventListener("open", () => {
            bridge.stream("intval").send({action: "update", pk: 1});
            bridge.stream("unregistered").send({ignored: true});
            bridge.send({plain: 1});
        });
        """
    )
    received = wait_for(page, "received.length >= 2 && received")
    assert received == [["intval", {"action": "update", "pk": 1}], ["default", {"plain": 1}]]
    sent = [json.loads(frame) for frame in echo_server.frames[-3:]]
    assert sent[0] == {"stream": "intval", "payload": {"action": "update", "pk": 1}}
    assert sent[1] == {"stream": "unregistered", "payload": {"ignored": True}}


def test_it_reconnects_after_the_server_drops_it_and_flushes_queued_messages(page, echo_server):
    page.execute_script(
        """
        window.bridge = new channels.WebSocketBridge({minReconnectionDelay: 100});
        bridge.connect("/ws/echo/");
        bridge.listen((msg) => received.push(msg));
        bridge.socket.addEventListener("open", () => events.push("open"));
        bridge.socket.addEventListener("close", () => {
            events.push("close");
            if (events.filter((e) => e === "close").length === 1) {
                bridge.send({queued: 1});
                bridge.send({queued: 2});
            }
        });
        """
    )
    wait_for(page, "events.includes('open')")
    connects_before = echo_server.connect_count
    echo_server.drop_all()
    events = wait_for(page, "events.filter((e) => e === 'open').length >= 2 && events")
    assert events[:3] == ["open", "close", "open"]
    received = wait_for(page, "received.length >= 2 && received")
    assert received == [{"queued": 1}, {"queued": 2}]
    assert echo_server.connect_count == connects_before + 1


def test_close_stops_reconnection(page, echo_server):
    page.execute_script(
        """
        window.bridge = new channels.WebSocketBridge({minReconnectionDelay: 50});
        bridge.connect("/ws/echo/");
        bridge.socket.addEventListener("open", () => { events.push("open"); bridge.socket.close(); });
        bridge.socket.addEventListener("close", () => events.push("close"));
        """
    )
    wait_for(page, "events.includes('close')")
    page.execute_script("return new Promise((resolve) => setTimeout(resolve, 500))")
    assert page.execute_script("return events") == ["open", "close"]
    assert page.execute_script("return bridge.socket.readyState") == 3


def test_frames_that_are_not_json_are_ignored(page, echo_server):
    page.execute_script(
        """
        window.bridge = new channels.WebSocketBridge();
        bridge.connect("/ws/echo/");
        bridge.listen((msg) => received.push(msg));
        bridge.socket.addEventListener("open", () => {
            bridge.socket.send("not json");
            bridge.send({after: true});
        });
        """
    )
    assert wait_for(page, "received.length > 0 && received") == [{"after": True}]
