"""The live picture of a channel layer, gathered once and shown as a table.

See docs/operating.rst, "Inspecting the layer".

:func:`snapshot` asks a layer with the ``inspect`` extension (docs/asgi/
layers.rst) for its servers, live processes, channels and groups, and
returns one JSON-able dict; ``manage.py channels_inspect`` prints it with
:func:`render` (or as JSON), and the admin page serves the same dict. The
only thing worked out here rather than read from the layer is which
channels hold messages that no live process consumes: the 1.x "503 Worker
server failed to respond" with no worker running, made visible.

Everything but :func:`snapshot` is pure: plain values in, text out.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from asgi.base_layer import INSPECT_EXTENSION

__all__ = [
    "INSPECT_EXTENSION",
    "NotInspectable",
    "consumes",
    "has_inspect",
    "render",
    "snapshot",
]

#: Shown for a channel no live process consumes, in the table and its note.
UNCONSUMED_MARK = "!"


class NotInspectable(TypeError):
    """Raised by :func:`snapshot` for a layer without the ``inspect`` extension."""


def has_inspect(layer: Any) -> bool:
    """Whether ``layer`` (raw, or wrapped by ``channels.asgi``) lists ``inspect``."""
    return INSPECT_EXTENSION in (getattr(layer, "extensions", None) or ())


def snapshot(
    layer: Any,
    channels: Iterable[str] = (),
    members: bool = False,
    clock: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """The layer's state now, as one JSON-able dict.

    ``{"time", "channels", "groups", "processes", "shards", "unconsumed"}``:
    the layer's own ``inspect_*`` results, plus on each channel its
    ``"usage"`` (depth as a percentage of capacity) and whether a live
    process ``"consumed"`` it, on each process its ``"idle"`` seconds since
    its last activity, and the names of waiting channels no live process
    consumes in ``"unconsumed"``. ``channels`` are reported as well as every
    channel with waiting messages, even when empty; ``members`` lists each
    group's members.

    Raises :class:`NotInspectable` for a layer without the extension, and
    whatever the layer raises when it cannot be reached (its shards are
    asked first, and never raise).
    """
    if not has_inspect(layer):
        raise NotInspectable(
            f"The channel layer {layer} does not list the 'inspect' extension "
            f"(it lists {list(getattr(layer, 'extensions', None) or [])}); "
            "use a layer that has it, such as asgi_redis or asgi.inmemory"
        )
    named = list(dict.fromkeys(channels))
    shards = layer.inspect_shards()
    processes = layer.inspect_processes()
    found = {entry["channel"]: entry for entry in layer.inspect_channels()}
    if named:
        for entry in layer.inspect_channels(named):
            found.setdefault(entry["channel"], entry)
    groups = layer.inspect_groups(members=members)
    now = clock()
    channel_entries = [_channel_entry(entry, processes) for _, entry in sorted(found.items())]
    return {
        "time": now,
        "channels": channel_entries,
        "groups": [dict(group) for group in groups],
        "processes": [_process_entry(record, now) for record in processes],
        "shards": [dict(shard) for shard in shards],
        "unconsumed": [
            entry["channel"]
            for entry in channel_entries
            if entry["depth"] > 0 and not entry["consumed"]
        ],
    }


def consumes(record: Mapping[str, Any], channel: str) -> bool:
    """Whether the process of heartbeat ``record`` reads ``channel``.

    Its ``channels`` are names or glob patterns (``"http.response!*"``); a
    process-specific channel is also matched by its ``name!`` prefix, the
    name a process receives on, and a layer may report it by that prefix.
    """
    patterns = record.get("channels") or ()
    if isinstance(patterns, str):
        patterns = [patterns]
    bang = channel.find("!")
    candidates = {channel} if bang < 0 else {channel, channel[: bang + 1]}
    return any(
        isinstance(pattern, str) and fnmatch.fnmatchcase(name, pattern)
        for pattern in patterns
        for name in candidates
    )


def _channel_entry(entry: Mapping[str, Any], processes: Sequence[Mapping[str, Any]]) -> dict:
    result = dict(entry)
    capacity = entry.get("capacity") or 0
    result["usage"] = round(100.0 * entry["depth"] / capacity, 1) if capacity > 0 else None
    result["consumed"] = any(consumes(record, entry["channel"]) for record in processes)
    return result


def _process_entry(record: Mapping[str, Any], now: float) -> dict:
    result = dict(record)
    last = record.get("last_activity")
    numeric = isinstance(last, (int, float)) and not isinstance(last, bool)
    result["idle"] = round(max(now - last, 0.0), 3) if numeric else None
    return result


# -- the table ---------------------------------------------------------------------------


def render(
    data: Mapping[str, Any],
    title: str = "",
    highlight: Callable[[str], str] = str,
) -> str:
    """The text ``channels_inspect`` prints for a :func:`snapshot`.

    ``highlight`` wraps the rows and the note of channels no live process
    consumes (the command passes a colour style when stdout is a terminal);
    they also carry the :data:`UNCONSUMED_MARK`, so the warning survives
    without colour.
    """
    stamp = datetime.fromtimestamp(data["time"], tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
    heading = f"{title} at {stamp} UTC" if title else f"At {stamp} UTC"
    parts = [
        heading,
        _channels_section(data["channels"], highlight),
        _groups_section(data["groups"]),
        _processes_section(data["processes"]),
        _shards_section(data["shards"]),
    ]
    unconsumed = data["unconsumed"]
    if unconsumed:
        noun = "channel has" if len(unconsumed) == 1 else "channels have"
        parts.append(
            highlight(
                f"{UNCONSUMED_MARK} {len(unconsumed)} {noun} waiting messages that no live "
                f"process consumes: {', '.join(unconsumed)}"
            )
        )
    return "\n\n".join(parts) + "\n"


def _channels_section(channels: Sequence[Mapping[str, Any]], highlight: Callable) -> str:
    if not channels:
        return "Channels: none with waiting messages"
    rows = []
    marks = []
    for entry in channels:
        unconsumed = entry["depth"] > 0 and not entry.get("consumed", True)
        marks.append(unconsumed)
        usage = entry.get("usage")
        rows.append(
            [
                UNCONSUMED_MARK if unconsumed else "",
                entry["channel"],
                str(entry["depth"]),
                str(entry["capacity"]),
                "-" if usage is None else f"{usage:g}%",
                _seconds(entry.get("oldest_age")),
            ]
        )
    lines = _table(["", "CHANNEL", "DEPTH", "CAPACITY", "USE", "OLDEST"], rows, "llrrrr")
    body = [lines[0]] + [highlight(line) if mark else line for line, mark in zip(lines[1:], marks)]
    return _section("Channels", body)


def _groups_section(groups: Sequence[Mapping[str, Any]]) -> str:
    if not groups:
        return "Groups: none"
    lines = _table(
        ["GROUP", "SIZE"], [[group["group"], str(group["size"])] for group in groups], "lr"
    )
    out = [lines[0]]
    for line, group in zip(lines[1:], groups):
        out.append(line)
        if "members" in group:
            out.extend(f"    {member}" for member in group["members"])
    return _section("Groups", out)


def _processes_section(processes: Sequence[Mapping[str, Any]]) -> str:
    if not processes:
        return "Processes: no live heartbeats"
    rows = [
        [
            str(record.get("kind", "?")),
            str(record.get("host", "?")),
            str(record.get("pid", "?")),
            _shorten(",".join(str(c) for c in record.get("channels") or ()), 48),
            str(record.get("handled", "-")),
            _seconds(record.get("idle")),
        ]
        for record in processes
    ]
    lines = _table(["KIND", "HOST", "PID", "CHANNELS", "HANDLED", "IDLE"], rows, "llrlrr")
    return _section("Processes", lines)


def _shards_section(shards: Sequence[Mapping[str, Any]]) -> str:
    rows = [
        [
            str(shard["shard"]),
            "up" if shard["reachable"] else "UNREACHABLE",
            "-" if shard.get("latency") is None else f"{shard['latency'] * 1000:.2f} ms",
        ]
        for shard in shards
    ]
    lines = _table(["SHARD", "STATE", "LATENCY"], rows, "llr")
    return _section("Shards", lines)


def _section(title: str, lines: Sequence[str]) -> str:
    return title + "\n" + "\n".join("  " + line for line in lines)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: str) -> list[str]:
    """Lines of a space-separated table: the header, then one per row
    (``align`` has an ``l`` or ``r`` per column)."""
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows)]

    def line(cells: Sequence[str]) -> str:
        padded = [
            cell.rjust(width) if side == "r" else cell.ljust(width)
            for cell, width, side in zip(cells, widths, align)
        ]
        return "  ".join(padded).rstrip()

    return [line(headers)] + [line(row) for row in rows]


def _seconds(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}s"


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
