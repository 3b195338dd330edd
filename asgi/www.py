"""The HTTP and WebSocket message formats of ASGI 1 (spec sections 1.6, 1.7).

Each format is declared once in ``FORMATS`` (required keys, optional keys
with their defaults, and the accepted types) and built by one function here.
daphne, the Django handler and the test helpers all use these, so a message
from the test client carries exactly the keys daphne sends.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ._formats import MessageFormat, normalize_format, reject_unknown_keys, validate_format
from .exceptions import InvalidMessage

__all__ = [
    "FORMATS",
    "MessageFormat",
    "WebsocketReply",
    "http_disconnect",
    "http_request",
    "http_request_body_chunk",
    "http_response",
    "http_response_chunk",
    "normalize",
    "parse_websocket_reply",
    "validate",
    "websocket_connect",
    "websocket_disconnect",
    "websocket_receive",
    "websocket_reply",
]

#: Header pairs as 1.x built them: ``(name, value)`` tuples of bytes. (msgpack
#: turns them into lists on a network layer's wire, as it did in 1.x.)
Headers = list[tuple[bytes, bytes]]
#: Header pairs as callers hand them in: ``(name, value)`` tuples or lists of bytes.
HeaderPairs = Iterable[Sequence[bytes]]


_ADDRESS = (list, tuple, type(None))
_BYTES_OR_NONE = (bytes, type(None))
_STR_OR_NONE = (str, type(None))

FORMATS: dict[str, MessageFormat] = {
    f.name: f
    for f in [
        MessageFormat(
            "http.request",
            "http.request",
            required={
                "reply_channel": (str,),
                "http_version": (str,),
                "method": (str,),
                "path": (str,),
                "query_string": (bytes,),
                "headers": (list,),
            },
            optional={
                "scheme": ((str,), "http"),
                "root_path": ((str,), ""),
                "body": ((bytes,), b""),
                "body_channel": (_STR_OR_NONE, None),
                "client": (_ADDRESS, None),
                "server": (_ADDRESS, None),
            },
        ),
        MessageFormat(
            "http.request.body",
            "http.request.body?",
            required={},
            optional={
                "content": ((bytes,), b""),
                "closed": ((bool,), False),
                "more_content": ((bool,), False),
            },
        ),
        MessageFormat(
            "http.response",
            "http.response!",
            required={"status": (int,)},
            optional={
                "headers": ((list, tuple), []),
                "content": ((bytes,), b""),
                "more_content": ((bool,), False),
            },
        ),
        MessageFormat(
            "http.response.chunk",
            "http.response!",
            required={},
            optional={"content": ((bytes,), b""), "more_content": ((bool,), False)},
        ),
        MessageFormat(
            "http.disconnect",
            "http.disconnect",
            required={"reply_channel": (str,), "path": (str,)},
        ),
        MessageFormat(
            "websocket.connect",
            "websocket.connect",
            required={
                "reply_channel": (str,),
                "path": (str,),
                "headers": (list,),
                "order": (int,),
            },
            optional={
                "scheme": ((str,), "ws"),
                "query_string": ((bytes,), b""),
                "root_path": ((str,), ""),
                "client": (_ADDRESS, None),
                "server": (_ADDRESS, None),
            },
        ),
        MessageFormat(
            "websocket.receive",
            "websocket.receive",
            required={
                "reply_channel": (str,),
                "path": (str,),
                "order": (int,),
                "bytes": _BYTES_OR_NONE,
                "text": _STR_OR_NONE,
            },
        ),
        MessageFormat(
            "websocket.disconnect",
            "websocket.disconnect",
            required={
                "reply_channel": (str,),
                "path": (str,),
                "code": (int,),
                "order": (int,),
            },
        ),
        MessageFormat(
            "websocket.send",
            "websocket.send!",
            required={},
            optional={
                "bytes": (_BYTES_OR_NONE, None),
                "text": (_STR_OR_NONE, None),
                "close": ((bool, int), False),
                "accept": ((bool, type(None)), None),
            },
        ),
    ]
}


def validate(format_name: str, message: Any) -> dict[str, Any]:
    """Check ``message`` against a format; return it, or raise ``InvalidMessage``.

    Unknown keys are allowed (the spec lets servers add extensions).
    """
    return validate_format(FORMATS[format_name], message)


def normalize(format_name: str, message: Any) -> dict[str, Any]:
    """Validate ``message`` and return a copy with every optional key filled in."""
    return normalize_format(FORMATS[format_name], message)


def _headers(headers: HeaderPairs) -> Headers:
    """Lowercased ``(name, value)`` tuples, order and repeats kept."""
    return [(bytes(name).lower(), bytes(value)) for name, value in headers]


def _joined_headers(headers: HeaderPairs) -> Headers:
    """One lowercased ``(name, value)`` tuple per header name, in the order
    the names first appear; the values of a repeated header are joined with
    ``b","`` (what 1.x daphne put in ``websocket.connect``)."""
    joined: dict[bytes, bytes] = {}
    for name, value in headers:
        name = bytes(name).lower()
        value = bytes(value)
        joined[name] = joined[name] + b"," + value if name in joined else value
    return list(joined.items())


# -- HTTP ----------------------------------------------------------------------------


def http_request(
    *,
    reply_channel: str,
    method: str,
    path: str,
    query_string: bytes = b"",
    headers: HeaderPairs = (),
    http_version: str = "1.1",
    scheme: str = "http",
    root_path: str = "",
    body: bytes = b"",
    body_channel: str | None = None,
    client: Sequence[Any] | None = None,
    server: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """An ``http.request`` message with every key daphne sends."""
    return {
        "reply_channel": reply_channel,
        "http_version": http_version,
        "method": method.upper(),
        "scheme": scheme,
        "path": path,
        "query_string": query_string,
        "root_path": root_path,
        "headers": _headers(headers),
        "body": body,
        "body_channel": body_channel,
        "client": list(client) if client is not None else None,
        "server": list(server) if server is not None else None,
    }


def http_request_body_chunk(
    content: bytes = b"", *, more_content: bool = False, closed: bool = False
) -> dict[str, Any]:
    """A chunk of request body on the request's ``http.request.body?`` channel."""
    return {"content": content, "closed": closed, "more_content": more_content}


def http_response(
    status: int, headers: HeaderPairs = (), content: bytes = b"", *, more_content: bool = False
) -> dict[str, Any]:
    """The first (or only) message of a response."""
    return {
        "status": status,
        "headers": [(bytes(n), bytes(v)) for n, v in headers],
        "content": content,
        "more_content": more_content,
    }


def http_response_chunk(content: bytes, *, more_content: bool = False) -> dict[str, Any]:
    """A later chunk of a streamed response."""
    return {"content": content, "more_content": more_content}


def http_disconnect(*, reply_channel: str, path: str) -> dict[str, Any]:
    """Sent on ``http.disconnect`` once the request is over: the response
    completed, or the client left before it did (docs/asgi/www.rst, "HTTP")."""
    return {"reply_channel": reply_channel, "path": path}


# -- WebSocket -----------------------------------------------------------------------


def websocket_connect(
    *,
    reply_channel: str,
    path: str,
    headers: HeaderPairs = (),
    query_string: bytes = b"",
    scheme: str = "ws",
    root_path: str = "",
    client: Sequence[Any] | None = None,
    server: Sequence[Any] | None = None,
    join_repeated_headers: bool = True,
) -> dict[str, Any]:
    """``websocket.connect``, with the ``scheme`` and ``root_path`` 1.x omitted.

    As in 1.x, ``headers`` has one ``(name, value)`` tuple per header name, a
    repeated header's values joined with ``b","``; ``join_repeated_headers=False``
    keeps each occurrence as its own pair instead, in the order received.
    """
    return {
        "reply_channel": reply_channel,
        "scheme": scheme,
        "path": path,
        "query_string": query_string,
        "root_path": root_path,
        "headers": _joined_headers(headers) if join_repeated_headers else _headers(headers),
        "client": list(client) if client is not None else None,
        "server": list(server) if server is not None else None,
        "order": 0,
    }


def websocket_receive(
    *,
    reply_channel: str,
    path: str,
    order: int,
    text: str | None = None,
    bytes: bytes | None = None,
) -> dict[str, Any]:
    """``websocket.receive``: exactly one of ``text`` and ``bytes`` is set."""
    if (text is None) == (bytes is None):
        raise InvalidMessage("websocket.receive takes exactly one of text and bytes")
    return {
        "reply_channel": reply_channel,
        "path": path,
        "order": order,
        "text": text,
        "bytes": bytes,
    }


def websocket_disconnect(*, reply_channel: str, path: str, code: int, order: int) -> dict[str, Any]:
    """``websocket.disconnect``, sent once whatever closed the socket."""
    return {"reply_channel": reply_channel, "path": path, "code": code, "order": order}


def websocket_reply(
    *,
    text: str | None = None,
    bytes: bytes | None = None,
    close: bool | int = False,
    accept: bool | None = None,
) -> dict[str, Any]:
    """A Send/Close/Accept message for a WebSocket's reply channel."""
    message: dict[str, Any] = {}
    if text is not None:
        message["text"] = text
    if bytes is not None:
        message["bytes"] = bytes
    if close:
        message["close"] = close
    if accept is not None:
        message["accept"] = accept
    return message


@dataclass(frozen=True)
class WebsocketReply:
    """A Send/Close/Accept message reduced to what the server must do.

    ``accept`` is True (accept), False (reject) or None (not said);
    ``data`` is the frame to send (str for text, bytes for binary) or None;
    ``close`` is None or the close code.
    """

    accept: bool | None
    data: str | bytes | None
    close: int | None


def parse_websocket_reply(message: Any) -> WebsocketReply:
    """Interpret a Send/Close/Accept message, raising ``InvalidMessage`` if malformed.

    An empty ``text`` or ``bytes`` is still a frame to send (1.x dropped it).
    """
    validate("websocket.send", message)
    reject_unknown_keys(FORMATS["websocket.send"], message)
    text, data = message.get("text"), message.get("bytes")
    if text is not None and data is not None:
        raise InvalidMessage("websocket.send message has both text and bytes; send one")
    close = message.get("close", False)
    if close is True:
        code: int | None = 1000
    elif close is False or close == 0:
        code = None
    elif isinstance(close, int) and close > 0:
        code = close
    else:
        raise InvalidMessage(
            f"websocket.send close must be a bool or a positive int, got {close!r}"
        )
    return WebsocketReply(
        accept=message.get("accept"), data=text if text is not None else data, close=code
    )
