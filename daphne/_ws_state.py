"""The life of one WebSocket connection, sans-IO.

See docs/asgi/www.rst, "WebSocket".

``WebSocketState`` is the explicit state machine::

    CONNECTING --accept / data--> OPEN --close--> CLOSING --socket closed--> CLOSED
        |                          |                                          ^
        +--reject / close / timeout / connect not sent--> REJECTED -------socket closed-----------+

It turns reply messages (Send/Close/Accept) into actions for the Autobahn
protocol, counts ``order`` for ``websocket.receive`` / ``websocket.disconnect``
and makes sure exactly one disconnect is reported per connection, whatever
closed it ("no disc.": none is due, as the application never heard of the
socket or another server already reported it gone).

It is strict, as h11 is: every event the protocol class feeds it is either
expected in the current phase (it acts, or deliberately ignores it) or
raises ``ProtocolStateError`` naming the event and the phase. What each
event does in each phase:

===================== ========== ======= ======== ======== =======
event                 CONNECTING OPEN    CLOSING  REJECTED CLOSED
===================== ========== ======= ======== ======== =======
``reply``             acts       acts    ignored  ignored  ignored
``close``             rejects    closes  ignored  ignored  ignored
``connect_not_sent``  rejects    ignored ignored  no disc. ignored
``connect_timed_out`` rejects    raises  raises   raises   raises
``opened``            raises     ok      ok       raises   raises
``frame_received``    raises     order   dropped  raises   raises
``closed``            reports    reports reports  reports  ignored
``reaped``            rejects    closes  no disc. no disc. ignored
===================== ========== ======= ======== ======== =======

The ignored cells are the races of a live server: a late reply from the
application, a second server-side close (a timeout after a shutdown), a
frame the client sent before it saw our close, a socket reported lost
twice. The raising cells cannot happen while the protocol class keeps its
side of the contract (Autobahn delivers frames only once the handshake was
accepted and opens only an accepted one; the connect timer is cancelled
when the handshake is answered).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from asgi import www
from asgi.exceptions import InvalidMessage

from .exceptions import InvalidReply, ProtocolStateError

__all__ = ["Accept", "Close", "Phase", "Reject", "Send", "WebSocketState"]

#: Close code reported when the socket ended without a close frame.
ABNORMAL_CLOSURE = 1006

#: The handshake refusals, as (status, reason) of the HTTP answer.
ACCESS_DENIED = (403, "Access denied")
SERVER_UNAVAILABLE = (503, "Server unavailable")
CONNECT_TIMED_OUT = (403, "Application did not answer the connection in time")


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
    """Decides what replies and socket events mean for one connection.

    Its fields are read-only: only the events below change them.
    """

    __slots__ = ("_close_code", "_disconnect_reported", "_phase", "_received")

    def __init__(self) -> None:
        self._phase = Phase.CONNECTING
        self._received = 0
        self._disconnect_reported = False
        self._close_code: int | None = None

    @property
    def phase(self) -> Phase:
        """Where the connection is (see the module's table)."""
        return self._phase

    @property
    def received(self) -> int:
        """How many frames were given an ``order`` (the last one's ``order``)."""
        return self._received

    @property
    def disconnect_reported(self) -> bool:
        """True once no ``websocket.disconnect`` is due any more: it was
        reported, or the application never heard of the socket."""
        return self._disconnect_reported

    @property
    def close_code(self) -> int | None:
        """The code of the close frame the server sent, if it sent one."""
        return self._close_code

    def _unexpected(self, event: str) -> ProtocolStateError:
        return ProtocolStateError("WebSocketState", self._phase, event)

    # -- replies from the application ------------------------------------------

    def reply(self, message: Any) -> list[Action]:
        """Actions for one Send/Close/Accept message; ``InvalidReply`` if malformed.

        Replies after the connection was refused or began to close are
        ignored (an empty list), as 1.x did.
        """
        try:
            parsed = www.parse_websocket_reply(message)
        except InvalidMessage as exc:
            raise InvalidReply(str(exc)) from None
        if self._phase is Phase.CONNECTING:
            if parsed.accept is False:
                return self._reject(*ACCESS_DENIED)
            if parsed.accept is True or parsed.data is not None:
                self._phase = Phase.OPEN
                return [Accept(), *self._send_and_close(parsed.data, parsed.close)]
            if parsed.close is not None:
                return self._reject(*ACCESS_DENIED)
            return []
        if self._phase is Phase.OPEN:
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
        self._phase = Phase.REJECTED
        return [Reject(status, reason)]

    # -- server-side decisions ---------------------------------------------------

    def close(self, code: int) -> list[Action]:
        """The server wants the connection gone (timeout, shutdown, overload).

        An open socket gets a close frame with ``code``; a pending handshake
        is refused (503 for 1001/1013 server-side reasons, else 403). A
        connection already closing, refused or closed is left as it is.
        """
        if self._phase is Phase.OPEN:
            self._phase = Phase.CLOSING
            self._close_code = code
            return [Close(code)]
        if self._phase is Phase.CONNECTING:
            if code in (1001, 1013):
                return self._reject(*SERVER_UNAVAILABLE)
            return self._reject(*ACCESS_DENIED)
        return []

    def connect_not_sent(self, status: int, reason: str) -> list[Action]:
        """The layer refused ``websocket.connect`` (full, unreachable, or a bug):
        the application never heard of this socket, so no disconnect is
        reported for it, and a handshake still pending is refused with ``status``.

        The send is made off the reactor's critical path, so its failure can
        come after the client left or the connect timeout refused it: then
        there is nothing left to refuse.
        """
        if self._phase is Phase.CONNECTING:
            self._disconnect_reported = True
            return self._reject(status, reason)
        if self._phase is Phase.REJECTED:
            self._disconnect_reported = True
        # OPEN / CLOSING: the application answered, so it did get the connect
        # (only the reply was lost); CLOSED: the disconnect is already queued.
        return []

    def reaped(self) -> list[Action]:
        """Another server already reported this socket gone (its disconnect
        was sent from this server's lost lease): close it with 1013 (try
        again later), and report no disconnect of our own.

        The lease holds sockets whose connect went out, so a handshake still
        pending is refused (503) and a socket already closing or closed is
        left to finish as it is.
        """
        self._disconnect_reported = True
        return self.close(1013)

    def connect_timed_out(self) -> list[Action]:
        """Nobody answered ``websocket.connect`` in time: refuse the handshake.

        Only a pending handshake has a connect timer running: answering it
        (or losing the socket) cancels the timer.
        """
        if self._phase is not Phase.CONNECTING:
            raise self._unexpected("connect_timed_out")
        return self._reject(*CONNECT_TIMED_OUT)

    # -- events from the socket ----------------------------------------------------

    def opened(self) -> None:
        """The handshake completed (Autobahn's ``onOpen``): only after an accept."""
        if self._phase is not Phase.OPEN and self._phase is not Phase.CLOSING:
            raise self._unexpected("opened")

    def frame_received(self) -> int | None:
        """The ``order`` for a ``websocket.receive``, or None to drop the frame
        (the client sent it before it saw our close frame)."""
        if self._phase is Phase.OPEN:
            self._received += 1
            return self._received
        if self._phase is Phase.CLOSING:
            return None
        raise self._unexpected("frame_received")

    def closed(self, code: int | None) -> dict[str, Any] | None:
        """The socket is gone, with the close ``code`` the client sent (None
        if none). Returns the ``code`` and ``order`` for
        ``websocket.disconnect``, or None when none is due (on any later
        call, or if the application never heard of the socket).

        The code reported is the one of the server's own close frame if it
        sent one, else the client's, else 1006 (no close frame at all).
        """
        self._phase = Phase.CLOSED
        if self._disconnect_reported:
            return None
        self._disconnect_reported = True
        return {
            "code": self._close_code or code or ABNORMAL_CLOSURE,
            "order": self._received + 1,
        }
