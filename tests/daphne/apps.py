"""A tiny ASGI 1 application for daphne's integration tests.

It speaks to the layer directly (no Django): the same ``EchoApp`` runs in a
thread beside an in-memory daphne (``serve_inmemory``) and in a separate
worker process on Redis (``worker_process``). What it does depends on the
path, so each test picks a behaviour by URL.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from typing import Any

from asgi import www

CHANNELS = [
    "http.request",
    "http.disconnect",
    "websocket.connect",
    "websocket.receive",
    "websocket.disconnect",
]


class EchoApp:
    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.events: list[dict] = []
        self.lock = threading.Lock()

    def serve(self, stop: threading.Event, channels: list[str] = CHANNELS) -> None:
        while not stop.is_set():
            try:
                channel, message = self.layer.receive(channels, block=True)
            except Exception as exc:  # noqa: BLE001 - a layer outage: ride it out, as runworker does
                print(f"receive error: {exc!r}", flush=True)
                stop.wait(0.2)
                continue
            if channel is None:
                continue
            try:
                getattr(self, channel.replace(".", "_"))(message)
            except Exception as exc:  # noqa: BLE001 - keep serving; tests see the missing reply
                print(f"app error on {channel}: {exc!r}", flush=True)

    def record(self, kind: str, message: dict) -> None:
        event = {"kind": kind, **{k: v for k, v in message.items() if isinstance(v, str | int)}}
        with self.lock:
            self.events.append(event)
        print("EVENT " + json.dumps(event), flush=True)

    def send_patiently(self, message: dict, response: dict, patience: float = 10) -> bool:
        """Send, waiting while the reply channel is full; False if it stays full."""
        deadline = time.monotonic() + patience
        while time.monotonic() < deadline:
            try:
                self.reply(message, response)
                return True
            except self.layer.ChannelFull:
                time.sleep(0.01)
        return False

    def reply(self, message: dict, response: dict) -> None:
        self.layer.send(message["reply_channel"], response)

    # -- HTTP ----------------------------------------------------------------------

    def http_request(self, message: dict) -> None:
        """Answer by path: the first behaviour whose suffix ends the path, else the echo."""
        path = message["path"]
        if path == "/trivial":
            self.reply(message, www.http_response(200, [(b"content-type", b"text/plain")], b"OK"))
            return
        for suffix, behaviour in self.HTTP_BEHAVIOURS:
            if path.endswith(suffix):
                getattr(self, behaviour)(message)
                return
        self.http_echo(message)

    #: Path suffix -> the method that answers such a request.
    HTTP_BEHAVIOURS = (
        ("/silent", "http_silent"),
        ("/invalid", "http_invalid"),
        ("/stream", "http_stream"),
        ("/flood", "http_flood"),
        ("/paced-stream", "http_paced_stream"),
        ("/slow", "http_slow"),
        ("/events", "http_events"),
    )

    def http_silent(self, message: dict) -> None:
        self.record("http.request", message)

    def http_invalid(self, message: dict) -> None:
        self.reply(message, {"status": "not a number"})

    def http_stream(self, message: dict) -> None:
        for index in range(3):
            self.reply(
                message,
                www.http_response(
                    200,
                    [(b"content-type", b"text/plain")],
                    b"chunk%d\n" % index,
                    more_content=True,
                )
                if index == 0
                else www.http_response_chunk(b"chunk%d\n" % index, more_content=True),
            )
            time.sleep(0.05)
        self.reply(message, www.http_response_chunk(b"end\n"))

    def http_flood(self, message: dict) -> None:
        self.send_patiently(message, www.http_response(200, more_content=True))
        for _ in range(150):
            chunk = www.http_response_chunk(b"x" * 131072, more_content=True)
            if not self.send_patiently(message, chunk):
                return
        self.send_patiently(message, www.http_response_chunk(b""))

    def http_paced_stream(self, message: dict) -> None:
        # ?mb=N megabytes in 128 KB chunks, paced
        megabytes = int(message["query_string"].decode().partition("mb=")[2] or 1)
        self.send_patiently(message, www.http_response(200, more_content=True))
        for _ in range(megabytes * 8):
            chunk = www.http_response_chunk(b"x" * 131072, more_content=True)
            if not self.send_patiently(message, chunk, patience=60):
                return
            time.sleep(0.004)  # ~30 MB/s: a client in Python keeps up
        self.send_patiently(message, www.http_response_chunk(b""))

    def http_slow(self, message: dict) -> None:
        self.record("http.request", message)

        def later() -> None:
            time.sleep(1.0)
            self.reply(message, www.http_response(200, [], b"slow done"))

        threading.Thread(target=later, daemon=True).start()

    def http_events(self, message: dict) -> None:
        with self.lock:
            body = json.dumps(self.events).encode()
        self.reply(message, www.http_response(200, [(b"content-type", b"application/json")], body))

    def http_echo(self, message: dict) -> None:
        """Reply with a JSON report of the request, reading a streamed body to its end."""
        path = message["path"]
        body = message.get("body", b"")
        digest = hashlib.sha256(body)
        chunks = streamed = 0
        if message.get("body_channel"):
            while True:
                channel, chunk = self.layer.receive([message["body_channel"]], block=True)
                if channel is None:
                    continue
                if chunk.get("closed"):
                    return
                chunks += 1
                digest.update(chunk.get("content", b""))
                streamed += len(chunk.get("content", b""))
                if not chunk.get("more_content"):
                    break
        report = {
            "method": message["method"],
            "path": path,
            "query_string": message["query_string"].decode("latin-1"),
            "root_path": message.get("root_path", ""),
            "scheme": message.get("scheme", "http"),
            "http_version": message["http_version"],
            "headers": [[n.decode("latin-1"), v.decode("latin-1")] for n, v in message["headers"]],
            "client": message.get("client"),
            "server": message.get("server"),
            "body_length": len(message.get("body", b"")) + streamed,
            "body_sha256": digest.hexdigest(),
            "body_chunks": chunks,
            "body_channel": message.get("body_channel"),
        }
        self.reply(
            message,
            www.http_response(
                200,
                [
                    (b"content-type", b"application/json"),
                    (b"set-cookie", b"a=1"),
                    (b"set-cookie", b"b=2"),
                ],
                json.dumps(report).encode(),
            ),
        )

    def http_disconnect(self, message: dict) -> None:
        self.record("http.disconnect", message)

    # -- WebSocket -----------------------------------------------------------------

    def websocket_connect(self, message: dict) -> None:
        self.record("websocket.connect", message)
        path = message["path"]
        if path.endswith("/silent"):
            return
        if path.endswith("/reject"):
            self.reply(message, {"accept": False})
        elif path.endswith("/close"):
            self.reply(message, {"close": True})
        elif path.endswith("/hello"):
            self.reply(message, {"text": "hello"})
        else:
            self.reply(message, {"accept": True})
        if path.endswith("/info"):
            info = {
                k: (v.decode("latin-1") if isinstance(v, bytes) else v)
                for k, v in message.items()
                if k != "headers"
            }
            self.reply(message, {"text": json.dumps(info)})

    def websocket_receive(self, message: dict) -> None:
        text = message.get("text")
        if text == "close":
            self.reply(message, {"close": 4000})
        elif text == "empty-text":
            self.reply(message, {"text": ""})
        elif text == "empty-bytes":
            self.reply(message, {"bytes": b""})
        elif text is not None and text.startswith("flood:"):
            _, size, count = text.split(":")
            for _ in range(int(count)):
                if not self.send_patiently(message, {"bytes": b"x" * int(size)}):
                    break
        elif text is not None:
            self.reply(message, {"text": text})
        else:
            self.reply(message, {"bytes": message["bytes"]})

    def websocket_disconnect(self, message: dict) -> None:
        self.record("websocket.disconnect", message)
        # a slow consumer, for the shutdown drain tests
        time.sleep(float(os.environ.get("DAPHNE_TEST_DISCONNECT_DELAY", "0")))
