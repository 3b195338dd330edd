"""Group history on the WebSocket: options, frames and the resume parameter.

See docs/topics/history.rst, which documents the wire format built here.

Everything a history frame looks like is built in this module, and nowhere
else: the numbered frame a group send becomes, the resume frames a
reconnecting socket gets, and the ``channels_history`` query parameter the
JavaScript client sends when it reconnects. :mod:`channels.channel` and
:mod:`channels.history` call it; it does no I/O.
"""

from __future__ import annotations

import fnmatch
import json
import re
from typing import Any
from urllib.parse import parse_qsl

from django.core.exceptions import ImproperlyConfigured

from asgi._history import OFFSET_MARK, GroupHistory

from .exceptions import HistoryResumeError

__all__ = [
    "DEFAULT_HISTORY_TTL",
    "RESUME_BUDGET",
    "RESUME_PARAMETER",
    "group_history_options",
    "numbered_frame",
    "parse_resume",
    "resume_frames",
]

#: Seconds a history lives after the group's last send when no ttl is given.
DEFAULT_HISTORY_TTL = 300
#: The query-string parameter of a reconnecting socket: ``news:17,chat:12``.
RESUME_PARAMETER = "channels_history"
#: Characters of missed frames one resume frame carries at most (more go
#: into further resume frames), so a long history never makes one huge frame.
RESUME_BUDGET = 256 * 1024

_RESUME_ENTRY = re.compile(r"^([A-Za-z0-9_.\-]{1,100}):([0-9]{1,20})$")


def group_history_options(
    name: str, history: int | None, history_ttl: float | None
) -> tuple[int, float]:
    """``(size, ttl)`` of a group's history; size 0 means no history.

    Explicit arguments win; otherwise the first pattern of the
    ``CHANNEL_GROUP_HISTORY`` setting that matches ``name`` (fnmatch).
    """
    if history is None:
        history, setting_ttl = _from_setting(name)
        if history_ttl is None:
            history_ttl = setting_ttl
    if history is False or history == 0:
        return 0, 0
    if not isinstance(history, int) or isinstance(history, bool) or history < 0:
        raise ValueError(f"history must be a positive int (messages kept), got {history!r}")
    ttl = DEFAULT_HISTORY_TTL if history_ttl is None else history_ttl
    if not isinstance(ttl, (int, float)) or isinstance(ttl, bool) or not ttl > 0:
        raise ValueError(f"history_ttl must be a positive number of seconds, got {ttl!r}")
    return history, ttl


def _from_setting(name: str) -> tuple[int, float | None]:
    from django.conf import settings

    if not settings.configured:
        return 0, None
    patterns = getattr(settings, "CHANNEL_GROUP_HISTORY", None)
    if not patterns:
        return 0, None
    if not isinstance(patterns, dict):
        raise ImproperlyConfigured(
            "CHANNEL_GROUP_HISTORY must be a dict of group name patterns to "
            f'{{"size": int, "ttl": seconds}}, got {type(patterns).__name__}'
        )
    for pattern, options in patterns.items():
        if fnmatch.fnmatchcase(name, pattern):
            return _setting_entry(pattern, options)
    return 0, None


def _setting_entry(pattern: str, options: Any) -> tuple[int, float | None]:
    if not isinstance(options, dict) or "size" not in options or set(options) - {"size", "ttl"}:
        raise ImproperlyConfigured(
            f'CHANNEL_GROUP_HISTORY[{pattern!r}] must be {{"size": int, "ttl": seconds}} '
            f"(ttl optional, default {DEFAULT_HISTORY_TTL}), got {options!r}"
        )
    size, ttl = options["size"], options.get("ttl")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ImproperlyConfigured(
            f"CHANNEL_GROUP_HISTORY[{pattern!r}]['size'] must be an int >= 0, got {size!r}"
        )
    if ttl is not None and (not isinstance(ttl, (int, float)) or isinstance(ttl, bool) or ttl <= 0):
        raise ImproperlyConfigured(
            f"CHANNEL_GROUP_HISTORY[{pattern!r}]['ttl'] must be positive seconds, got {ttl!r}"
        )
    return size, ttl


def numbered_frame(group: str, content: dict[str, Any]) -> dict[str, Any] | None:
    """The message a group send with history delivers, or None when
    ``content`` has no text frame to number (a close, a binary frame).

    Its text is ``{"history":{"group":G,"offset":N},"text":T}``; the offset is
    the layer's to write, where the mark stands.
    """
    text = content.get("text")
    if not isinstance(text, str):
        return None
    head = '{"history":{"group":' + json.dumps(group) + ',"offset":' + OFFSET_MARK
    envelope = head + '},"text":' + json.dumps(text) + "}"
    return {**content, "text": envelope}


def _original(message: dict[str, Any]) -> str | None:
    """The text a numbered frame carries (None for a message that is not one)."""
    try:
        envelope = json.loads(message.get("text") or "")
    except ValueError:
        return None
    text = envelope.get("text") if isinstance(envelope, dict) else None
    return text if isinstance(text, str) else None


def resume_frames(group: str, after: int, history: GroupHistory) -> list[dict[str, Any]]:
    """The frames that tell a reconnecting socket what it missed in ``group``.

    Each is ``{"history": {"group", "after", "last", "gap", "more"},
    "missed": [[offset, text], ...]}``; there is always at least one, and
    the last has ``"more": false``. ``gap`` is true when the history no
    longer reached back to ``after``.
    """
    chunks: list[list[list[Any]]] = [[]]
    used = 0
    for offset, message in history.messages:
        text = _original(message)
        if text is None:
            continue
        if used and used + len(text) > RESUME_BUDGET:
            chunks.append([])
            used = 0
        chunks[-1].append([offset, text])
        used += len(text)
    frames = []
    for index, missed in enumerate(chunks):
        head = {
            "group": group,
            "after": after,
            "last": history.last,
            "gap": history.gap,
            "more": index < len(chunks) - 1,
        }
        frames.append({"text": json.dumps({"history": head, "missed": missed})})
    return frames


def parse_resume(query_string: str | bytes) -> dict[str, int]:
    """The offsets a reconnecting socket gave in ``channels_history``:
    ``{group: offset}``. Raises HistoryResumeError for a malformed value."""
    if isinstance(query_string, bytes):
        query_string = query_string.decode("latin-1")
    offsets: dict[str, int] = {}
    for key, value in parse_qsl(query_string, keep_blank_values=True):
        if key != RESUME_PARAMETER:
            continue
        for entry in value.split(","):
            match = _RESUME_ENTRY.match(entry)
            if match is None:
                raise HistoryResumeError(
                    f"{RESUME_PARAMETER} must be group:offset pairs separated by commas "
                    f"(e.g. news:17,chat:4), got {entry!r}"
                )
            offsets[match.group(1)] = int(match.group(2))
    return offsets
