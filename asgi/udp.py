"""The UDP message formats of ASGI 1 (spec section 1.8, "UDP").

One datagram is one message: ``udp.receive`` carries a datagram from a
client to the application, and a ``udp.send`` message on the datagram's
``reply_channel`` carries one datagram back to that same client.

The draft spec says reply channels "start with ``udp.send!``". Under the
1.1 naming rules everything up to ``!`` names the *process* that reads the
channel, so a literal ``udp.send!`` prefix would let two UDP servers on one
layer steal each other's replies. Reply channels here are
``udp.send.<server>!<client>``: they still start with ``udp.send`` and are
process-specific, and each server reads only its own prefix.
"""

from __future__ import annotations

from typing import Any, cast

from ._formats import (
    MessageFormat,
    check_address,
    normalize_format,
    reject_unknown_keys,
    validate_format,
)
from .exceptions import InvalidMessage

__all__ = [
    "FORMATS",
    "RECEIVE_CHANNEL",
    "REPLY_CHANNEL_PREFIX",
    "normalize",
    "parse_udp_send",
    "udp_receive",
    "udp_send",
    "validate",
]

#: The channel every datagram from a client is sent on.
RECEIVE_CHANNEL = "udp.receive"
#: Every reply channel starts with this.
REPLY_CHANNEL_PREFIX = "udp.send"

_ADDRESS_OR_NONE = (list, tuple, type(None))

FORMATS: dict[str, MessageFormat] = {
    f.name: f
    for f in [
        MessageFormat(
            "udp.receive",
            RECEIVE_CHANNEL,
            required={"reply_channel": (str,), "data": (bytes,), "client": (list, tuple)},
            optional={"server": (_ADDRESS_OR_NONE, None)},
        ),
        MessageFormat("udp.send", "udp.send!", required={"data": (bytes,)}),
    ]
}


def validate(format_name: str, message: Any) -> dict[str, Any]:
    """Check ``message`` against ``udp.receive`` or ``udp.send``; return it.

    Raises ``InvalidMessage`` naming the key that is missing or of the wrong type.
    """
    message = validate_format(FORMATS[format_name], message)
    if format_name == "udp.receive":
        _check_reply_channel(message["reply_channel"])
        check_address(format_name, "client", message["client"])
        if message.get("server") is not None:
            check_address(format_name, "server", message["server"])
    return cast("dict[str, Any]", message)  # validate_format checked it


def normalize(format_name: str, message: Any) -> dict[str, Any]:
    """Validate ``message`` and return a copy with the optional keys filled in."""
    validate(format_name, message)
    return normalize_format(FORMATS[format_name], message)


def udp_receive(
    *, reply_channel: str, data: bytes, client: Any, server: Any | None = None
) -> dict[str, Any]:
    """The ``udp.receive`` message for one datagram from ``client``."""
    message = {
        "reply_channel": reply_channel,
        "data": data,
        "client": check_address("udp.receive", "client", client),
        "server": check_address("udp.receive", "server", server) if server is not None else None,
    }
    return validate("udp.receive", message)


def udp_send(data: bytes) -> dict[str, Any]:
    """A ``udp.send`` message: one datagram to send back to the client."""
    return validate("udp.send", {"data": data})


def parse_udp_send(message: Any) -> bytes:
    """The datagram payload of a ``udp.send`` message, or ``InvalidMessage``.

    Unknown keys are refused: a reply with ``"text"`` instead of ``"data"``
    is an application bug that would otherwise send nothing silently.
    """
    validate("udp.send", message)
    reject_unknown_keys(FORMATS["udp.send"], message)
    data: bytes = message["data"]
    return data


def _check_reply_channel(name: str) -> None:
    if not name.startswith(REPLY_CHANNEL_PREFIX) or "!" not in name:
        raise InvalidMessage(
            "udp.receive key 'reply_channel' must be a process-specific name starting "
            f"with {REPLY_CHANNEL_PREFIX!r} (like 'udp.send.abc!def'), got {name!r}"
        )
