"""Acknowledged sends over WebSockets, both ways.

See docs/topics/realtime.rst, "Acknowledged sends".

Server to client: ``send_with_ack(reply_channel, data, reply_to="acks")``
sends ``data`` in a frame carrying an id; the JS client acknowledges it
with a small frame, and the consumer of ``websocket.receive`` (wrapped in
``@ack_frames`` or with ``AckMixin``) turns that into
``{"ack": id, "status": "ok"}`` on the channel ``reply_to``. If no ack
comes within ``timeout`` seconds, ``{"ack": id, "status": "timeout"}`` goes
there instead (the timer is a message to the delay server, ``rundelay``,
whose delivery on ``channels.ack_timeout`` is handled by
``ack_timeout_consumer``; route it). Exactly one of the two is sent: both
paths race to take one token message from the layer, and a layer hands a
message to one receiver only. No other state is kept.

Client to server: a request frame carries an id; ``@ack_frames`` / the
mixin unwrap it so the consumer sees the plain payload, and
``reply(message, data)`` answers it (the JS client resolves its Promise).
"""

from __future__ import annotations

import functools
import json
import logging
import math
from collections.abc import Callable
from typing import Any

from ._realtime_frames import ACK_ID, ack_request_frame, parse_client_frame, reply_frame
from .channel import Channel, _member_name
from .exceptions import AckError

__all__ = [
    "ACK_TIMEOUT_CHANNEL",
    "AckMixin",
    "ack_frames",
    "ack_timeout_consumer",
    "reply",
    "send_with_ack",
]

logger = logging.getLogger(__name__)

#: The channel the delay server delivers ack timeouts to.
ACK_TIMEOUT_CHANNEL = "channels.ack_timeout"

#: Ack tokens are single-reader channels named this prefix plus the ack id.
TOKEN_PREFIX = "channels.ack?"

#: Seconds to wait for an ack unless told otherwise.
DEFAULT_ACK_TIMEOUT = 10.0


def _token_channel(ack_id: str) -> str:
    return TOKEN_PREFIX + ack_id


def send_with_ack(
    reply_channel: Channel | str,
    content: Any,
    reply_to: str,
    timeout: float | None = DEFAULT_ACK_TIMEOUT,
    stream: str | None = None,
    channel_layer: Any = None,
) -> str:
    """Send ``content`` (JSON-able) to a socket and ask its client to ack it.

    The outcome, ``{"ack": id, "status": "ok" | "timeout"}``, arrives on the
    channel ``reply_to``. ``timeout`` must be shorter than the layer's message
    ``expiry`` (the token waiting for the ack is a message); ``None`` sets no
    timer (only ``ok`` is ever reported, and needs no delay server).
    ``stream`` sends it on a multiplexed socket's stream. Returns the ack id.
    """
    channel = _member_name(reply_channel)
    layer = channel_layer or (
        reply_channel.channel_layer if isinstance(reply_channel, Channel) else None
    )
    sender = Channel(channel, channel_layer=layer)
    layer = sender.channel_layer
    layer.valid_channel_name(reply_to)
    _check_timeout(timeout, layer)
    token = layer.new_channel(TOKEN_PREFIX)
    ack_id = token[len(TOKEN_PREFIX) :]
    layer.send(token, {"reply_to": reply_to, "reply_channel": channel})
    if timeout is not None:
        _start_timer(layer, ack_id, timeout)
    sender.send(ack_request_frame(ack_id, content, stream))
    return ack_id


def _check_timeout(timeout: float | None, layer: Any) -> None:
    if timeout is None:
        return
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise AckError(
            f"send_with_ack() timeout must be a positive number of seconds or None, got {timeout!r}"
        )
    if timeout >= layer.expiry:
        raise AckError(
            f"send_with_ack() timeout must be shorter than the channel layer's expiry "
            f"({layer.expiry} s), got {timeout!r}: the ack token would expire first"
        )


def _start_timer(layer: Any, ack_id: str, timeout: float) -> None:
    """Ask the delay server for the timeout message; a full ``asgi.delay``
    (no ``rundelay`` is emptying it) costs the timeout report, not the send."""
    timer = {
        "channel": ACK_TIMEOUT_CHANNEL,
        "content": {"ack": ack_id},
        "delay": math.ceil(timeout * 1000),
    }
    try:
        Channel("asgi.delay", channel_layer=layer).send(timer, immediately=True)
    except layer.ChannelFull:
        logger.warning(
            "asgi.delay is full (is manage.py rundelay running?): the send %s gets no "
            "timeout report",
            ack_id,
        )


def _settle(layer: Any, ack_id: str, status: str, reply_channel: str | None = None) -> bool:
    """Take the ack's token and report ``status``; False when the other
    outcome (or an expiry) took it first, or the ack came from another socket."""
    if not ACK_ID.match(ack_id):
        return False
    token_channel = _token_channel(ack_id)
    _, token = layer.receive([token_channel], block=False)
    if token is None:
        return False
    if reply_channel is not None and token.get("reply_channel") != reply_channel:
        layer.send(token_channel, token)  # not this socket's to ack: put it back
        return False
    Channel(token["reply_to"], channel_layer=layer).send({"ack": ack_id, "status": status})
    return True


def ack_timeout_consumer(message: Any) -> None:
    """Route ``channels.ack_timeout`` here: reports the timeouts of sends
    that were not acknowledged in time."""
    ack_id = message.get("ack")
    if not isinstance(ack_id, str):
        raise AckError(f"An ack timeout message needs a str 'ack' id, got {message.content!r:.200}")
    _settle(message.channel_layer, ack_id, "timeout")


def handle_ack_frames(message: Any) -> bool:
    """Deal with our frames on ``websocket.receive``: an ack is settled
    (True: the consumer must not see it); a request is unwrapped in place
    (``message.content["text"]`` becomes what the client sent, the id is
    kept for ``reply``)."""
    parsed = parse_client_frame(message.get("text"))
    if parsed is None:
        return False
    kind, fields = parsed
    if kind == "ack":
        _settle(message.channel_layer, fields["ack"], "ok", message.reply_channel.name)
        return True
    if kind == "request":
        message.ack_request = (fields["request"], fields["stream"])
        if fields["stream"] is None:
            unwrapped: Any = fields["payload"]
        else:
            unwrapped = {"stream": fields["stream"], "payload": fields["payload"]}
        message.content["text"] = json.dumps(unwrapped)
    return False


def reply(message: Any, data: Any = None, error: str | None = None) -> None:
    """Answer the request ``message`` came with: the client's Promise
    resolves with ``data``, or rejects with ``error`` when given."""
    request = getattr(message, "ack_request", None)
    if request is None:
        raise AckError(
            "reply() needs a websocket.receive message that came as a request frame "
            "(the client's send(data, {ack: true})) through @ack_frames or AckMixin"
        )
    request_id, stream = request
    message.reply_channel.send(reply_frame(request_id, data, error, stream))


def ack_frames(func: Callable) -> Callable:
    """Decorate a ``websocket.receive`` consumer: acks never reach it, and
    requests reach it unwrapped, ready for ``reply(message, ...)``."""

    @functools.wraps(func)
    def inner(message: Any, *args: Any, **kwargs: Any) -> Any:
        if handle_ack_frames(message):
            return None
        return func(message, *args, **kwargs)

    return inner


class AckMixin:
    """For ``WebsocketConsumer`` subclasses (and demultiplexers): acks are
    settled before ``receive``; requests arrive unwrapped and
    ``self.reply(data)`` answers them. Put it first in the bases."""

    message: Any

    def raw_receive(self, message: Any, **kwargs: Any) -> None:
        if handle_ack_frames(message):
            return
        super().raw_receive(message, **kwargs)  # type: ignore[misc]

    def reply(self, data: Any = None, error: str | None = None) -> None:
        """Answer the request this message came with."""
        reply(self.message, data, error)

    def send_with_ack(
        self,
        content: Any,
        reply_to: str,
        timeout: float | None = DEFAULT_ACK_TIMEOUT,
        stream: str | None = None,
    ) -> str:
        """``send_with_ack`` on this socket."""
        return send_with_ack(self.message.reply_channel, content, reply_to, timeout, stream)
