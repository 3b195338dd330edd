"""Reading an Events API request body (sans-IO).

:func:`read_callback` turns the JSON Slack posts into one of:

- :class:`Challenge`: the ``url_verification`` handshake, answered with
  its ``challenge``;
- :class:`Event`: an ``event_callback`` for a ``message`` or
  ``app_mention`` written by a person, with the ``slack.receive`` message
  to send;
- :class:`Ignored`: anything else that is well formed (other event types,
  edits and deletions, messages from bots, including this bot's own, so
  that a bot never answers itself), acknowledged and not passed on.

A body that is not a JSON object of the Events API raises
:class:`BadCallback` (answered 400).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from asgi import slack as asgi_slack
from asgi.exceptions import InvalidMessage

__all__ = ["BadCallback", "Challenge", "Event", "Ignored", "read_callback"]

#: Message subtypes that are still a person writing something.
_PERSON_SUBTYPES = frozenset({"thread_broadcast", "file_share", "me_message"})


class BadCallback(ValueError):
    """The body is not an Events API callback; the message says what was expected."""


@dataclass(frozen=True)
class Challenge:
    challenge: str


@dataclass(frozen=True)
class Event:
    event_id: str
    message: dict[str, Any]


@dataclass(frozen=True)
class Ignored:
    event_id: str | None
    reason: str


def read_callback(body: bytes) -> Challenge | Event | Ignored:
    """Interpret an Events API request body (see the module docstring)."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise BadCallback("expected a JSON body from Slack's Events API") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        raise BadCallback("expected a JSON object with a 'type' (Slack's Events API)")
    kind = payload["type"]
    if kind == "url_verification":
        challenge = payload.get("challenge")
        if not isinstance(challenge, str):
            raise BadCallback("url_verification needs a string 'challenge'")
        return Challenge(challenge)
    if kind != "event_callback":
        return Ignored(None, f"callback type {kind!r}")
    event_id, event = payload.get("event_id"), payload.get("event")
    if not isinstance(event_id, str) or not isinstance(event, dict):
        raise BadCallback("event_callback needs a string 'event_id' and an 'event' object")
    return _read_event(event_id, payload, event)


def _read_event(event_id: str, payload: dict[str, Any], event: dict[str, Any]) -> Event | Ignored:
    event_type = event.get("type")
    if event_type not in asgi_slack.RECEIVE_TYPES:
        return Ignored(event_id, f"event type {event_type!r}")
    subtype = event.get("subtype")
    if event.get("bot_id") or subtype == "bot_message":
        return Ignored(event_id, "a bot's message")
    if subtype is not None and subtype not in _PERSON_SUBTYPES:
        return Ignored(event_id, f"message subtype {subtype!r}")
    team = event.get("team") or payload.get("team_id") or ""
    try:
        message = asgi_slack.slack_receive(
            type=event_type,
            team=team,
            # the builder checks the types of what Slack sent
            channel=event.get("channel"),  # type: ignore[arg-type]
            user=event.get("user"),  # type: ignore[arg-type]
            text=event.get("text") or "",
            timestamp=event.get("ts"),  # type: ignore[arg-type]
            thread=event.get("thread_ts"),
            event_id=event_id,
        )
    except InvalidMessage as exc:
        raise BadCallback(f"{event_type} event lacks what slack.receive needs: {exc}") from None
    return Event(event_id, message)
