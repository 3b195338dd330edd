"""The life of one HTTP request/response exchange, sans-IO.

See docs/asgi/www.rst, "HTTP", and docs/topics/daphne.rst, "Responses".

``ResponseState`` is the explicit state machine for the reply side::

    AWAITING --status--> STREAMING --more_content False--> DONE
        |                    |
        +---- client gone ---+--> CLIENT_GONE      (http.disconnect is due)
        +---- timeout / invalid reply ------------> DONE (503 / 500 written)

It is strict, as h11 is: each event is either expected in the current
phase (it acts, or deliberately ignores it) or raises
``ProtocolStateError`` naming the event and the phase:

=============== ======== ========= ======= ===========
event           AWAITING STREAMING DONE    CLIENT_GONE
=============== ======== ========= ======= ===========
``reply``       starts   writes    ignored ignored
``fail``        True     False     False   False
``timed_out``   True     False     raises  raises
``client_gone`` True     True      False   raises
=============== ======== ========= ======= ===========

The ignored cells and the False ones are the races of a live server: a late
reply from the application, a body upload that fails after the response
was written, a streaming response outliving the response timeout. The
raising cells cannot happen while the request class keeps its side of the
contract: the response deadline is dropped when the exchange ends, and a
connection is lost once.

``RequestBody`` cuts a received body into the inline ``body`` and the chunks
for the ``http.request.body?`` channel. ``error_page`` builds the small HTML
error responses. The Twisted request class in ``http_protocol`` only calls
these and moves bytes.
"""

from __future__ import annotations

import enum
import html
from dataclasses import dataclass
from typing import IO, Any

from asgi import www
from asgi.exceptions import InvalidMessage

from .exceptions import IllegalTransition, InvalidReply, ProtocolStateError

__all__ = [
    "Finish",
    "RequestBody",
    "ResponseState",
    "Start",
    "Write",
    "error_page",
]

STATUS_PHRASES = {
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    413: "Payload Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class Phase(enum.Enum):
    AWAITING = "awaiting response"
    STREAMING = "streaming response"
    DONE = "done"
    CLIENT_GONE = "client gone"


@dataclass(frozen=True)
class Start:
    """Write the status line and headers."""

    status: int
    headers: list[tuple[bytes, bytes]]


@dataclass(frozen=True)
class Write:
    """Write body bytes (possibly empty, which writes nothing)."""

    data: bytes


@dataclass(frozen=True)
class Finish:
    """The response is complete."""


Action = Start | Write | Finish


def _header_pairs(headers: Any) -> list[tuple[bytes, bytes]]:
    pairs = []
    for item in headers:
        if not isinstance(item, list | tuple) or len(item) != 2:
            raise InvalidReply(f"response header must be a [name, value] pair, got {item!r}")
        name, value = item
        # str names/values: a legacy shim of 1.x, encoded latin-1
        if isinstance(name, str):
            name = name.encode("latin-1")
        if isinstance(value, str):
            value = value.encode("latin-1")
        if not isinstance(name, bytes) or not isinstance(value, bytes):
            raise InvalidReply(f"response header name and value must be bytes, got {item!r}")
        if (
            not name
            or b":" in name
            or b"\r" in name
            or b"\n" in name
            or b"\r" in value
            or b"\n" in value
        ):
            raise InvalidReply(f"response header {item!r} has characters HTTP forbids")
        pairs.append((name, value))
    return pairs


class ResponseState:
    """Decides what each reply message means for the socket.

    Its fields are read-only: only the events below change them.
    """

    __slots__ = ("_bytes_sent", "_phase", "_status")

    def __init__(self) -> None:
        self._phase = Phase.AWAITING
        self._status: int | None = None
        self._bytes_sent = 0

    @property
    def phase(self) -> Phase:
        """Where the exchange is (see the module's table)."""
        return self._phase

    @property
    def status(self) -> int | None:
        """The status written or being written (the application's, or an
        error page's); None while awaiting the response."""
        return self._status

    @property
    def bytes_sent(self) -> int:
        """Body bytes of the application's response handed out to write."""
        return self._bytes_sent

    @property
    def started(self) -> bool:
        """A status line went (or is going) out: the application's, or an
        error page's (``fail`` returned True)."""
        return self._phase is Phase.STREAMING or (
            self._phase is Phase.DONE and self._status is not None
        )

    @property
    def finished(self) -> bool:
        """Nothing more will be written: the response is complete or the client left."""
        return self._phase is Phase.DONE or self._phase is Phase.CLIENT_GONE

    def reply(self, message: Any) -> list[Action]:
        """Actions for one message from the reply channel.

        Raises ``InvalidReply`` for a malformed message (the caller answers
        500 if ``started`` is False, else drops the connection). Messages
        after the response completed are ignored (an empty list).
        """
        if self._phase is Phase.AWAITING:
            if not isinstance(message, dict) or "status" not in message:
                raise InvalidReply("the first response message must have a 'status' key")
            try:
                www.validate("http.response", message)
            except InvalidMessage as exc:
                raise InvalidReply(str(exc)) from None
            status = message["status"]
            if not 100 <= status <= 999:
                raise InvalidReply(f"response status must be 100-999, got {status}")
            headers = _header_pairs(message.get("headers", []))
            self._status = status
            actions: list[Action] = [Start(status, headers)]
        elif self._phase is Phase.STREAMING:
            if isinstance(message, dict) and "status" in message:
                raise InvalidReply("got a second 'status' for a response already started")
            try:
                www.validate("http.response.chunk", message)
            except InvalidMessage as exc:
                raise InvalidReply(str(exc)) from None
            actions = []
        else:
            return []
        # both are optional: no content writes nothing, no more_content ends it
        content = message.get("content")
        if content:
            actions.append(Write(content))
            self._bytes_sent += len(content)
        if message.get("more_content"):
            self._phase = Phase.STREAMING
        else:
            self._phase = Phase.DONE
            actions.append(Finish())
        return actions

    def fail(self, status: int) -> bool:
        """Answer with an error page instead; True if one can still be written.

        A response already started is cut off (False); one already over
        stays as it is (False).
        """
        if self._phase is not Phase.AWAITING:
            if self._phase is Phase.STREAMING:
                self._phase = Phase.DONE
            return False
        self._phase = Phase.DONE
        self._status = status
        return True

    def timed_out(self) -> bool:
        """The http timeout fired: True if a 503 should be written now.

        Only a response that has not started times out; a streaming response
        (long-poll, server-sent events) runs as long as the app keeps it open.
        Once the exchange is over its deadline is gone, so the timeout
        cannot fire then.
        """
        if self._phase is Phase.AWAITING:
            return self.fail(503)
        if self._phase is Phase.STREAMING:
            return False
        raise ProtocolStateError("ResponseState", self._phase, "timed_out")

    def client_gone(self) -> bool:
        """The client closed the connection: True if ``http.disconnect`` is due."""
        if self._phase is Phase.AWAITING or self._phase is Phase.STREAMING:
            self._phase = Phase.CLIENT_GONE
            return True
        if self._phase is Phase.CLIENT_GONE:
            raise ProtocolStateError("ResponseState", self._phase, "client_gone")
        return False


def error_page(status: int, detail: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """A small HTML error response with a "Daphne" footer."""
    phrase = STATUS_PHRASES.get(status, "Error")
    body = (
        f"<html><head><title>{status} {html.escape(phrase)}</title></head><body>"
        f"<h1>{html.escape(phrase)}</h1><p>{html.escape(detail)}</p><footer>Daphne</footer></body></html>"
    )
    data = body.encode("utf-8")
    headers = [
        (b"Content-Type", b"text/html; charset=utf-8"),
        (b"Content-Length", str(len(data)).encode("ascii")),
    ]
    return status, headers, data


class RequestBody:
    """A received body, cut for the layer.

    Bodies up to ``inline_limit`` bytes go whole in ``http.request``'s
    ``body``. Larger ones put the first ``chunk_size`` bytes in ``body`` and
    the rest, ``chunk_size`` at a time, on a ``http.request.body?`` channel:
    each chunk but the last has ``more_content`` True.
    """

    def __init__(self, content: IO[bytes], length: int, inline_limit: int, chunk_size: int):
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        self.content = content
        self.length = length
        # a streamed body always leaves at least one chunk for the body channel
        self.streamed = length > max(inline_limit, chunk_size)
        self.chunk_size = chunk_size
        self.position = 0

    def first(self) -> bytes:
        """The inline ``body`` of ``http.request``."""
        data = self.content.read(self.chunk_size if self.streamed else self.length)
        self.position += len(data)
        return data

    @property
    def remaining(self) -> int:
        return self.length - self.position if self.streamed else 0

    def next_chunk(self) -> dict[str, Any] | None:
        """The next body-channel message, or None once all were produced."""
        if not self.remaining:
            return None
        data = self.content.read(min(self.chunk_size, self.remaining))
        if not data:
            raise IllegalTransition("RequestBody", f"at {self.position}/{self.length}", "read")
        self.position += len(data)
        return www.http_request_body_chunk(data, more_content=self.remaining > 0)
