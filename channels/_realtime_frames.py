"""The wire format of presence and acknowledged sends: every frame these
features put on, or take off, a WebSocket is built or parsed here.

See docs/topics/realtime.rst, "Wire format". All frames are JSON objects in
text frames. Server to client:

* presence state: ``{"presence": name, "state": {key: {"metas": [...]}}, "ttl": s}``
* presence diff: ``{"presence": name, "joins": {...}, "leaves": {...}}``
* a send that asks for an ack: ``{"payload": data, "ack_request": id}``
* the reply to a request: ``{"payload": data, "reply": id}`` or
  ``{"error": text, "reply": id}``

(the last two carry ``"stream": name`` too on a multiplexed socket).
Client to server:

* presence heartbeat: ``{"presence": name, "heartbeat": true}``
* an ack: ``{"ack": id}``
* a request: ``{"payload": data, "request": id}`` (plus ``"stream"``)

Pure functions: plain values in, plain values (frames as ASGI
``websocket.send`` content, or parsed dicts) out.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = [
    "ACK_ID",
    "PresenceMembers",
    "ack_request_frame",
    "parse_client_frame",
    "presence_diff_frame",
    "presence_state_frame",
    "reply_frame",
]

#: Members of a presence as sent: key -> {"metas": [meta, ...]}.
PresenceMembers = dict[str, dict[str, list[dict[str, Any]]]]

#: What an ack or request id may look like (ids are opaque to clients; the
#: server's are letters, a client's anything of this shape).
ACK_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}\Z")

# Substrings every client control frame contains: frames without them are
# passed on without being parsed.
_MARKERS = ('"heartbeat"', '"ack"', '"request"')


def _text(content: dict[str, Any]) -> dict[str, Any]:
    return {"text": json.dumps(content, separators=(",", ":"))}


def presence_state_frame(name: str, members: PresenceMembers, ttl: float) -> dict[str, Any]:
    """The frame telling one socket every member of presence ``name``."""
    return _text({"presence": name, "state": members, "ttl": ttl})


def presence_diff_frame(name: str, joins: PresenceMembers, leaves: PresenceMembers) -> dict:
    """The frame telling a presence's sockets who joined and who left."""
    return _text({"presence": name, "joins": joins, "leaves": leaves})


def ack_request_frame(ack_id: str, payload: Any, stream: str | None = None) -> dict[str, Any]:
    """A frame carrying ``payload`` that the client must acknowledge."""
    content: dict[str, Any] = {"payload": payload, "ack_request": ack_id}
    if stream is not None:
        content["stream"] = stream
    return _text(content)


def reply_frame(
    request_id: str, payload: Any = None, error: str | None = None, stream: str | None = None
) -> dict[str, Any]:
    """The answer to a client's request: its payload, or an error text."""
    content: dict[str, Any] = {"reply": request_id}
    if error is not None:
        content["error"] = error
    else:
        content["payload"] = payload
    if stream is not None:
        content["stream"] = stream
    return _text(content)


def parse_client_frame(text: str | None) -> tuple[str, dict[str, Any]] | None:
    """What a client's text frame is, when it is one of ours.

    ``("heartbeat", {"presence": name})``, ``("ack", {"ack": id})`` or
    ``("request", {"request": id, "payload": data, "stream": name or None})``;
    None for any other frame (which then goes to the consumer unchanged).
    Frames that look like ours but break the format raise ``ValueError``
    saying what was expected.
    """
    if not text or text[0] != "{" or not any(marker in text for marker in _MARKERS):
        return None
    try:
        content = json.loads(text)
    except ValueError:
        return None
    if not isinstance(content, dict):
        return None
    if "presence" in content and "heartbeat" in content:
        if not isinstance(content["presence"], str):
            raise ValueError(
                f"A presence heartbeat names its presence as a string, got {text:.200}"
            )
        return "heartbeat", {"presence": content["presence"]}
    if set(content) == {"ack"}:
        return "ack", {"ack": _check_id(content["ack"], "ack", text)}
    if (
        "request" in content
        and "payload" in content
        and set(content) <= {"request", "payload", "stream"}
    ):
        stream = content.get("stream")
        if stream is not None and not isinstance(stream, str):
            raise ValueError(f"A request's stream must be a string, got {text:.200}")
        request_id = _check_id(content["request"], "request", text)
        return "request", {"request": request_id, "payload": content["payload"], "stream": stream}
    return None


def _check_id(value: Any, key: str, text: str) -> str:
    if not isinstance(value, str) or not ACK_ID.match(value):
        raise ValueError(
            f"The {key!r} id of a frame must be 1-64 letters, digits, '-' or '_', got {text:.200}"
        )
    return value
