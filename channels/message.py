"""``Message``: what a consumer receives.

See docs/reference/channels.rst, "Message".

A dict-like view over the message content, with the channel it came in on
and its reply channel as ``Channel`` objects. The consumer-atomicity store
(``PendingMessageStore``) is re-exported from here, where 1.x kept it.
"""

from __future__ import annotations

import copy
from typing import Any

from asgi.types import ChannelLayer

from ._pending import PendingMessageStore, pending_message_store
from .channel import Channel

__all__ = ["Message", "PendingMessageStore", "pending_message_store"]


class Message:
    """A message taken off ``channel_name`` on ``channel_layer``.

    Decorators and the worker may add attributes (``channel_session``,
    ``http_session``, ``user``, ``__doomed__``).

    As in 1.x, ``channel_name`` may be None and ``channel_layer`` may be None
    (the channels then use the default layer; ``.channel_layer`` stays None):
    unit tests of decorators build messages as ``Message(content, None, None)``.
    """

    def __init__(
        self, content: dict, channel_name: str | None, channel_layer: ChannelLayer
    ) -> None:
        self.content = content
        self.channel_layer = channel_layer
        self.channel = Channel(channel_name, channel_layer=channel_layer)
        reply = content.get("reply_channel")
        self.reply_channel = Channel(reply, channel_layer=channel_layer) if reply else None

    def __getitem__(self, key: str) -> Any:
        return self.content[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.content[key] = value

    def __contains__(self, key: object) -> bool:
        return key in self.content

    def __iter__(self):
        return iter(self.content)

    def __len__(self) -> int:
        return len(self.content)

    def keys(self):
        return self.content.keys()

    def values(self):
        return self.content.values()

    def items(self):
        return self.content.items()

    def get(self, key: str, default: Any = None) -> Any:
        return self.content.get(key, default)

    def copy(self) -> Message:
        """A new Message on the same channel whose content is a deep copy."""
        return type(self)(copy.deepcopy(self.content), self.channel.name, self.channel_layer)

    def __repr__(self) -> str:
        return f"<Message on {self.channel.name}: {sorted(self.content)}>"
