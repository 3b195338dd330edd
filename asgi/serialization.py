"""The wire encoding of ASGI 1 messages (spec section 1.1, "Strings").

msgpack with the bin type keeps ``bytes`` and ``str`` apart; tuples come back
as lists, as the spec allows. Every layer encodes through here, so a message
that one layer accepts, every layer accepts.
"""

from __future__ import annotations

import msgpack

from .exceptions import InvalidMessage

__all__ = ["dumps", "loads"]

_packer_options = {"use_bin_type": True, "strict_types": False}


def dumps(message: dict) -> bytes:
    """Encode a message, raising ``InvalidMessage`` for values msgpack cannot carry."""
    if not isinstance(message, dict):
        raise InvalidMessage(f"A message must be a dict, got {type(message).__name__}")
    try:
        return msgpack.packb(message, **_packer_options)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidMessage(
            "Message values must be bytes, str, int (64-bit), float, bool, None, "
            f"lists or dicts with str keys: {exc}"
        ) from exc


def loads(data: bytes) -> dict:
    """Decode a message encoded by :func:`dumps`."""
    return msgpack.unpackb(data, raw=False, strict_map_key=False)
