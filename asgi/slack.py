"""The Slack message formats (an extension in the style of spec section 1.8).

A Slack interface server (``daphne-slack``) receives Slack's Events API
callbacks over HTTP and posts messages with the Web API. It puts each
message a person writes in a Slack channel on ``slack.receive``, and turns
each ``slack.send`` message the application sends into a
``chat.postMessage`` call. Both channels are normal (not process-specific):
any number of workers read ``slack.receive``, and whichever
``daphne-slack`` process is running reads ``slack.send``.

Slack's own names are kept where they are identifiers (``team``,
``channel`` and ``user`` are Slack IDs such as ``"T0001"``, ``"C0001"``,
``"U0001"``; ``timestamp`` and ``thread`` are Slack ``ts`` strings such as
``"1355517523.000005"``, which are also message IDs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from ._formats import MessageFormat, normalize_format, reject_unknown_keys, validate_format
from .exceptions import InvalidMessage

__all__ = [
    "FORMATS",
    "RECEIVE_CHANNEL",
    "RECEIVE_TYPES",
    "SEND_CHANNEL",
    "SlackPost",
    "normalize",
    "parse_slack_send",
    "slack_receive",
    "slack_send",
    "validate",
]

RECEIVE_CHANNEL = "slack.receive"
SEND_CHANNEL = "slack.send"

#: The ``type`` values of ``slack.receive``: the Events API event type it came from.
RECEIVE_TYPES = ("message", "app_mention")

#: Slack refuses a ``chat.postMessage`` text longer than this (characters).
MAX_TEXT = 40_000

FORMATS: dict[str, MessageFormat] = {
    f.name: f
    for f in [
        MessageFormat(
            "slack.receive",
            RECEIVE_CHANNEL,
            required={
                "type": (str,),
                "team": (str,),
                "channel": (str,),
                "user": (str,),
                "text": (str,),
                "timestamp": (str,),
                "event_id": (str,),
            },
            optional={"thread": ((str, type(None)), None)},
        ),
        MessageFormat(
            "slack.send",
            SEND_CHANNEL,
            required={"channel": (str,), "text": (str,)},
            optional={"thread": ((str, type(None)), None)},
        ),
    ]
}


def validate(format_name: str, message: Any) -> dict[str, Any]:
    """Check ``message`` against one Slack format; return it.

    Raises ``InvalidMessage`` naming the key that is missing, of the wrong
    type, empty where a value is needed, or (for ``type``) not an allowed value.
    """
    message = validate_format(FORMATS[format_name], message)
    if format_name == "slack.receive":
        if message["type"] not in RECEIVE_TYPES:
            raise InvalidMessage(
                f"slack.receive key 'type' must be one of {', '.join(RECEIVE_TYPES)}; "
                f"got {message['type']!r}"
            )
    else:
        if not message["channel"].strip():
            raise InvalidMessage("slack.send key 'channel' must be a Slack channel ID or #name")
        if not message["text"].strip():
            raise InvalidMessage("slack.send key 'text' must not be empty")
        if len(message["text"]) > MAX_TEXT:
            raise InvalidMessage(
                f"slack.send key 'text' is {len(message['text'])} characters; "
                f"Slack takes at most {MAX_TEXT}"
            )
    return cast("dict[str, Any]", message)  # validate_format checked it


def normalize(format_name: str, message: Any) -> dict[str, Any]:
    """Validate ``message`` and return a copy with the optional keys filled in."""
    validate(format_name, message)
    return normalize_format(FORMATS[format_name], message)


def slack_receive(
    *,
    type: str,
    team: str,
    channel: str,
    user: str,
    text: str,
    timestamp: str,
    event_id: str,
    thread: str | None = None,
) -> dict[str, Any]:
    """``slack.receive``: a person wrote ``text`` in Slack channel ``channel``.

    ``thread`` is the ``ts`` of the thread's first message when the message
    was written in a thread (answer there by passing it on to
    :func:`slack_send`), else None.
    """
    return validate(
        "slack.receive",
        {
            "type": type,
            "team": team,
            "channel": channel,
            "user": user,
            "text": text,
            "timestamp": timestamp,
            "thread": thread,
            "event_id": event_id,
        },
    )


def slack_send(*, channel: str, text: str, thread: str | None = None) -> dict[str, Any]:
    """``slack.send``: post ``text`` to ``channel`` (an ID, or ``#name``), in ``thread`` if given."""
    message: dict[str, Any] = {"channel": channel, "text": text}
    if thread is not None:
        message["thread"] = thread
    return validate("slack.send", message)


@dataclass(frozen=True)
class SlackPost:
    """A ``slack.send`` message reduced to the ``chat.postMessage`` it asks for."""

    channel: str
    text: str
    thread: str | None

    def api_arguments(self) -> dict[str, str]:
        """The JSON body of the ``chat.postMessage`` call."""
        arguments = {"channel": self.channel, "text": self.text}
        if self.thread is not None:
            arguments["thread_ts"] = self.thread
        return arguments


def parse_slack_send(message: Any) -> SlackPost:
    """Interpret a ``slack.send`` message, raising ``InvalidMessage`` if malformed.

    Unknown keys are refused so that a misspelt ``thread`` is an error, not a
    message posted outside its thread.
    """
    validate("slack.send", message)
    reject_unknown_keys(FORMATS["slack.send"], message)
    return SlackPost(message["channel"], message["text"], message.get("thread"))
