"""Resume after reconnect for the generic WebSocket consumers (not in 1.x).

See docs/topics/history.rst.
"""

from __future__ import annotations

from typing import Any

from channels.history import resume_history, resume_offsets

__all__ = ["ResumeHistoryMixin"]


class ResumeHistoryMixin:
    """Put it before ``WebsocketConsumer`` (or one of its subclasses): on
    connect, once the socket joined ``connection_groups()`` and ``connect``
    ran, the socket gets what it missed in those of its groups that keep
    history, as the client's ``channels_history`` parameter asks. A malformed
    parameter is refused before anything else happens: the socket is closed
    with 4400 instead of being accepted.

    ``class NewsConsumer(ResumeHistoryMixin, JsonWebsocketConsumer): groups = ["news"]``
    """

    def raw_connect(self, message: Any, **kwargs: Any) -> None:
        offsets = resume_offsets(message)  # raises before the accept
        super().raw_connect(message, **kwargs)  # type: ignore[misc]
        groups = self.connection_groups(**kwargs)  # type: ignore[attr-defined]
        resume_history(message, groups, offsets)
