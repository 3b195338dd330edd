"""The wire encoding of ASGI 1 messages (spec section 1.1, "Strings").

msgpack with the bin type keeps ``bytes`` and ``str`` apart; tuples come back
as lists, as the spec allows. Every layer encodes through here, so a message
that one layer accepts, every layer accepts.

The spec allows "dicts with unicode keys" only; msgpack would happily carry
int or bytes keys, which then come out differently in another language or
break a consumer's lookups, so ``dumps`` refuses them at any depth (nested
dicts, dicts inside lists). The check is a walk over the containers only;
the path of the first bad key is worked out only when there is one.
"""

from __future__ import annotations

from typing import Any

import msgpack

from .exceptions import InvalidMessage

__all__ = ["dumps", "loads"]

_packer_options = {"use_bin_type": True, "strict_types": False}


def dumps(message: dict[Any, Any]) -> bytes:
    """Encode a message, raising ``InvalidMessage`` for values msgpack cannot carry."""
    if not isinstance(message, dict):
        raise InvalidMessage(f"A message must be a dict, got {type(message).__name__}")
    try:
        data: bytes = msgpack.packb(message, **_packer_options)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidMessage(
            "Message values must be bytes, str, int (64-bit), float, bool, None, "
            f"lists or dicts with str keys: {exc}"
        ) from exc
    # after packing, so that values msgpack refuses get its message
    if not _keys_are_str(message):
        key, path = _first_bad_key(message)
        raise InvalidMessage(
            f"Message keys must be str: {type(key).__name__} key {key!r} in {path}"
        )
    return data


#: Value types that hold no keys; anything else is looked into if it is a
#: dict, list or tuple (subclasses included, as msgpack packs them).
_LEAVES = frozenset({str, bytes, int, float, bool, type(None)})


def _keys_are_str(message: dict[Any, Any]) -> bool:
    """Whether every dict in ``message``, at any depth, has only str keys.
    A loop over a stack, not recursion: a deep message cannot exhaust the
    interpreter's stack."""
    leaves = _LEAVES
    stack: list[Any] = [message]
    pop, push = stack.pop, stack.append
    while stack:
        node = pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if type(key) is not str and not isinstance(key, str):
                    return False
                if type(value) not in leaves:
                    push(value)
        elif isinstance(node, list | tuple):
            for value in node:
                kind = type(value)
                if kind in leaves:
                    continue
                if kind is list or kind is tuple:
                    # a list in a list (a header pair, an address) is looked
                    # into at once: most messages then need no more pushes
                    for inner in value:
                        if type(inner) not in leaves:
                            push(inner)
                else:
                    push(value)
    return True


def _first_bad_key(message: dict[Any, Any]) -> tuple[object, str]:
    """A key that is not a str in ``message``, and the path of its dict (only
    called once ``_keys_are_str`` found one)."""
    stack: list[tuple[object, str]] = [(message, "message")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            for key in node:
                if not isinstance(key, str):
                    return key, path
            children = [(value, f"{path}[{key!r}]") for key, value in node.items()]
        elif isinstance(node, list | tuple):
            children = [(value, f"{path}[{index}]") for index, value in enumerate(node)]
        else:
            continue
        stack.extend(reversed(children))
    raise AssertionError("no key that is not a str")  # pragma: no cover


def loads(data: bytes) -> dict[str, Any]:
    """Decode a message encoded by :func:`dumps`."""
    message: dict[str, Any] = msgpack.unpackb(data, raw=False, strict_map_key=False)
    return message
