"""The life of one WebSocket connection, sans-IO.

See docs/asgi/www.rst, "WebSocket".

``WebSocketState`` is the explicit state machine::

    CONNECTING --accept / data--> OPEN --close--> CLOSING --socket closed--> CLOSED
        |                          |                                          ^
        +--reject / close / timeout / connect not sent--> REJECTED -------socket closed-----------+

It turns reply messages (Send/Close/Accept) into actions for the Autobahn
protocol, counts ``order`` for ``websocket.receive`` / ``websocket.disconnect``
and makes sure exactly one disconnect is reported per connection, whatever
closed it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from asgi import www
from asgi.exceptions import InvalidMessage

from .exceptions import IllegalTransition, InvalidReply

__all__ = ["Accept", "Close", "Phase", "Reject", "Send", "WebSocketState"]

#: Close code reported when the socket ended without a close frame.
ABNORMAL_CLOSURE = 1006


class Phase(enum.Enum):
    CONNECTING = "connecting"
    OPEN = "open"
    CLOSING = "closing"
    REJECTED = "rejected"
    CLOSED = "closed"


@dataclass(frozen=True)
class Accept:
    """Complete the handshake (101)."""


@dataclass(frozen=True)
class Reject:
    """Refuse the handshake with this HTTP status."""

    status: int
    reason: str


@dataclass(frozen=True)
class Send:
    """Send one frame: str is a text frame, bytes a binary frame (empty allowed)."""

    data: str | bytes


@dataclass(frozen=True)
class Close:
    """Send a close frame with this code."""

    code: int


Action = Accept | Reject | Send | Close


class WebSocketState:
    """Decides what replies and socket events mean for one connection."""

    def __init__(self) -> None:
        self.phase = Phase.CONNECTING
        self.received = 0
        self.disconnect_reported = False
        self.close_code: int | None = None

    # -- replies from the application ------------------------------------------

    def reply(self, message: Any) -> list[Action]:
        """Actions for one Send/Close/Accept message; ``InvalidReply`` if malformed."""
        try:
            parsed = www.parse_websocket_reply(message)
        except InvalidMessage as exc:
            raise InvalidReply(str(exc)) from None
        if self.phase is Phase.CONNECTING:
            if parsed.accept is False:
                return self._reject(403, "Access denied")
            if parsed.accept is True or parsed.data is not None:
                self.phase = Phase.OPEN
                return [Accept(), *self._send_and_close(parsed.data, parsed.close)]
            if parsed.close is not None:
                return self._reject(403, "Access denied")
            return []
        if self.phase is Phase.OPEN:
            return self._send_and_close(parsed.data, parsed.close)
        return []

    def _send_and_close(self, data: str | bytes | None, close: int | None) -> list[Action]:
        actions: list[Action] = []
        if data is not None:
            actions.append(Send(data))
        if close is not None:
            actions.extend(self.close(close))
        return actions

    def _reject(self, status: int, reason: str) -> list[Action]:
        self.phase = Phase.REJECTED
        return [Reject(status, reason)]

    # -- server-side decisions ---------------------------------------------------

    def close(self, code: int) -> list[Action]:
        """The server wants the connection gone (timeout, shutdown, overload).

        An open socket gets a close frame with ``code``; a pending handshake
        is refused (503 for 1001/1013 server-side reasons, else 403).
        """
        if self.phase is Phase.OPEN:
            self.phase = Phase.CLOSING
            self.close_code = code
            return [Close(code)]
        if self.phase is Phase.CONNECTING:
            if code in (1001, 1013):
                return self._reject(503, "Server unavailable")
            return self._reject(403, "Access denied")
        return []

    def connect_not_sent(self, status: int, reason: str) -> list[Action]:
        """The layer refused ``websocket.connect`` (full, unreachable, or a bug):
        the application never heard of this socket, so no disconnect is
        reported for it, and a handshake still pending is refused with ``status``.

        The send is made off the reactor's critical path, so its failure can
        come after the client left or the connect timeout refused it: then
        there is nothing left to refuse.
        """
        if self.phase is Phase.CONNECTING:
            self.disconnect_reported = True
            return self._reject(status, reason)
        if self.phase is Phase.REJECTED:
            self.disconnect_reported = True
        # OPEN / CLOSING: the application answered, so it did get the connect
        # (only the reply was lost); CLOSED: the disconnect is already queued.
        return []

    def reaped(self) -> list[Action]:
        """Another server already reported this socket gone (its disconnect
        was sent from this server's lost lease): close it with 1013 (try
        again later), and report no disconnect of our own."""
        self.disconnect_reported = True
        return self.close(1013)

    def connect_timed_out(self) -> list[Action]:
        """Nobody answered ``websocket.connect`` in time: refuse the handshake."""
        if self.phase is Phase.CONNECTING:
            return self._reject(403, "Application did not answer the connection in time")
        return []

    # -- events from the socket ----------------------------------------------------

    def opened(self) -> None:
        if self.phase not in (Phase.OPEN, Phase.CLOSING):
            raise IllegalTransition("WebSocketState", self.phase, "opened")

    def frame_received(self) -> int | None:
        """The ``order`` for a ``websocket.receive``, or None to drop the frame
        (the socket is not open for the application)."""
        if self.phase is not Phase.OPEN:
            return None
        self.received += 1
        return self.received

    def closed(self, code: int | None) -> dict[str, Any] | None:
        """The socket is gone. The first time, returns the ``code`` and ``order``
        for ``websocket.disconnect``; None on any later call."""
        self.phase = Phase.CLOSED
        if self.disconnect_reported:
            return None
        self.disconnect_reported = True
        return {"code": code or ABNORMAL_CLOSURE, "order": self.received + 1}
