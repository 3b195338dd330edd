"""Origin checks for WebSocket handshakes (SPEC 5.10).

A validator wraps a ``websocket.connect`` consumer. It reads the handshake's
``Origin`` header and raises ``DenyConnection`` (which the worker turns into a
rejected handshake) unless the origin passes ``validate_origin``. A missing,
empty or non-ASCII ``Origin`` is always denied: browsers always send one, so a
handshake without it did not come from a page we served.

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

    @staticmethod
    def _find_message(args: tuple) -> Any:
        for arg in args[:2]:
            if hasattr(arg, "content") and hasattr(arg, "reply_channel"):
                return arg
        raise ValueError(
            "Origin validators expect a Message as the first argument (or the second, "
            f"after self); got {[type(a).__name__ for a in args[:2]]}"
        )

    def get_header(self, message: Any, name: bytes | str) -> bytes:
        """The value of the first header called ``name``, else ``KeyError``."""
        wanted = name.encode("latin-1") if isinstance(name, str) else name
        wanted = wanted.lower()
        for header in message.content.get("headers") or []:
            header_name = header[0]
            if isinstance(header_name, str):
                header_name = header_name.encode("latin-1")
            if header_name.lower() == wanted:
                return header[1]
        raise KeyError(name)

    def get_origin(self, message: Any) -> str:
        """The Origin header as text; ``DenyConnection`` if missing, empty or not ASCII."""
        try:
            raw = self.get_header(message, b"origin")
        except KeyError:
            logger.info("Denied WebSocket handshake without an Origin header")
            raise DenyConnection("The handshake has no Origin header") from None
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
