"""Static types for the ASGI 1 channel-layer contract.

``ChannelLayer`` is what daphne, channels and asgi_redis may assume of any
layer they are handed: ``send``, ``receive``, ``new_channel``, the
``extensions`` list and the two errors a send can raise (see
docs/asgi/layers.rst, "The layer API"). It is a ``Protocol``: a layer does not
inherit from it (1.x layers and test doubles never did), it only has to
have these members. ``isinstance(layer, ChannelLayer)`` checks that the
members are there (not their signatures); the annotations are for mypy.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol, runtime_checkable

__all__ = ["ChannelLayer", "InspectableLayer", "LeasingLayer", "Message"]

#: An ASGI 1 message: a dict with text keys and msgpack-able values.
Message = dict[str, Any]


@runtime_checkable
class ChannelLayer(Protocol):
    """The core API every ASGI 1 channel layer has (extensions add more)."""

    @property
    def extensions(self) -> Sequence[str]:
        """Names of the extensions the layer supports (``"groups"``, ``"flush"``, ...)."""
        ...

    @property
    def ChannelFull(self) -> type[Exception]:  # noqa: N802 - the spec's name
        """Raised by ``send`` when the channel is at capacity."""
        ...

    @property
    def MessageTooLarge(self) -> type[Exception]:  # noqa: N802 - the spec's name
        """Raised by ``send`` when the serialized message is over the size limit."""
        ...

    def send(self, channel: str, message: Message) -> None:
        """Put ``message`` on ``channel``; raises ``ChannelFull`` when it is full."""
        ...

    def receive(self, channels: list[str], block: bool = False) -> tuple[str | None, Any]:
        """The next ``(channel, message)`` from any of ``channels``, or ``(None, None)``."""
        ...

    def new_channel(self, pattern: str) -> str:
        """A new unique channel name from ``pattern`` (ending in ``?`` or ``!``)."""
        ...


@runtime_checkable
class LeasingLayer(ChannelLayer, Protocol):
    """A layer with the ``leases`` extension, as the lease reaper uses it
    (see docs/asgi/layers.rst, "Extensions", ``leases``; ``send_batch`` is
    from "The layer API")."""

    def send_batch(self, messages: Sequence[tuple[str, Message]]) -> list[BaseException | None]:
        """Send each pair; for each, the error it raised or None."""
        ...

    def lease_claim(self, limit: int = 16) -> list[tuple[str, dict[str, str]]]:
        """Take up to ``limit`` leases that ran out: ``(owner, {reply_channel: entry})``."""
        ...


@runtime_checkable
class InspectableLayer(ChannelLayer, Protocol):
    """A layer with the ``inspect`` extension (see docs/asgi/layers.rst,
    "Extensions", ``inspect``): process heartbeats and a read-only view of
    channels, groups and servers, for ``channels_inspect``, health checks
    and metrics."""

    def heartbeat(self, record: dict[str, Any], ttl: float) -> None:
        """Store or renew ``record`` (keyed by its ``"id"``) for ``ttl`` seconds."""
        ...

    def heartbeat_remove(self, process_id: str) -> None:
        """Remove one process's record; no error when it is absent."""
        ...

    def inspect_processes(self) -> list[dict[str, Any]]:
        """The unexpired records, sorted by (kind, host, pid)."""
        ...

    def inspect_channels(self, channels: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """``{"channel", "depth", "capacity", "oldest_age"}`` per channel."""
        ...

    def inspect_groups(self, members: bool = False) -> list[dict[str, Any]]:
        """``{"group", "size"}`` per group, plus ``"members"`` when asked."""
        ...

    def inspect_shards(self) -> list[dict[str, Any]]:
        """``{"shard", "reachable", "latency"}`` per server; never raises."""
        ...
