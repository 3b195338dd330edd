"""The base class every ASGI 1 channel layer builds on (spec sections 1.1-1.3).

It owns the rules that must be the same in every layer: channel and group
name validation, capacity patterns, the message-size limit and the
process-specific (``!``) name split. Layers subclass it and implement the
transport.
"""

from __future__ import annotations

import fnmatch
import json
import math
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .exceptions import (
    ChannelFull,
    InvalidChannelName,
    InvalidChannelNames,
    InvalidMessage,
    MessageTooLarge,
)

__all__ = [
    "BaseChannelLayer",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "INSPECT_EXTENSION",
    "MAX_NAME_LENGTH",
    "process_sort_key",
]

#: The name layers list in ``extensions`` when they offer the ``inspect``
#: methods (heartbeats and the inspection of channels, groups and servers).
INSPECT_EXTENSION = "inspect"

#: Names must be shorter than this (the spec asks layers to accept at least
#: 100 bytes; the reference base layer enforced ``len(name) < 100``).
MAX_NAME_LENGTH = 100

#: The spec requires layers to take messages of at least 1 MB; 4 MiB leaves
#: room for framing overhead and encryption.
DEFAULT_MAX_MESSAGE_SIZE = 4 * 1024 * 1024

_CHANNEL_NAME = re.compile(r"^[a-zA-Z\d\-_.]+([?!][\w\-.]*)?\Z")
_GROUP_NAME = re.compile(r"^[a-zA-Z\d\-_.]+\Z")

#: ``(layer class, receive, name)`` already found valid, and how many to keep.
_known_valid_names: set[tuple[type, bool, str]] = set()
_KNOWN_VALID_LIMIT = 4096

CapacityPatterns = Mapping[Any, int]


class BaseChannelLayer:
    """Shared behaviour of ASGI 1 channel layers.

    Subclasses implement ``send``, ``receive`` and ``new_channel``, and the
    extension methods they list in ``extensions``.
    """

    extensions: list[str] = []

    ChannelFull = ChannelFull
    MessageTooLarge = MessageTooLarge

    def __init__(
        self,
        expiry: float = 60,
        group_expiry: float = 86400,
        capacity: int = 100,
        channel_capacity: CapacityPatterns | None = None,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    ) -> None:
        self.expiry = expiry
        self.group_expiry = group_expiry
        self.capacity = capacity
        self.channel_capacity = self.compile_capacities(channel_capacity or {})
        if max_message_size < 1024 * 1024:
            raise ValueError(
                "max_message_size must be at least 1 MiB (the ASGI spec's minimum), "
                f"got {max_message_size!r}"
            )
        self.max_message_size = max_message_size

    # -- the required API ------------------------------------------------------

    def send(self, channel: str, message: dict[str, Any]) -> None:
        raise NotImplementedError

    def receive(
        self, channels: list[str], block: bool = False
    ) -> tuple[str | None, dict[str, Any] | None]:
        raise NotImplementedError

    def new_channel(self, pattern: str) -> str:
        raise NotImplementedError

    def send_batch(
        self, messages: Sequence[tuple[str, dict[str, Any]]]
    ) -> list[BaseException | None]:
        """Send several ``(channel, message)`` pairs, in order; for each, None
        (queued) or the exception its ``send`` raised (``ChannelFull``, an
        invalid message, a lost server). Never raises for one message.

        A batching helper for busy senders (daphne's sender thread, the
        worker's end-of-consumer sends): a network layer makes the whole
        batch in one round trip per server. This default sends one by one.
        """
        results: list[BaseException | None] = []
        for channel, message in messages:
            try:
                self.send(channel, message)
            except Exception as exc:  # noqa: BLE001 - reported per message
                results.append(exc)
            else:
                results.append(None)
        return results

    def receive_batch(
        self, channels: list[str], block: bool = False, limit: int = 1
    ) -> list[tuple[str, dict[str, Any]]]:
        """Up to ``limit`` messages from ``channels`` as ``(channel, message)``
        pairs (an empty list when there are none; with ``block`` it waits
        like :meth:`receive`). They are off the layer once returned, so the
        caller handles every one (the worker does, even when asked to stop).
        This default receives one message.
        """
        channel, message = self.receive(channels, block=block)
        return [] if channel is None or message is None else [(channel, message)]

    def receive_many(
        self, channels: list[str], block: bool = False
    ) -> tuple[str | None, dict[str, Any] | None]:
        """Deprecated alias of :meth:`receive` kept for 1.0-era callers."""
        warnings.warn("receive_many is deprecated; use receive", DeprecationWarning, stacklevel=2)
        return self.receive(channels, block=block)

    # -- extensions (implemented by layers that list them) ---------------------

    def group_add(self, group: str, channel: str) -> None:
        raise NotImplementedError

    def group_discard(self, group: str, channel: str) -> None:
        raise NotImplementedError

    def group_channels(self, group: str) -> Iterable[str]:
        raise NotImplementedError

    def send_group(self, group: str, message: dict[str, Any]) -> None:
        raise NotImplementedError

    def flush(self) -> None:
        raise NotImplementedError

    # The ``inspect`` extension (docs/asgi/layers.rst, "Extensions"): what
    # operators and health checks read. None of these may block message
    # traffic: a network layer scans in batches and never runs a command
    # whose cost grows with the whole keyspace in one go.

    def heartbeat(self, record: dict[str, Any], ttl: float) -> None:
        """Store or renew one process's ``record`` (keyed by ``record["id"]``);
        it disappears by itself ``ttl`` seconds after the last call."""
        raise NotImplementedError

    def heartbeat_remove(self, process_id: str) -> None:
        """Remove a process's record (a clean stop); no error when absent."""
        raise NotImplementedError

    def inspect_processes(self) -> list[dict[str, Any]]:
        """The live heartbeat records, sorted by (kind, host, pid)."""
        raise NotImplementedError

    def inspect_channels(self, channels: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """``{"channel", "depth", "capacity", "oldest_age"}`` per channel:
        every channel with waiting messages (None), or exactly the named ones."""
        raise NotImplementedError

    def inspect_groups(self, members: bool = False) -> list[dict[str, Any]]:
        """``{"group", "size"}`` per group (plus sorted ``"members"`` on request)."""
        raise NotImplementedError

    def inspect_shards(self) -> list[dict[str, Any]]:
        """``{"shard", "reachable", "latency"}`` per server; never raises for
        an unreachable one."""
        raise NotImplementedError

    # -- inspect: the argument rules every layer shares ----------------------------

    @staticmethod
    def check_heartbeat(record: Any, ttl: Any) -> str:
        """Check a ``heartbeat`` call's arguments; returns the record's id.

        The record must be a dict with a non-empty str ``"id"`` that JSON
        can encode (network layers store it as JSON), and ``ttl`` a
        positive number of seconds. Raises ``TypeError`` or ``ValueError``
        saying what was expected.
        """
        if not isinstance(record, dict):
            raise TypeError(f"A heartbeat record must be a dict, got {type(record).__name__}")
        process_id = record.get("id")
        if not isinstance(process_id, str) or not process_id:
            raise ValueError(f"A heartbeat record needs a non-empty str 'id', got {process_id!r}")
        try:
            json.dumps(record, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"A heartbeat record must hold JSON values only (str keys, str, int, "
                f"float, bool, None, lists, dicts): {exc}"
            ) from None
        if (
            isinstance(ttl, bool)
            or not isinstance(ttl, (int, float))
            or not math.isfinite(ttl)
            or ttl <= 0
        ):
            raise ValueError(f"heartbeat ttl must be a positive number of seconds, got {ttl!r}")
        return process_id

    @staticmethod
    def check_process_id(process_id: Any) -> str:
        """``process_id`` if it is a non-empty str, else ``TypeError``."""
        if not isinstance(process_id, str) or not process_id:
            raise TypeError(f"A process id must be a non-empty str, got {process_id!r}")
        return process_id

    def inspected_names(self, channels: Iterable[str] | None) -> list[str] | None:
        """The channel names given to ``inspect_channels``, checked and
        without repeats (None stays None). A lone str is refused: it is
        one name, not a list of its letters."""
        if channels is None:
            return None
        if isinstance(channels, (str, bytes)) or not isinstance(channels, Iterable):
            raise TypeError(
                f"inspect_channels() takes an iterable of channel names or None, got {channels!r}"
            )
        names = list(dict.fromkeys(channels))
        for name in names:
            self.valid_channel_name(name)
        return names

    # -- capacity ----------------------------------------------------------------

    @staticmethod
    def compile_capacities(channel_capacity: CapacityPatterns) -> list[tuple[re.Pattern[str], int]]:
        """Turn ``{glob or compiled regex: capacity}`` into ``[(regex, capacity)]``.

        String keys are globs (``"http.response!*"``); keys with a ``match``
        method are used as regexes. Dict order is kept: the first match wins.
        """
        compiled = []
        for pattern, value in channel_capacity.items():
            if hasattr(pattern, "match"):
                regex = pattern
            elif isinstance(pattern, str):
                regex = re.compile(fnmatch.translate(pattern))
            else:
                raise TypeError(
                    "channel_capacity keys must be glob strings or compiled regexes, "
                    f"got {pattern!r}"
                )
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"capacity for {pattern!r} must be a positive int, got {value!r}")
            compiled.append((regex, value))
        return compiled

    def get_capacity(self, channel: str) -> int:
        """The capacity of ``channel``: the first matching pattern, else ``capacity``."""
        for regex, capacity in self.channel_capacity:
            if regex.match(channel):
                return capacity
        return self.capacity

    # -- names -------------------------------------------------------------------

    invalid_name_error = (
        "{kind} name must be a str shorter than {limit} characters of ASCII letters, "
        "digits, hyphens, underscores and periods{extra}; got {name!r}"
    )

    @classmethod
    def _name_error(cls, kind: str, name: Any, extra: str = "") -> InvalidChannelName:
        return InvalidChannelName(
            cls.invalid_name_error.format(kind=kind, limit=MAX_NAME_LENGTH, extra=extra, name=name)
        )

    @staticmethod
    def match_type_and_length(name: Any) -> bool:
        return isinstance(name, str) and len(name) < MAX_NAME_LENGTH

    def valid_channel_name(self, name: Any, receive: bool = False) -> bool:
        """Return True for a valid channel name, else raise ``TypeError``.

        With ``receive=True`` a process-specific name must end at its ``!``:
        a process receives on the prefix and gets back the full names.
        """
        key = (type(self), receive, name)
        if type(name) is str and key in _known_valid_names:
            return True
        extra = ", optionally followed by one '?' or '!' and more such characters"
        if not self.match_type_and_length(name) or not _CHANNEL_NAME.match(name):
            raise self._name_error("Channel", name, extra)
        if name.endswith("?"):
            raise InvalidChannelName(
                f"Channel name {name!r} ends in '?': single-reader names come from new_channel()"
            )
        if receive and "!" in name and not name.endswith("!"):
            raise InvalidChannelName(
                f"Receive on the process-specific prefix {self.non_local_name(name)!r}, "
                f"not the full name {name!r}"
            )
        if type(name) is str:
            # Workers check the same few names on every receive; remember them.
            if len(_known_valid_names) >= _KNOWN_VALID_LIMIT:
                _known_valid_names.clear()
            _known_valid_names.add(key)
        return True

    @staticmethod
    def is_channel_name(name: Any) -> bool:
        """Whether ``name`` could be a channel a message was sent to; unlike
        :meth:`valid_channel_name` it never raises and remembers nothing
        (for names found in storage, such as a scan's keys)."""
        return (
            isinstance(name, str)
            and len(name) < MAX_NAME_LENGTH
            and _CHANNEL_NAME.match(name) is not None
            and not name.endswith("?")
        )

    @classmethod
    def is_group_name(cls, name: Any) -> bool:
        """Whether ``name`` is a valid group name; never raises."""
        return cls.match_type_and_length(name) and _GROUP_NAME.match(name) is not None

    def valid_group_name(self, name: Any) -> bool:
        """Return True for a valid group name, else raise ``TypeError``."""
        if not self.match_type_and_length(name) or not _GROUP_NAME.match(name):
            raise self._name_error("Group", name)
        return True

    def valid_channel_names(self, names: Any, receive: bool = False) -> bool:
        """Check a non-empty list of channel names (as given to ``receive``).

        No list, or an empty one, raises ``InvalidChannelNames`` (both a
        ``TypeError`` and, as 1.x asserted, an ``AssertionError``); a bad
        name in the list raises ``InvalidChannelName``.
        """
        if not isinstance(names, list) or not names:
            raise InvalidChannelNames(f"Expected a non-empty list of channel names, got {names!r}")
        for name in names:
            self.valid_channel_name(name, receive=receive)
        return True

    @staticmethod
    def non_local_name(name: str) -> str:
        """Everything up to and including ``!``; the whole name for other channels."""
        index = name.find("!")
        return name if index < 0 else name[: index + 1]

    # -- messages ----------------------------------------------------------------

    @staticmethod
    def check_message_type(message: Any) -> None:
        if not isinstance(message, dict):
            raise InvalidMessage(f"A message must be a dict, got {type(message).__name__}")

    def check_message_size(self, size: int, channel: str) -> None:
        """Raise ``MessageTooLarge`` when an encoded message exceeds the limit."""
        if size > self.max_message_size:
            raise self.MessageTooLarge(
                f"Message for {channel!r} is {size} bytes encoded; this layer's "
                f"max_message_size is {self.max_message_size}. Send large payloads "
                "in chunks on a '?' channel."
            )

    def __str__(self) -> str:
        return f"{type(self).__module__}.{type(self).__name__}"


def process_sort_key(record: Mapping[str, Any]) -> tuple[str, str, int, str]:
    """The order of ``inspect_processes``: (kind, host, pid), then id.

    Records come from other processes; a missing or odd field sorts as
    empty rather than raising.
    """
    pid = record.get("pid")
    return (
        str(record.get("kind") or ""),
        str(record.get("host") or ""),
        pid if isinstance(pid, int) and not isinstance(pid, bool) else -1,
        str(record.get("id") or ""),
    )
