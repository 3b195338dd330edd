"""A local stand-in for Slack's Web API, and a signed Events API client.

:class:`FakeSlackAPI` is a real HTTP server on 127.0.0.1 (a thread of its
own) that records every call it gets (method path, headers, JSON body) and
answers from a script: by default ``{"ok": true}``, or the answers queued
with :meth:`FakeSlackAPI.answer` (a ``429`` with ``Retry-After``, an
``ok: false``, ...). :func:`signed_headers` signs a body the way Slack
does, computed here from Slack's documented recipe rather than with the
server's own code.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy"


def signed_headers(body: bytes, secret: str = SIGNING_SECRET, at: float | None = None) -> dict:
    """The two signature headers Slack would send with ``body`` at time ``at``."""
    timestamp = str(int(time.time() if at is None else at))
    base = b"v0:" + timestamp.encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": "v0=" + digest,
        "Content-Type": "application/json",
    }


def message_event(
    text: str,
    *,
    event_id: str = "Ev0001",
    channel: str = "C0GENERAL",
    user: str = "U0ERIC",
    ts: str = "1700000000.000100",
    **event: Any,
) -> bytes:
    """An ``event_callback`` body for a ``message`` event, as Slack posts it."""
    inner = {"type": "message", "channel": channel, "user": user, "text": text, "ts": ts}
    inner.update(event)
    inner.setdefault("team", "T0TEAM")
    return json.dumps(
        {
            "token": "legacy-verification-token",
            "team_id": "T0TEAM",
            "api_app_id": "A0APP",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": 1700000000,
            "event": inner,
        }
    ).encode()


@dataclass
class Call:
    path: str
    headers: dict[str, str]
    body: dict
    at: float


class FakeSlackAPI:
    """See the module docstring. ``base`` is the ``--api-base`` to give daphne-slack."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._answers: list[tuple[int, dict[str, str], bytes]] = []
        self._lock = threading.Condition()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as slack.com

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"unreadable": raw.decode("latin-1")}
                status, headers, answer = api._record(
                    Call(self.path, dict(self.headers.items()), body, time.monotonic())
                )
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}/api/"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> FakeSlackAPI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def answer(self, status: int = 200, body: dict | None = None, **headers: str) -> None:
        """Queue the answer to the next call (``Retry_After="1"`` sets ``Retry-After``)."""
        payload = json.dumps(body if body is not None else {"ok": True}).encode()
        names = {name.replace("_", "-"): value for name, value in headers.items()}
        with self._lock:
            self._answers.append((status, names, payload))

    def _record(self, call: Call) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.calls.append(call)
            self._lock.notify_all()
            if self._answers:
                return self._answers.pop(0)
        return 200, {}, json.dumps({"ok": True, "ts": "1700000001.000200"}).encode()

    def wait_for_calls(self, count: int, timeout: float = 15.0) -> list[Call]:
        """Block until at least ``count`` calls were made; return them all."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.calls) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"the Slack stand-in got {len(self.calls)} calls, expected {count}"
                    )
                self._lock.wait(remaining)
            return list(self.calls)
