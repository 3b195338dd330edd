"""Origin checks for WebSocket handshakes.

See docs/topics/security.rst.

A validator wraps a ``websocket.connect`` consumer. It reads the handshake's
``Origin`` header and raises ``DenyConnection`` (which the worker turns into a
rejected handshake) unless the origin passes ``validate_origin``. A missing,
empty, non-ASCII or malformed ``Origin`` is always denied, never an error:
browsers always send one, so a handshake without it did not come from a page
we served.

``validate_origin`` left unimplemented raises ``NotImplementedError`` (1.x
raised ``NotImplemented``, which is not an exception).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

from django.conf import settings
from django.http.request import validate_host

from channels.exceptions import DenyConnection

__all__ = ["AllowedHostsOnlyOriginValidator", "BaseOriginValidator", "allowed_hosts_only"]

logger = logging.getLogger("channels.security")

#: The hosts allowed when ``DEBUG`` is on and ``ALLOWED_HOSTS`` is empty, as Django does.
DEBUG_ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]"]


class BaseOriginValidator:
    """A class-based decorator denying handshakes whose Origin fails ``validate_origin``.

    Works on consumer functions and on consumer methods (the message is the
    first argument after ``self``).
    """

    def __init__(self, func: Callable) -> None:
        functools.update_wrapper(self, func)
        self.func = func

    def __get__(self, instance: Any, owner: type | None = None) -> Callable:
        if instance is None:
            return self
        return functools.partial(self.__call__, instance)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        message = self._find_message(args)
        channel = getattr(getattr(message, "channel", None), "name", None)
        if channel is not None and channel != "websocket.connect":
            raise ValueError(
                f"{type(self).__name__} only applies to websocket.connect consumers; "
                f"it was called with a message on {channel!r}"
            )
        origin = self.get_origin(message)
        if not self.validate_origin(message, origin):
            logger.info("Denied WebSocket handshake from origin %r", origin)
            raise DenyConnection(f"Origin {origin!r} is not allowed")
        return self.func(*args, **kwargs)

    def _find_message(self, args: tuple) -> Any:
        for arg in args[:2]:
            if hasattr(arg, "content") and hasattr(arg, "reply_channel"):
                return arg
        raise ValueError(
            f"{type(self).__name__} called without Message instance: expected a Message as "
            "the first argument (or the second, after self), got "
            f"{[type(a).__name__ for a in args[:2]]}"
        )

    def get_header(self, message: Any, name: bytes | str) -> list:
        """The values after the name in the first header entry called ``name``.

        As in 1.x this is a list (``[value]`` for a well-formed pair), so
        ``get_header(message, b"origin")[0]`` is the value; ``KeyError`` if
        no entry has that name. Names match case-insensitively, as bytes or
        str; entries that are not sequences, or whose name is not text, are
        skipped; the legacy dict form of ``headers`` is read too.
        """
        wanted = _header_name(name)
        if wanted is None:
            raise KeyError(f"No header named {name!r}")
        for entry in _header_entries(message.content.get("headers")):
            if _header_name(entry[0]) == wanted:
                return list(entry[1:])
        raise KeyError(f"No header named {name!r}")

    def get_origin(self, message: Any) -> str:
        """The Origin header as text; ``DenyConnection`` if missing, empty or not ASCII.

        A malformed Origin entry (no value, or a value that is not bytes or
        str) counts as a missing Origin: the handshake is denied, nothing raises.
        """
        try:
            values = self.get_header(message, b"origin")
        except KeyError:
            values = []
        raw = values[0] if values else None
        if not isinstance(raw, (bytes, str)):
            logger.info("Denied WebSocket handshake without a usable Origin header")
            raise DenyConnection("The handshake has no Origin header")
        try:
            origin = raw.decode("ascii") if isinstance(raw, bytes) else raw.encode("ascii").decode()
        except UnicodeError:
            logger.info("Denied WebSocket handshake with a non-ASCII Origin %r", raw)
            raise DenyConnection("The Origin header is not ASCII") from None
        if not origin:
            logger.info("Denied WebSocket handshake with an empty Origin header")
            raise DenyConnection("The Origin header is empty")
        return origin

    def validate_origin(self, message: Any, origin: str) -> bool:
        """Return True to let the handshake through; subclasses must implement it."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement validate_origin(message, origin)"
        )


class AllowedHostsOnlyOriginValidator(BaseOriginValidator):
    """Allows origins whose host matches ``ALLOWED_HOSTS``, like Django's Host check.

    With ``DEBUG`` on and ``ALLOWED_HOSTS`` empty, localhost, 127.0.0.1 and
    [::1] are allowed.
    """

    def validate_origin(self, message: Any, origin: str) -> bool:
        allowed_hosts = list(settings.ALLOWED_HOSTS)
        if settings.DEBUG and not allowed_hosts:
            allowed_hosts = DEBUG_ALLOWED_HOSTS
        try:
            host = urlparse(origin.lower()).hostname
        except ValueError:
            return False
        if not host:
            return False
        if ":" in host:
            # urlparse drops an IPv6 literal's brackets; ALLOWED_HOSTS keeps them.
            host = f"[{host}]"
        return validate_host(host, allowed_hosts)


allowed_hosts_only = AllowedHostsOnlyOriginValidator


def _header_entries(headers: Any) -> list:
    """The ``[name, value, ...]`` entries of a message's ``headers``, malformed ones left out.

    Takes the ASGI list of pairs or the legacy ``{name: value}`` dict;
    anything else (None, a number, a string) has no entries.
    """
    if isinstance(headers, dict):
        return [[name, value] for name, value in headers.items()]
    if not isinstance(headers, (list, tuple)):
        return []
    return [entry for entry in headers if isinstance(entry, (list, tuple)) and entry]


def _header_name(name: Any) -> bytes | None:
    """A header name as lower-case bytes; None for a name that is not latin-1 text."""
    if isinstance(name, str):
        try:
            name = name.encode("latin-1")
        except UnicodeEncodeError:
            return None
    if not isinstance(name, bytes):
        return None
    return name.lower()
