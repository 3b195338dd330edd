"""The Events API endpoint: a Twisted web resource answering Slack's callbacks.

Every request is answered on the reactor thread at once, well within
Slack's three-second limit, and before anything is sent to the channel
layer:

- 401 when the signature headers are missing, the timestamp is more than
  five minutes away, or the signature does not match;
- 400 for a body that is not an Events API callback, 413 for one larger
  than ``max_body``, 404 for another path, 405 for another method;
- 200 with ``{"challenge": ...}`` for the ``url_verification`` handshake;
- 200 (empty) for every other callback. A ``message`` or ``app_mention``
  event written by a person is then handed to ``deliver`` (which sends it
  to ``slack.receive`` off the reactor thread), unless its ``event_id`` was
  seen recently: Slack's retries (``X-Slack-Retry-Num``) are acknowledged
  and dropped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from twisted.web import resource, server

from ._dedup import RecentEvents
from ._events import BadCallback, Challenge, Event, read_callback
from ._signature import SignatureError, verify_signature

__all__ = ["EventsResource"]

logger = logging.getLogger(__name__)

#: Slack's callbacks are small; anything past this is refused with 413.
DEFAULT_MAX_BODY = 1_000_000


class EventsResource(resource.Resource):
    """Answers ``POST <path>``; see the module docstring."""

    isLeaf = True

    def __init__(
        self,
        signing_secret: str,
        deliver: Callable[[dict], None],
        *,
        clock: Callable[[], float],
        path: str = "/slack/events",
        recent: RecentEvents | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        tolerance: float = 300.0,
    ) -> None:
        super().__init__()
        if not signing_secret:
            raise ValueError("a Slack signing secret is needed (SLACK_SIGNING_SECRET)")
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/', got {path!r}")
        self._secret = signing_secret.encode("utf-8")
        self.deliver = deliver
        self.clock = clock
        self.path = path.encode("utf-8")
        self.recent = recent if recent is not None else RecentEvents(clock)
        self.max_body = max_body
        self.tolerance = tolerance
        #: Counters: events passed on, retries dropped, requests refused with 401.
        self.delivered = 0
        self.duplicates = 0
        self.refused = 0

    def __repr__(self) -> str:  # never the secret
        return f"<EventsResource {self.path.decode()}>"

    def render(self, request: Any) -> bytes:
        if request.path != self.path:
            path = self.path.decode()
            return _answer(request, 404, f"Not found: Slack events are posted to {path}")
        if request.method != b"POST":
            request.setHeader(b"allow", b"POST")
            return _answer(request, 405, "Slack events are sent with POST")
        return self.render_POST(request)

    def render_POST(self, request: Any) -> Any:
        body = request.content.read(self.max_body + 1)
        if len(body) > self.max_body:
            return _answer(request, 413, f"The body is larger than {self.max_body} bytes")
        timestamp = _header(request, b"x-slack-request-timestamp")
        sent = _header(request, b"x-slack-signature")
        try:
            verify_signature(self._secret, timestamp, sent, body, self.clock(), self.tolerance)
        except SignatureError as exc:
            self.refused += 1
            logger.warning("Refused a request from %s: %s", _peer(request), exc)
            return _answer(request, 401, f"Not signed by Slack: {exc}")
        try:
            callback = read_callback(body)
        except BadCallback as exc:
            return _answer(request, 400, str(exc))
        if isinstance(callback, Challenge):
            request.setHeader(b"content-type", b"application/json")
            return json.dumps({"challenge": callback.challenge}).encode("utf-8")
        if callback.event_id is not None and not self.recent.first_time(callback.event_id):
            self.duplicates += 1
            logger.info(
                "Dropped Slack's retry %s of event %s (%s)",
                _header(request, b"x-slack-retry-num") or "?",
                callback.event_id,
                _header(request, b"x-slack-retry-reason") or "no reason given",
            )
            return _acknowledge(request)
        if not isinstance(callback, Event):
            logger.debug("Acknowledged and ignored %s (%s)", callback.event_id, callback.reason)
            return _acknowledge(request)
        # 200 first: Slack's clock runs, and the layer may be slow or full.
        _acknowledge(request)
        self.delivered += 1
        self.deliver(callback.message)
        return server.NOT_DONE_YET


def _acknowledge(request: Any) -> Any:
    request.setResponseCode(200)
    request.setHeader(b"content-length", b"0")
    request.finish()
    return server.NOT_DONE_YET


def _answer(request: Any, code: int, text: str) -> bytes:
    request.setResponseCode(code)
    request.setHeader(b"content-type", b"text/plain; charset=utf-8")
    return (text + "\n").encode("utf-8")


def _header(request: Any, name: bytes) -> str | None:
    value = request.getHeader(name)
    if value is None:
        return None
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _peer(request: Any) -> str:
    address = request.getClientAddress()
    return getattr(address, "host", None) or str(address)
