"""``Channel`` and ``Group``: named destinations on a channel layer.

See docs/reference/channels.rst, "Channel and Group".

Inside a consumer their sends wait until the consumer returns (consumer
atomicity) unless ``immediately=True``; outside one they go straight out.
"""

from __future__ import annotations

from typing import Any

from asgi._history import GroupHistory
from asgi.types import ChannelLayer

from ._aliases import DEFAULT_CHANNEL_LAYER
from ._history import group_history_options, numbered_frame, resume_frames
from ._pending import pending_message_store

__all__ = ["Channel", "Group"]


def _resolve_layer(alias: str, channel_layer: ChannelLayer) -> Any:
    if channel_layer is not None:
        return channel_layer
    from .asgi import channel_layers

    return channel_layers[alias]


def _as_name(name: Any, kind: str) -> str:
    if isinstance(name, bytes):
        return name.decode("ascii")
    if not isinstance(name, str):
        raise TypeError(f"{kind} name must be a str, got {type(name).__name__}: {name!r}")
    return name


def _as_channel_name(name: Any) -> str | None:
    """A channel name as text; ``None`` is kept, as 1.x kept it.

    1.x code and its unit tests build ``Message(content, None, layer)`` for a
    message that came in on no particular channel, so ``Channel(None)`` is a
    valid (if unsendable) channel; any other non-text name is a mistake.
    """
    if name is None:
        return None
    return _as_name(name, "Channel")


class Channel:
    """A channel to send messages to, on the layer ``alias`` (or ``channel_layer``).

    ``name`` may be None (1.x allowed it): such a channel can be compared and
    printed, but sending to it fails in the layer's name check.
    """

    #: Sends buffered inside a consumer may go out together in one
    #: ``layer.send_batch`` (the pending store reads this, not the class).
    batchable = True

    def __init__(
        self,
        name: str | bytes | None,
        alias: str = DEFAULT_CHANNEL_LAYER,
        channel_layer: ChannelLayer | None = None,
    ) -> None:
        self.name = _as_channel_name(name)
        self.channel_layer = _resolve_layer(alias, channel_layer)

    def send(self, content: dict, immediately: bool = False) -> None:
        """Send ``content``; inside a consumer, when it returns unless ``immediately``."""
        if not isinstance(content, dict):
            raise TypeError(f"You can only send dicts as content on channels, got {content!r}")
        if immediately or not pending_message_store.active:
            pending_message_store.flush_held()  # sends held back earlier go first
            self.channel_layer.send(self.name, content)
        else:
            pending_message_store.append(self, content)
        pending_message_store.note_sent(self.name)

    def __str__(self) -> str:
        return str(self.name)

    def __repr__(self) -> str:
        return f"<Channel {self.name}>"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Channel):
            return self.name == other.name
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.name)


class Group:
    """A named set of channels; a send reaches every member.

    ``history`` (not in 1.x) keeps the group's last ``history`` text frames
    for ``history_ttl`` seconds and numbers them, so a socket that
    reconnects can get what it missed (docs/topics/history.rst); without
    it, the ``CHANNEL_GROUP_HISTORY`` setting decides, and by default a
    group keeps nothing, as in 1.x.
    """

    def __init__(
        self,
        name: str | bytes,
        alias: str = DEFAULT_CHANNEL_LAYER,
        channel_layer: ChannelLayer | None = None,
        history: int | None = None,
        history_ttl: float | None = None,
    ) -> None:
        self.name = _as_name(name, "Group")
        self.channel_layer = _resolve_layer(alias, channel_layer)
        self.history, self.history_ttl = group_history_options(self.name, history, history_ttl)
        if self.history:
            self._check_extension()  # here, in the caller's code, not at a deferred send

    def add(self, channel: Channel | str) -> None:
        """Add a channel (a ``Channel`` or its name) to the group."""
        # sends held back were made before the add: the new member must not get them
        pending_message_store.flush_held()
        self.channel_layer.group_add(self.name, _member_name(channel))

    def discard(self, channel: Channel | str) -> None:
        """Remove a channel from the group; absent channels are ignored."""
        # sends held back were made before the discard: the member still gets them
        pending_message_store.flush_held()
        self.channel_layer.group_discard(self.name, _member_name(channel))

    def channels(self) -> list[str]:
        """The member channel names (needs the layer's ``groups`` extension)."""
        return list(self.channel_layer.group_channels(self.name))

    def send(self, content: dict, immediately: bool = False) -> None:
        """Send ``content`` to every member; deferred inside a consumer like ``Channel.send``."""
        if not isinstance(content, dict):
            raise ValueError(f"You can only send dicts as content on groups, got {content!r}")
        if immediately or not pending_message_store.active:
            pending_message_store.flush_held()
            frame = numbered_frame(self.name, content) if self.history else None
            if frame is None:
                self.channel_layer.send_group(self.name, content)
            else:
                self._check_extension()
                self.channel_layer.send_group_history(
                    self.name, frame, self.history, self.history_ttl
                )
        else:
            pending_message_store.append(self, content)

    def resume(self, channel: Channel | str, after: int) -> GroupHistory:
        """Send ``channel`` the frames of this group's history after offset
        ``after`` (the last one its socket saw), and return that history.

        It reads what the layer kept, whatever this ``Group`` was made with,
        so a consumer need not repeat the group's history options.

        The frames (docs/topics/history.rst) go out like any send: inside a
        consumer, when it returns, after its accept. Call it after the
        socket joined the group: a message sent in between then reaches it
        twice, and the client drops the copy by its offset.
        """
        self._check_extension()
        history = self.channel_layer.group_history(self.name, after)
        reply = (
            channel
            if isinstance(channel, Channel)
            else Channel(channel, channel_layer=self.channel_layer)
        )
        for frame in resume_frames(self.name, after, history):
            reply.send(frame)
        return history

    def _check_extension(self) -> None:
        if "history" not in getattr(self.channel_layer, "extensions", ()):
            raise ValueError(
                f"The history of group {self.name!r} needs the channel layer's 'history' "
                f"extension, which {self.channel_layer} lacks (an encrypted Redis layer "
                "cannot number messages; see docs/topics/history.rst)"
            )

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<Group {self.name}>"


def _member_name(channel: Channel | str | bytes) -> str:
    if isinstance(channel, Channel):
        return channel.name
    return _as_name(channel, "Channel")
