"""Checking a message against a declared ``MessageFormat`` (spec section 1.5).

Every sub-spec module (``asgi.www``, ``asgi.udp``, ``asgi.email``,
``asgi.irc``) declares its formats as ``MessageFormat`` values and checks
them here, so every format obeys one set of rules:
required keys present, every known key of an accepted type, unknown keys
allowed unless the caller asks for a strict check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .exceptions import InvalidMessage

__all__ = [
    "MessageFormat",
    "check_address",
    "normalize_format",
    "reject_unknown_keys",
    "validate_format",
]


@dataclass(frozen=True)
class MessageFormat:
    """One message format: its channel, and its keys with accepted types.

    ``optional`` maps a key to its default; a ``None`` type entry means
    ``None`` is an accepted value.
    """

    name: str
    channel: str
    required: dict[str, tuple[type, ...]]
    optional: dict[str, tuple[tuple[type, ...], Any]] = field(default_factory=dict)

    @property
    def keys(self) -> set[str]:
        return set(self.required) | set(self.optional)


def _check_type(fmt: MessageFormat, key: str, value: Any, types: tuple[type, ...]) -> None:
    # bool is an int subclass; an int-typed key (status, code) must not take True.
    if isinstance(value, bool) and bool not in types:
        raise InvalidMessage(f"{fmt.name} key {key!r} must be {_names(types)}, got a bool")
    if not isinstance(value, types):
        raise InvalidMessage(
            f"{fmt.name} key {key!r} must be {_names(types)}, got {type(value).__name__}"
        )


def _names(types: tuple[type, ...]) -> str:
    return " or ".join("None" if t is type(None) else t.__name__ for t in types)


def validate_format(fmt: MessageFormat, message: Any) -> dict[str, Any]:
    """Return ``message`` if it fits ``fmt``, else raise ``InvalidMessage``."""
    if not isinstance(message, dict):
        raise InvalidMessage(f"{fmt.name} message must be a dict, got {type(message).__name__}")
    for key, types in fmt.required.items():
        if key not in message:
            raise InvalidMessage(f"{fmt.name} message lacks the required key {key!r}")
        _check_type(fmt, key, message[key], types)
    for key, (types, _default) in fmt.optional.items():
        if key in message:
            _check_type(fmt, key, message[key], types)
    return message


def normalize_format(fmt: MessageFormat, message: Any) -> dict[str, Any]:
    """Validate ``message`` and return a copy with every optional key filled in."""
    validate_format(fmt, message)
    result = dict(message)
    for key, (_types, default) in fmt.optional.items():
        if key not in result:
            result[key] = list(default) if isinstance(default, list) else default
    return result


def reject_unknown_keys(fmt: MessageFormat, message: dict[str, Any]) -> None:
    """Raise ``InvalidMessage`` naming any key ``fmt`` does not declare.

    Used for messages an application sends to a server, where a misspelt key
    would otherwise be silently ignored.
    """
    unknown = set(message) - fmt.keys
    if unknown:
        raise InvalidMessage(
            f"{fmt.name} message has unknown keys {sorted(unknown)}; "
            f"expected only {', '.join(sorted(fmt.keys))}"
        )


def check_address(format_name: str, key: str, value: Any) -> list[Any]:
    """Return ``[host, port]`` as a list, or raise ``InvalidMessage``.

    ``host`` must be a str and ``port`` an int in 0..65535 (not a bool).
    """
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or not isinstance(value[0], str)
        or isinstance(value[1], bool)
        or not isinstance(value[1], int)
        or not 0 <= value[1] <= 65535
    ):
        raise InvalidMessage(
            f"{format_name} key {key!r} must be [host, port] with a str host and an int "
            f"port, got {value!r}"
        )
    return [value[0], value[1]]
