"""What the layer page in Django's admin shows: one inspection, ready to display.

See docs/operating.rst, "The admin page". ``read_layer`` takes one
``snapshot()`` of a configured layer (the same picture as
``manage.py channels_inspect``) and adds what the page derives from it:
capacity use per channel, whether nobody consumes it, and each process's
idle time and uptime. It never raises for a layer that cannot be inspected:
the answer then carries the reason and the HTTP status to send, so the page
and its JSON endpoint say what is wrong instead of failing with a 500.

Both the first server-side rendering and the JSON the page polls come from
here, so the numbers agree; the browser keeps the history (sparklines).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ._aliases import DEFAULT_CHANNEL_LAYER

__all__ = [
    "LAYER_ERROR",
    "NO_INSPECT",
    "UNKNOWN_LAYER",
    "LayerReading",
    "format_percent",
    "format_seconds",
    "present",
    "read_layer",
]

logger = logging.getLogger("channels.admin")

#: Reasons a reading has no snapshot, and the HTTP status each one answers with.
UNKNOWN_LAYER = "unknown_layer"
NO_INSPECT = "no_inspect"
LAYER_ERROR = "layer_error"
STATUS = {UNKNOWN_LAYER: 404, NO_INSPECT: 501, LAYER_ERROR: 503}


@dataclass
class LayerReading:
    """One look at a layer: a presented snapshot, or the reason there is none."""

    alias: str
    backend: str = ""
    snapshot: dict[str, Any] | None = None
    reason: str | None = None
    message: str = ""
    aliases: list[str] = field(default_factory=list)

    @property
    def status(self) -> int:
        """The HTTP status of the JSON answer: 200, or the one of the reason."""
        return STATUS[self.reason] if self.reason else 200

    def as_json(self) -> dict[str, Any]:
        """The JSON endpoint's body: the snapshot's keys, plus ``layer`` and ``error``."""
        body: dict[str, Any] = {
            "layer": {"alias": self.alias, "backend": self.backend},
            "error": None,
        }
        if self.reason:
            body["error"] = {"reason": self.reason, "message": self.message}
        else:
            body.update(self.snapshot or {})
        return body


def read_layer(
    alias: str = DEFAULT_CHANNEL_LAYER, channels: Iterable[str] = (), members: bool = False
) -> LayerReading:
    """Inspect the layer ``alias`` once; a layer that cannot be read gives a reason."""
    from ._inspect_view import has_inspect, snapshot
    from .asgi import channel_layers

    aliases = sorted(channel_layers.configs)
    reading = LayerReading(alias=alias, aliases=aliases)
    if alias not in channel_layers:
        reading.reason = UNKNOWN_LAYER
        reading.message = f"No channel layer {alias!r} in CHANNEL_LAYERS (configured: {aliases})"
        return reading
    try:
        layer = channel_layers[alias].channel_layer
    except Exception as exc:  # noqa: BLE001 - a misconfigured layer is shown, not a 500
        return _failed(reading, exc)
    reading.backend = f"{type(layer).__module__}.{type(layer).__qualname__}"
    if not has_inspect(layer):
        reading.reason = NO_INSPECT
        reading.message = (
            f"The channel layer {alias!r} ({reading.backend}) does not support inspection: "
            "its extensions do not include 'inspect', so there is nothing to show here. "
            "The Redis and in-memory layers of channels-classic support it."
        )
        return reading
    try:
        reading.snapshot = present(snapshot(layer, channels=tuple(channels), members=members))
    except Exception as exc:  # noqa: BLE001 - any layer's connection error: shown and retried
        return _failed(reading, exc)
    return reading


def _failed(reading: LayerReading, exc: Exception) -> LayerReading:
    logger.warning("The layer page cannot read channel layer %r: %r", reading.alias, exc)
    reading.reason = LAYER_ERROR
    reading.message = (
        f"Cannot read the channel layer {reading.alias!r}: {type(exc).__name__}: {exc}"
    )
    return reading


def present(snapshot: dict[str, Any]) -> dict[str, Any]:
    """Add the page's derived values to a snapshot (a copy; the input is unchanged).

    Channels gain ``unconsumed`` (listed in the snapshot's ``unconsumed``:
    messages wait and no live process reads them); processes gain
    ``uptime``, seconds since they started, at the snapshot's time.
    """
    now = snapshot["time"]
    unconsumed = set(snapshot.get("unconsumed", ()))
    channels = [
        {**row, "unconsumed": row["channel"] in unconsumed} for row in snapshot.get("channels", ())
    ]
    processes = []
    for record in snapshot.get("processes", ()):
        started = record.get("started")
        numeric = isinstance(started, (int, float)) and not isinstance(started, bool)
        processes.append({**record, "uptime": max(0.0, now - started) if numeric else None})
    return {**snapshot, "channels": channels, "processes": processes}


def format_seconds(seconds: float | None) -> str:
    """A duration for people: "-" for none, then ms (decimals under 10), s, min or h (as the page's script)."""
    if seconds is None:
        return "-"
    if seconds < 0.001:  # a local Redis round trip: tens of microseconds
        return f"{seconds * 1000:.2f} ms"
    if seconds < 0.01:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def format_percent(percent: float | None) -> str:
    """A percentage (the snapshot's ``usage``), "-" for none (as the page's script)."""
    if percent is None:
        return "-"
    return f"{percent:.0f} %"
