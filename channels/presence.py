"""Presence: who is connected to a room, with join/leave diffs for the
JavaScript client.

See docs/topics/realtime.rst, "Presence".

``Presence("room-1").join(message.reply_channel, {"user": "ann"})`` records
the socket in the layer's ``presence`` extension (see asgi._presence) for
``ttl`` seconds, adds it to the group ``presence.room-1`` and sends it the
whole member list; every socket in the group gets a diff of who joined and
who left. Sockets of one user (same ``meta["user"]``, or the same ``key``
function result) fold into one entry listing each socket's meta. A member
whose socket stops renewing it (``touch``, which the JS client's heartbeat
triggers every ``ttl / 3`` seconds) is gone from ``list()`` after ``ttl``
seconds and reported as a leave by the next operation on the presence; a
member whose socket closes, or whose daphne dies (the lease janitor then
sends its ``websocket.disconnect``), leaves at once through the consumer's
disconnect handler (``PresenceMixin`` / ``@channel_presence``).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import Any

from asgi.types import ChannelLayer

from ._aliases import DEFAULT_CHANNEL_LAYER
from ._realtime_frames import (
    PresenceMembers,
    parse_client_frame,
    presence_diff_frame,
    presence_state_frame,
)
from .channel import Channel, Group, _as_name, _member_name, _resolve_layer
from .exceptions import PresenceNotSupported

__all__ = [
    "DEFAULT_PRESENCE_TTL",
    "Presence",
    "PresenceMixin",
    "channel_presence",
    "handle_heartbeat",
    "socket_ref",
    "user_meta",
]

#: Seconds a member stays listed without a renewal.
DEFAULT_PRESENCE_TTL = 60.0

#: The group a presence's diffs go to is this prefix plus its name.
GROUP_PREFIX = "presence."

KeyFunction = Callable[[dict[str, Any]], str]


def socket_ref(reply_channel: str) -> str:
    """An opaque, stable id of one socket, sent to clients instead of its
    reply channel name (which must stay secret)."""
    return hashlib.sha256(reply_channel.encode()).hexdigest()[:16]


def default_key(meta: dict[str, Any]) -> str:
    """A member's key: ``meta["user"]`` when present, else its socket's ref."""
    if meta.get("user") is not None:
        return str(meta["user"])
    return str(meta["ref"])


class Presence:
    """The members of presence ``name`` on the layer ``alias`` (or ``channel_layer``)."""

    def __init__(
        self,
        name: str,
        ttl: float = DEFAULT_PRESENCE_TTL,
        key: KeyFunction | None = None,
        alias: str = DEFAULT_CHANNEL_LAYER,
        channel_layer: ChannelLayer | None = None,
    ) -> None:
        self.name = _as_name(name, "Presence")
        self.channel_layer = _resolve_layer(alias, channel_layer)
        if "presence" not in getattr(self.channel_layer, "extensions", ()):
            raise PresenceNotSupported(
                f"Presence needs a channel layer with the 'presence' extension "
                f"(asgi.inmemory, asgi_redis); {self.channel_layer} has "
                f"{list(getattr(self.channel_layer, 'extensions', []))}"
            )
        self.channel_layer.valid_group_name(GROUP_PREFIX + self.name)
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl <= 0:
            raise ValueError(f"Presence ttl must be a positive number of seconds, got {ttl!r}")
        self.ttl = float(ttl)
        self.key = key or default_key

    @property
    def group(self) -> Group:
        """The group every member's socket is in: diffs are sent to it."""
        return Group(GROUP_PREFIX + self.name, channel_layer=self.channel_layer)

    def join(self, reply_channel: Channel | str, meta: dict[str, Any] | None = None) -> None:
        """Add a socket with ``meta`` (a small JSON-able dict), send it the
        member list, and tell the group it joined (if it was not a member)."""
        channel = _member_name(reply_channel)
        meta = dict(meta or {})
        gone = dict(self.channel_layer.presence_reap(self.name))
        # a socket joining again after it expired was never reported gone
        gone.pop(channel, None)
        new = self.channel_layer.presence_join(self.name, channel, meta, self.ttl)
        group = self.group
        group.add(channel)
        for member in gone:
            group.discard(member)
        frame = presence_state_frame(self.name, self._fold(self._members()), self.ttl)
        Channel(channel, channel_layer=self.channel_layer).send(frame)
        self._announce({channel: meta} if new else {}, gone)

    def leave(self, reply_channel: Channel | str) -> None:
        """Remove a socket and tell the group (nothing when it was no member)."""
        channel = _member_name(reply_channel)
        meta = self.channel_layer.presence_leave(self.name, channel)
        self.group.discard(channel)
        left = {channel: meta} if meta is not None else {}
        left.update(self._reap())
        self._announce({}, left)

    def touch(self, reply_channel: Channel | str) -> bool:
        """Keep a socket listed ``ttl`` more seconds; False when it is no
        longer a member (it expired: join it again)."""
        channel = _member_name(reply_channel)
        return bool(self.channel_layer.presence_touch(self.name, channel, self.ttl))

    def reap(self) -> None:
        """Drop the members whose TTL ran out and tell the group they left."""
        self._announce({}, self._reap())

    def list(self) -> PresenceMembers:
        """The members, folded by key: ``{key: {"metas": [meta, ...]}}``;
        each meta carries the socket's ``ref``."""
        self.reap()
        return self._fold(self._members())

    # -- internals -----------------------------------------------------------------

    def _members(self) -> dict[str, dict[str, Any]]:
        return dict(self.channel_layer.presence_members(self.name))

    def _reap(self) -> dict[str, dict[str, Any]]:
        gone = dict(self.channel_layer.presence_reap(self.name))
        if gone:
            group = self.group
            for channel in gone:
                group.discard(channel)
        return gone

    def _announce(self, joined: dict[str, dict], left: dict[str, dict]) -> None:
        if joined or left:
            frame = presence_diff_frame(self.name, self._fold(joined), self._fold(left))
            self.group.send(frame)

    def _fold(self, members: dict[str, dict[str, Any]]) -> PresenceMembers:
        folded: PresenceMembers = {}
        for channel in sorted(members, key=socket_ref):
            meta = dict(members[channel], ref=socket_ref(channel))
            folded.setdefault(self.key(meta), {"metas": []})["metas"].append(meta)
        return folded

    def __repr__(self) -> str:
        return f"<Presence {self.name}>"


def user_meta(message: Any) -> dict[str, Any]:
    """The default meta: ``{"user": username}`` for a logged-in ``message.user``."""
    user = getattr(message, "user", None)
    if user is not None and getattr(user, "is_authenticated", False):
        return {"user": user.get_username()}
    return {}


def handle_heartbeat(
    presences: list[Presence], message: Any, meta: Callable[[Any], dict[str, Any]]
) -> bool:
    """Renew the socket in the presence a heartbeat frame names (joining
    it again, with ``meta(message)``, when it had expired); True when
    ``message`` was a heartbeat for one of ``presences``."""
    parsed = parse_client_frame(message.get("text"))
    if parsed is None or parsed[0] != "heartbeat":
        return False
    name = parsed[1]["presence"]
    for presence in presences:
        if presence.name == name:
            if not presence.touch(message.reply_channel):
                presence.join(message.reply_channel, meta(message))
            presence.reap()
            return True
    return False


class PresenceMixin:
    """For ``WebsocketConsumer`` subclasses: join ``presence_groups`` on
    connect, renew on heartbeats, leave on disconnect.

    Put it first in the bases: ``class Chat(PresenceMixin, JsonWebsocketConsumer)``.
    Names may use the route's keyword arguments: ``"room-{room}"``.
    """

    #: Presence names (``str.format`` patterns over the route's kwargs).
    presence_groups: list[str] = []
    presence_ttl: float = DEFAULT_PRESENCE_TTL
    #: Folds sockets into one entry; default ``meta["user"]`` or the socket.
    presence_key: KeyFunction | None = None
    #: Renew on every frame the socket sends, not only on heartbeats (one
    #: more layer call per frame; for clients that send no heartbeats).
    presence_touch_on_receive = False

    message: Any

    def presence_meta(self, message: Any) -> dict[str, Any]:
        """This socket's meta (default: the logged-in user's name, if any)."""
        return user_meta(message)

    def presences(self, **kwargs: Any) -> list[Presence]:
        """The presences of this socket."""
        key = type(self).presence_key
        return [
            Presence(
                pattern.format(**kwargs),
                ttl=self.presence_ttl,
                key=key,
                channel_layer=self.message.channel_layer,
            )
            for pattern in self.presence_groups
        ]

    def raw_connect(self, message: Any, **kwargs: Any) -> None:
        super().raw_connect(message, **kwargs)  # type: ignore[misc]
        meta = self.presence_meta(message)
        for presence in self.presences(**kwargs):
            presence.join(message.reply_channel, meta)

    def raw_receive(self, message: Any, **kwargs: Any) -> None:
        presences = self.presences(**kwargs)
        if handle_heartbeat(presences, message, self.presence_meta):
            return
        if self.presence_touch_on_receive:
            for presence in presences:
                if not presence.touch(message.reply_channel):
                    presence.join(message.reply_channel, self.presence_meta(message))
        super().raw_receive(message, **kwargs)  # type: ignore[misc]

    def raw_disconnect(self, message: Any, **kwargs: Any) -> None:
        for presence in self.presences(**kwargs):
            presence.leave(message.reply_channel)
        super().raw_disconnect(message, **kwargs)  # type: ignore[misc]


def channel_presence(
    name: str,
    meta: Callable[[Any], dict[str, Any]] = user_meta,
    ttl: float = DEFAULT_PRESENCE_TTL,
    key: KeyFunction | None = None,
) -> Callable[[Callable], Callable]:
    """Decorate a consumer routed for ``websocket.connect``, ``receive`` and
    ``disconnect``: the socket joins presence ``name`` (a ``str.format``
    pattern over the route's kwargs) after a connect, is renewed by its
    heartbeats (which never reach the consumer) and leaves after a disconnect.
    ``meta(message)`` gives the socket's meta."""

    def decorator(func: Callable) -> Callable:
        @functools.wraps(func)
        def inner(message: Any, *args: Any, **kwargs: Any) -> Any:
            presence = Presence(
                name.format(**kwargs), ttl=ttl, key=key, channel_layer=message.channel_layer
            )
            kind = message.channel.name
            if kind == "websocket.receive" and handle_heartbeat([presence], message, meta):
                return None
            result = func(message, *args, **kwargs)
            if kind == "websocket.connect":
                presence.join(message.reply_channel, meta(message))
            elif kind == "websocket.disconnect":
                presence.leave(message.reply_channel)
            return result

        return inner

    return decorator
