"""Exceptions consumers raise to steer the worker.

See docs/reference/channels.rst, "channels.exceptions".

Each class says who raises it and what the worker or handler does with it.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ChannelSocketException",
    "AckError",
    "ConsumeLater",
    "DenyConnection",
    "PresenceNotSupported",
    "HistoryResumeError",
    "RequestAborted",
    "RequestTimeout",
    "ResponseLater",
    "SendNotAvailableOnDemultiplexer",
    "WebsocketCloseException",
]


class ConsumeLater(Exception):
    """Raised by a consumer that cannot handle the message yet.

    The worker puts the message back on its channel (counting retries in
    ``__retries__``) and drops the consumer's pending sends.
    """


class ResponseLater(Exception):
    """Raised by a view that will send its HTTP response later, from another
    consumer, on ``request.reply_channel``; the handler then sends nothing."""


class RequestTimeout(Exception):
    """Raised while reading a request body when its chunks stop arriving for
    longer than ``AsgiRequest.body_receive_timeout``; the client gets 408."""


class RequestAborted(Exception):
    """Raised while reading a request body when the server reports that the
    client went away (a chunk with ``closed``); no response is sent."""


class DenyConnection(Exception):
    """Raised by a ``websocket.connect`` consumer to reject the handshake.

    The worker replies ``{"close": True}`` (daphne answers 403).
    """


class ChannelSocketException(Exception):
    """Base for exceptions that know how to answer on the reply channel.

    The worker calls :meth:`run` with the message being consumed.
    """

    def run(self, message: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement run(message)")


class WebsocketCloseException(ChannelSocketException):
    """Close the WebSocket from inside a consumer, with an optional close code.

    ``code`` must be 1000 or in 3000-4999 (the range applications may use);
    None closes with the default 1000.
    """

    def __init__(self, code: int | None = None) -> None:
        if code is not None and (
            isinstance(code, bool)
            or not isinstance(code, int)
            or not (code == 1000 or 3000 <= code <= 4999)
        ):
            raise ValueError(
                f"WebsocketCloseException code must be 1000 or in 3000-4999, got {code!r}"
            )
        super().__init__(code)
        self._code = code

    @property
    def code(self) -> int | None:
        return self._code

    def run(self, message: Any) -> None:
        reply_channel = message.reply_channel
        if reply_channel is None or not reply_channel.name.startswith("websocket."):
            raise ValueError(
                "WebsocketCloseException needs a message with a websocket.* reply channel, "
                f"got {getattr(reply_channel, 'name', None)!r}"
            )
        reply_channel.send({"close": self._code or True})


class SendNotAvailableOnDemultiplexer(Exception):
    """Raised when a demultiplexer's own ``send`` is used: send through the
    multiplexer of a stream instead."""


class PresenceNotSupported(Exception):
    """Raised by ``channels.presence.Presence`` on a channel layer without
    the ``presence`` extension (see docs/asgi/layers.rst)."""


class AckError(ValueError):
    """Raised by ``channels.acks`` helpers given something they cannot use:
    a timeout the layer cannot keep, or a message that was not a request."""


class HistoryResumeError(ChannelSocketException, ValueError):
    """Raised by ``channels.history.resume_history`` when a reconnecting socket's
    ``channels_history`` query parameter is malformed (see docs/topics/history.rst).

    The worker closes the socket with code :attr:`code` (4400): a client that
    sends a bad resume parameter learns it, instead of silently missing messages.
    """

    code = 4400

    def run(self, message: Any) -> None:
        message.reply_channel.send({"close": self.code})
