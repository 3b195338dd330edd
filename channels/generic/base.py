"""``BaseConsumer``: the class-based consumer every generic consumer builds on.

See docs/topics/generics.rst, "Base".

A class-based consumer is routed with ``route_class`` (or ``as_route``); the
worker calls the class with ``(message, **kwargs)``, and the new instance
dispatches the message at once to the method ``method_mapping`` names for its
channel.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from channels.auth import channel_session_user
from channels.routing import route_class
from channels.sessions import channel_session

__all__ = ["BaseConsumer"]


class BaseConsumer:
    """Maps channels to methods; optionally gives them sessions and users.

    ``method_mapping`` maps a channel name to the name of the method handling it.
    """

    method_mapping: dict[str, str] = {}
    channel_session = False
    channel_session_user = False

    def __init__(self, message: Any, **kwargs: Any) -> None:
        self.message = message
        self.kwargs = kwargs
        self.dispatch(message, **kwargs)

    @classmethod
    def channel_names(cls) -> set[str]:
        """The channels this consumer handles, for ``route_class``."""
        return set(cls.method_mapping)

    @classmethod
    def as_route(cls, attrs: dict | None = None, **kwargs: Any) -> Any:
        """A ``route_class`` to this consumer; ``attrs`` overrides class attributes."""
        consumer = cls
        if attrs:
            if not isinstance(attrs, dict):
                raise TypeError(f"as_route(attrs=...) takes a dict, got {type(attrs).__name__}")
            consumer = type(cls.__name__, (cls,), attrs)
        return route_class(consumer, **kwargs)

    def get_handler(self, message: Any, **kwargs: Any) -> Callable:
        """The bound method for the message's channel, with the session decorators applied."""
        channel = message.channel.name
        try:
            name = self.method_mapping[channel]
        except KeyError:
            raise ValueError(
                f"{type(self).__name__} has no method for channel {channel!r}; "
                f"it handles {sorted(self.method_mapping)}"
            ) from None
        handler = getattr(self, name)
        if self.channel_session_user:
            return channel_session_user(handler)
        if self.channel_session:
            return channel_session(handler)
        return handler

    def dispatch(self, message: Any, **kwargs: Any) -> Any:
        """Run the handler for ``message``."""
        return self.get_handler(message, **kwargs)(message, **kwargs)
