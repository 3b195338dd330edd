"""Group history and resume after reconnect, for consumers (not in 1.x).

See docs/topics/history.rst.

A group made with ``Group("news", history=100, history_ttl=300)`` (or matched
by the ``CHANNEL_GROUP_HISTORY`` setting) numbers its text frames and keeps
the last ones for a while. A socket that reconnects says where it stopped in
the ``channels_history`` query parameter (the JavaScript bridge does it by
itself); :func:`resume_history`, called from its ``websocket.connect``
consumer after it joined its groups, sends it what it missed, or a gap.
Generic consumers get the same from :class:`channels.generic.history.ResumeHistoryMixin`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from asgi._history import GroupHistory

from ._history import RESUME_PARAMETER, parse_resume
from .channel import Group
from .exceptions import HistoryResumeError

__all__ = ["RESUME_PARAMETER", "HistoryResumeError", "resume_history", "resume_offsets"]


def resume_offsets(message: Any) -> dict[str, int]:
    """``{group: last offset seen}`` from a ``websocket.connect`` message's
    ``channels_history`` query parameter (empty on a first connect).

    Raises :class:`~channels.exceptions.HistoryResumeError` (the worker then
    closes the socket with 4400) when the parameter is malformed.
    """
    return parse_resume(message.content.get("query_string") or b"")


def resume_history(
    message: Any, groups: Iterable[str], offsets: dict[str, int] | None = None
) -> dict[str, GroupHistory]:
    """Send the socket of ``message`` what it missed in each of ``groups``.

    Only ``groups`` are resumed, whatever else the client asks for: a socket
    reads the history of the groups its consumer put it in, no others.
    Groups the client gave no offset for are skipped (a client only has
    offsets of groups that keep history). Returns the history sent, by group.
    """
    if offsets is None:
        offsets = resume_offsets(message)
    resumed: dict[str, GroupHistory] = {}
    for name in groups:
        if name not in offsets:
            continue
        group = Group(name, channel_layer=message.channel_layer)
        resumed[name] = group.resume(message.reply_channel, offsets[name])
    return resumed
