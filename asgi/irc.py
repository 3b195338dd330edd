"""The IRC-client message formats of ASGI 1 (spec section 1.8, "IRC client").

An IRC-client interface server connects *out* to an IRC server as a user.
It tells the application about the connection (``irc-client.connect``),
each channel it joined (``irc-client.join``) and each message, action or
notice it hears (``irc-client.receive``). Every one of these carries the
client's ``reply_channel``, which stays the same for the client's whole
lifetime (reconnections included), so it identifies the client; messages
sent to it are *control* messages telling the client to join, part, say
something or do an action.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    "CONNECT_CHANNEL",
    "CONTROL_TYPES",
    "FORMATS",
    "JOIN_CHANNEL",
    "RECEIVE_CHANNEL",
    "RECEIVE_TYPES",
    "REPLY_CHANNEL_PREFIX",
    "IrcControl",
    "irc_connect",
    "irc_control",
    "irc_join",
    "irc_receive",
    "normalize",
    "parse_irc_control",
    "validate",
]

CONNECT_CHANNEL = "irc-client.connect"
JOIN_CHANNEL = "irc-client.join"
RECEIVE_CHANNEL = "irc-client.receive"
#: Reply channels are ``irc-client.send.<client>!<local>`` (process-specific).
REPLY_CHANNEL_PREFIX = "irc-client.send"

#: The ``type`` values of ``irc-client.receive``.
RECEIVE_TYPES = ("message", "action", "notice")
#: The ``type`` values of a control message.
CONTROL_TYPES = ("join", "part", "message", "action")

FORMATS: dict[str, MessageFormat] = {
    f.name: f
    for f in [
        MessageFormat(
            "irc-client.connect",
            CONNECT_CHANNEL,
            required={"reply_channel": (str,), "server": (list, tuple)},
        ),
        MessageFormat(
            "irc-client.join",
            JOIN_CHANNEL,
            required={"reply_channel": (str,), "channel": (str,)},
        ),
        MessageFormat(
            "irc-client.receive",
            RECEIVE_CHANNEL,
            required={
                "reply_channel": (str,),
                "type": (str,),
                "user": (str,),
                "channel": (str,),
                "body": (str,),
            },
        ),
        MessageFormat(
            "irc-client.control",
            "irc-client.send!",
            required={"channel": (str,), "type": (str,)},
            optional={"body": ((str, type(None)), None)},
        ),
    ]
}


def validate(format_name: str, message: Any) -> dict[str, Any]:
    """Check ``message`` against one IRC-client format; return it.

    Raises ``InvalidMessage`` naming the key that is missing, of the wrong
    type, or (for ``type``) not one of the allowed values.
    """
    message = validate_format(FORMATS[format_name], message)
    if format_name == "irc-client.connect":
        check_address(format_name, "server", message["server"])
    elif format_name == "irc-client.receive":
        _check_choice(format_name, "type", message["type"], RECEIVE_TYPES)
    elif format_name == "irc-client.control":
        _check_choice(format_name, "type", message["type"], CONTROL_TYPES)
        if message["type"] in ("message", "action") and message.get("body") is None:
            raise InvalidMessage(
                f"irc-client control message of type {message['type']!r} needs a str 'body'"
            )
    return cast("dict[str, Any]", message)  # validate_format checked it


def normalize(format_name: str, message: Any) -> dict[str, Any]:
    """Validate ``message`` and return a copy with the optional keys filled in."""
    validate(format_name, message)
    return normalize_format(FORMATS[format_name], message)


def irc_connect(*, reply_channel: str, server: Any) -> dict[str, Any]:
    """``irc-client.connect``: the client is signed on to ``server`` ``[host, port]``."""
    return validate(
        "irc-client.connect",
        {"reply_channel": reply_channel, "server": check_address("irc", "server", server)},
    )


def irc_join(*, reply_channel: str, channel: str) -> dict[str, Any]:
    """``irc-client.join``: the client joined IRC channel ``channel``."""
    return validate("irc-client.join", {"reply_channel": reply_channel, "channel": channel})


def irc_receive(
    *, reply_channel: str, type: str, user: str, channel: str, body: str
) -> dict[str, Any]:
    """``irc-client.receive``: a message, action or notice the client heard.

    ``user`` is the full ``nick!user@host``; ``channel`` is where an answer
    should go (the IRC channel, or the sender's nick for a private message).
    """
    return validate(
        "irc-client.receive",
        {
            "reply_channel": reply_channel,
            "type": type,
            "user": user,
            "channel": channel,
            "body": body,
        },
    )


def irc_control(*, type: str, channel: str, body: str | None = None) -> dict[str, Any]:
    """A control message for a client's ``reply_channel``."""
    message: dict[str, Any] = {"type": type, "channel": channel}
    if body is not None:
        message["body"] = body
    return validate("irc-client.control", message)


@dataclass(frozen=True)
class IrcControl:
    """A control message reduced to what the client must do."""

    type: str
    channel: str
    body: str | None


def parse_irc_control(message: Any) -> IrcControl:
    """Interpret a control message, raising ``InvalidMessage`` if malformed.

    Unknown keys are refused so that a misspelt ``body`` is an error, not a
    silent no-op.
    """
    validate("irc-client.control", message)
    reject_unknown_keys(FORMATS["irc-client.control"], message)
    channel = message["channel"]
    if not channel or any(c in channel for c in " \r\n\x00,"):
        raise InvalidMessage(
            "irc-client control key 'channel' must be a channel or nick without spaces, "
            f"commas or line breaks, got {channel!r}"
        )
    body = message.get("body")
    if body is not None and any(c in body for c in "\r\n\x00"):
        raise InvalidMessage("irc-client control key 'body' must be one line (no CR, LF or NUL)")
    return IrcControl(type=message["type"], channel=channel, body=body)


def _check_choice(format_name: str, key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InvalidMessage(
            f"{format_name} key {key!r} must be one of {', '.join(choices)}; got {value!r}"
        )
