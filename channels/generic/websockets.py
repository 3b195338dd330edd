"""WebSocket generic consumers and stream multiplexing.

See docs/topics/generics.rst.

* ``WebsocketConsumer``: connect/receive/disconnect methods, groups joined on
  connect and left on disconnect, optional users from the HTTP session and
  strict ordering.
* ``JsonWebsocketConsumer``: the same with JSON text frames.
* ``WebsocketMultiplexer`` / ``WebsocketDemultiplexer``: several streams over
  one socket as ``{"stream": name, "payload": {...}}`` frames. A demultiplexer
  either calls stream consumers directly (``consumers``, 1.x) or forwards each
  payload, with its ``reply_channel``, to a channel (``mapping``, the 1.0 beta
  form used in the talk, e.g. ``{"intval": "binding.intval"}``).

Unlike 1.x, a stream consumer's ``send`` is disabled on a per-stream subclass
instead of by overwriting the consumer class's own ``send`` for good, and the
default ``connect`` of a stream consumer does not send a second accept.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from channels.auth import channel_and_http_session_user_from_http, channel_session_user_from_http
from channels.channel import Channel, Group
from channels.exceptions import SendNotAvailableOnDemultiplexer
from channels.sessions import enforce_ordering

from .base import BaseConsumer

__all__ = [
    "JsonWebsocketConsumer",
    "WebsocketConsumer",
    "WebsocketDemultiplexer",
    "WebsocketMultiplexer",
]


class WebsocketConsumer(BaseConsumer):
    """Base WebSocket consumer: override ``connect``, ``receive`` and ``disconnect``."""

    method_mapping = {
        "websocket.connect": "raw_connect",
        "websocket.receive": "raw_receive",
        "websocket.disconnect": "raw_disconnect",
    }

    #: Set ``message.user`` from the HTTP session (implies channel_session_user).
    http_user = False
    #: Like ``http_user``, and keep ``message.http_session`` on every message.
    http_user_and_session = False
    #: Run each connection's messages one at a time, in order.
    strict_ordering = False
    #: Groups the socket joins on connect and leaves on disconnect.
    groups: list[str] | None = None

    def get_handler(self, message: Any, **kwargs: Any) -> Any:
        if self.http_user or self.http_user_and_session:
            self.channel_session_user = True
        self.path = message.get("path")
        handler = super().get_handler(message, **kwargs)
        if self.http_user_and_session:
            handler = channel_and_http_session_user_from_http(handler)
        elif self.http_user:
            handler = channel_session_user_from_http(handler)
        if getattr(self, "slight_ordering", False):
            raise ValueError(
                "slight_ordering was removed in Channels 1.0; remove slight_ordering = True "
                "(or use strict_ordering = True)"
            )
        if self.strict_ordering:
            return enforce_ordering(handler, slight=False)
        return handler

    def connection_groups(self, **kwargs: Any) -> list[str]:
        """The groups to join on connect and leave on disconnect."""
        return self.groups or []

    def _group(self, name: str) -> Group:
        return Group(name, channel_layer=self.message.channel_layer)

    def raw_connect(self, message: Any, **kwargs: Any) -> None:
        for group in self.connection_groups(**kwargs):
            self._group(group).add(message.reply_channel)
        self.connect(message, **kwargs)

    def connect(self, message: Any, **kwargs: Any) -> None:
        """Accept the connection (a stream consumer's socket is already accepted)."""
        if "multiplexer" not in kwargs:
            message.reply_channel.send({"accept": True})

    def raw_receive(self, message: Any, **kwargs: Any) -> None:
        if message.get("text") is not None:
            self.receive(text=message["text"], **kwargs)
        else:
            self.receive(bytes=message.get("bytes"), **kwargs)

    def receive(self, text: str | None = None, bytes: bytes | None = None, **kwargs: Any) -> None:
        """Called with each frame; override it."""

    @staticmethod
    def _frame(text: str | None, bytes: bytes | None, close: Any) -> dict:
        content: dict[str, Any] = {}
        if close:
            content["close"] = close
        if text is not None:
            content["text"] = text
        elif bytes is not None:
            content["bytes"] = bytes
        else:
            raise ValueError("send() needs text or bytes; to only close, use close()")
        return content

    def send(self, text: str | None = None, bytes: bytes | None = None, close: Any = False) -> None:
        """Send a frame on this socket, optionally closing it afterwards."""
        self.message.reply_channel.send(self._frame(text, bytes, close))

    @classmethod
    def group_send(
        cls, name: str, text: str | None = None, bytes: bytes | None = None, close: Any = False
    ) -> None:
        """Send a frame to every socket in group ``name``."""
        Group(name).send(cls._frame(text, bytes, close))

    def close(self, status: bool | int = True) -> None:
        """Close the socket (``status`` may be a close code)."""
        self.message.reply_channel.send({"close": status})

    def raw_disconnect(self, message: Any, **kwargs: Any) -> None:
        for group in self.connection_groups(**kwargs):
            self._group(group).discard(message.reply_channel)
        self.disconnect(message, **kwargs)

    def disconnect(self, message: Any, **kwargs: Any) -> None:
        """Called when the socket closed; override it."""


class JsonWebsocketConsumer(WebsocketConsumer):
    """A WebSocket consumer speaking JSON text frames."""

    def raw_receive(self, message: Any, **kwargs: Any) -> None:
        text = message.get("text")
        if text is None:
            raise ValueError(
                f"{type(self).__name__} expects JSON text frames; a binary frame came on "
                f"{message.reply_channel}"
            )
        try:
            content = self.decode_json(text)
        except ValueError as exc:
            raise ValueError(
                f"{type(self).__name__} received a frame that is not JSON: {exc}"
            ) from None
        self.receive(content, **kwargs)

    def receive(self, content: Any, **kwargs: Any) -> None:
        """Called with each decoded frame; override it."""

    def send(self, content: Any, close: Any = False) -> None:
        """Send ``content`` encoded as JSON."""
        super().send(text=self.encode_json(content), close=close)

    @classmethod
    def decode_json(cls, text: str) -> Any:
        return json.loads(text)

    @classmethod
    def encode_json(cls, content: Any) -> str:
        return json.dumps(content)

    @classmethod
    def group_send(cls, name: str, content: Any, close: Any = False) -> None:
        """Send ``content`` as JSON to every socket in group ``name``."""
        WebsocketConsumer.group_send(name, cls.encode_json(content), close=close)


class WebsocketMultiplexer:
    """Sends a stream's payloads down a multiplexed socket."""

    def __init__(self, stream: str, reply_channel: Channel) -> None:
        self.stream = stream
        self.reply_channel = reply_channel

    def send(self, payload: Any) -> None:
        """Send ``payload`` on this stream."""
        self.reply_channel.send(self.encode(self.stream, payload))

    @classmethod
    def encode_json(cls, content: Any) -> str:
        return json.dumps(content, cls=DjangoJSONEncoder)

    @classmethod
    def encode(cls, stream: str, payload: Any) -> dict:
        """The WebSocket frame carrying ``payload`` on ``stream``."""
        return {"text": cls.encode_json({"stream": stream, "payload": payload})}

    @classmethod
    def group_send(cls, name: str, stream: str, payload: Any, close: bool = False) -> None:
        """Send ``payload`` on ``stream`` to every socket in group ``name``."""
        message = cls.encode(stream, payload)
        if close:
            message["close"] = True
        Group(name).send(message)


def _send_not_available(self: Any, *args: Any, **kwargs: Any) -> None:
    raise SendNotAvailableOnDemultiplexer(
        f"{type(self).__name__} runs behind a demultiplexer: send with the multiplexer "
        "(the multiplexer= keyword argument), e.g. multiplexer.send(payload)"
    )


_stream_classes: dict[type, type] = {}


def _stream_consumer(consumer: Any) -> Any:
    """The consumer as called by a demultiplexer: a class gets ``send`` disabled."""
    if not isinstance(consumer, type) or not hasattr(consumer, "send"):
        return consumer
    try:
        return _stream_classes[consumer]
    except KeyError:
        subclass = type(consumer.__name__, (consumer,), {"send": _send_not_available})
        subclass.__module__ = consumer.__module__
        _stream_classes[consumer] = subclass
        return subclass


class WebsocketDemultiplexer(JsonWebsocketConsumer):
    """Splits ``{"stream", "payload"}`` frames between stream consumers.

    ``consumers`` maps a stream to a consumer called with the message (its
    ``text`` replaced by the payload's JSON) and ``multiplexer=``; connect and
    disconnect go to every stream consumer. ``mapping`` maps a stream to a
    channel name: the payload, plus ``reply_channel``, is sent there.
    """

    consumers: dict[str, Any] = {}
    mapping: dict[str, str] = {}
    multiplexer_class = WebsocketMultiplexer

    def _multiplexer(self, stream: str) -> WebsocketMultiplexer:
        return self.multiplexer_class(stream, self.message.reply_channel)

    def receive(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict) or "stream" not in content or "payload" not in content:
            raise ValueError(
                "Invalid multiplexed frame received: expected a JSON object with "
                f"'stream' and 'payload' keys, got {content!r:.200}"
            )
        stream, payload = content["stream"], content["payload"]
        if not isinstance(payload, dict):
            raise ValueError(
                f"Invalid multiplexed frame received: the payload of stream {stream!r} "
                f"must be a JSON object, got {type(payload).__name__}"
            )
        if stream in self.consumers:
            self.message.content["text"] = self.encode_json(payload)
            kwargs["multiplexer"] = self._multiplexer(stream)
            _stream_consumer(self.consumers[stream])(self.message, **kwargs)
        elif stream in self.mapping:
            forwarded = dict(payload, reply_channel=self.message.reply_channel.name)
            if "path" in self.message.content:
                forwarded.setdefault("path", self.message["path"])
            Channel(self.mapping[stream], channel_layer=self.message.channel_layer).send(forwarded)
        else:
            known = sorted(set(self.consumers) | set(self.mapping))
            raise ValueError(
                f"Invalid multiplexed frame received: stream {stream!r} is not mapped "
                f"(known streams: {known})"
            )

    def connect(self, message: Any, **kwargs: Any) -> None:
        """Accept, then pass the connect to every stream consumer."""
        message.reply_channel.send({"accept": True})
        for stream, consumer in self.consumers.items():
            stream_kwargs = dict(kwargs, multiplexer=self._multiplexer(stream))
            _stream_consumer(consumer)(message, **stream_kwargs)

    def disconnect(self, message: Any, **kwargs: Any) -> None:
        """Pass the disconnect to every stream consumer."""
        for stream, consumer in self.consumers.items():
            stream_kwargs = dict(kwargs, multiplexer=self._multiplexer(stream))
            _stream_consumer(consumer)(message, **stream_kwargs)

    def send(self, *args: Any, **kwargs: Any) -> None:
        raise SendNotAvailableOnDemultiplexer(
            "A demultiplexer cannot send by itself; send on a stream with "
            "WebsocketMultiplexer(stream, reply_channel).send(payload)"
        )

    @classmethod
    def group_send(cls, name: str, content: Any, close: bool = False) -> None:
        raise SendNotAvailableOnDemultiplexer(
            "A demultiplexer cannot group_send; use "
            "WebsocketMultiplexer.group_send(group, stream, payload)"
        )
