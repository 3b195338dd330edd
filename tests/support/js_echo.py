"""A WebSocket echo server serving the JavaScript bridge's test page, for the
browser tests of ``channels/static/channels/js/websocketbridge.js``.

A small real WebSocket server (the ``websockets`` library) serves a page that
loads the bridge and echoes frames back, so that the tests pin the bridge's
own behaviour in real Chromium.
"""

from __future__ import annotations

import threading
from pathlib import Path

from websockets.datastructures import Headers
from websockets.http11 import Response
from websockets.sync.server import serve

__all__ = ["BRIDGE_JS", "PAGE", "EchoServer"]

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
