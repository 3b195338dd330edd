"""The named errors of the interface server.

See docs/reference/daphne.rst.
"""

from __future__ import annotations

__all__ = [
    "BadRequest",
    "CannotListen",
    "IllegalTransition",
    "InvalidReply",
    "LayerUnreachable",
    "NotAChannelLayer",
    "ProtocolStateError",
]


class InvalidReply(ValueError):
    """A reply message from the application breaks its format or comes at the
    wrong time (for example a second ``status`` for one HTTP response).

    The server logs it and answers 500 (HTTP, if nothing was sent yet) or
    closes with 1011 (WebSocket); it never propagates to the reactor.
    """


class IllegalTransition(RuntimeError):
    """A connection state machine got an event its current state cannot take.

    The message names the state and the event; it means a bug in daphne.
    """

    def __init__(self, machine: str, state: object, event: str) -> None:
        super().__init__(f"{machine} cannot handle {event!r} in state {state}")
        self.state = state
        self.event = event


class ProtocolStateError(IllegalTransition):
    """A connection's state machine (``WebSocketState``, ``ResponseState``)
    got an event it does not expect in its current phase, as h11 raises
    ``LocalProtocolError``: for example ``connect_timed_out`` once the
    handshake was answered, or a frame before it was accepted.

    Replies from the application are never refused this way (late ones are
    ignored, malformed ones are ``InvalidReply``); only the server's own
    events are, so this means a bug in the code that drives the machine.
    ``machine``, ``phase`` and ``event`` say which.
    """

    def __init__(self, machine: str, phase: object, event: str) -> None:
        # the message names the phase as the docs' tables do: ``CONNECTING``
        super().__init__(machine, getattr(phase, "name", phase), event)
        self.machine = machine
        self.state = self.phase = phase


class BadRequest(ValueError):
    """Bad input from the network; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class CannotListen(RuntimeError):
    """``Server.run()`` could not listen on one of its endpoints (port in use,
    bad endpoint string, missing certificate); the message names it."""


class NotAChannelLayer(TypeError):
    """``Server.run()`` or ``Server.start()`` was given an object that lacks a
    channel layer's ``send``, ``receive`` or ``new_channel``.

    Checked when the server starts, not when it is built: as in 1.x, a
    ``Server`` (and the command line) accept any object until then.
    """


class LayerUnreachable(RuntimeError):
    """``Server.run()`` with ``probe_layer=True`` (the ``daphne`` command)
    could not reach the channel layer's server; the message gives the cause."""
