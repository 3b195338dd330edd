"""The JavaScript WebSocketBridge in real headless Chromium.

A small real WebSocket server (the ``websockets`` library) serves a test page
and echoes frames back, so these tests pin the bridge's own behaviour:
URL resolution, listening, (de)multiplexing, and reconnection with a send
queue. The end-to-end tests against daphne live with the live-server tests.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from websockets.datastructures import Headers
from websockets.http11 import Response
from websockets.sync.server import serve

from tests.support.browser import start_chromium

pytestmark = pytest.mark.integration

BRIDGE_JS = Path(__file__).resolve().parents[2] / "channels/static/channels/js/websocketbridge.js"

PAGE = """<!doctype html><html><head><meta charset="utf-8">
<script src="/websocketbridge.js"></script></head><body>
<script>
window.received = [];
window.events = [];
</script></body></html>"""


class EchoServer:
    """Serves the page and the script over HTTP, and echoes WebSocket frames.

    ``drop_all()`` closes every open connection from the server side, as a
    restarting server would.
    """

    def __init__(self) -> None:
        self.connections: set = set()
        self.frames: list[str] = []
        self.connect_count = 0
        self.lock = threading.Lock()
        self.server = serve(self.handler, "127.0.0.1", 0, process_request=self.process_request)
        self.port = self.server.socket.getsockname()[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def process_request(self, connection, request):
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return None
        if request.path == "/websocketbridge.js":
            body, kind = BRIDGE_JS.read_bytes(), "application/javascript"
        else:
            body, kind = PAGE.encode(), "text/html; charset=utf-8"
        headers = Headers([("Content-Type", kind), ("Content-Length", str(len(body)))])
        return Response(200, "OK", headers, body)

    def handler(self, connection) -> None:
        with self.lock:
            self.connections.add(connection)
            self.connect_count += 1
        try:
            for frame in connection:
                with self.lock:
                    self.frames.append(frame)
                connection.send(frame)
        finally:
            with self.lock:
                self.connections.discard(connection)

    def drop_all(self) -> None:
        with self.lock:
            connections = list(self.connections)
        for connection in connections:
            connection.close(1012, "restarting")

    def stop(self) -> None:
        self.server.shutdown()


@pytest.fixture(scope="module")
def echo_server():
    server = EchoServer()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    driver = start_chromium()
    yield driver
    driver.quit()


@pytest.fixture
def page(browser, echo_server):
    browser.get(f"http://127.0.0.1:{echo_server.port}/")
    return browser


def wait_for(driver, script: str, timeout: float = 10.0):
    """Poll a JavaScript expression in the page until it is truthy; return it."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(
        lambda d: d.execute_script("return " + script)
    )


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
