"""Routing: which consumer handles a message.

See docs/topics/routing.rst.

A routing is a list (or a dict of channel -> consumer, or a dotted path to
either) of entries with ``match(message)`` and ``channel_names()``:
``route`` (one consumer), ``route_class`` (a class-based consumer that
names its channels) and ``include`` (a nested routing under a prefix). The
filters are regexes on message keys, anchored at the start; their named
groups become consumer keyword arguments.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

if TYPE_CHECKING:
    # Only for annotations: message -> channel -> asgi -> routing would
    # otherwise be an import circle.
    from .message import Message

__all__ = [
    "Include",
    "Route",
    "RouteClass",
    "Router",
    "connect_consumer",
    "include",
    "null_consumer",
    "route",
    "route_class",
]

Match = tuple[Callable, dict[str, Any]]


class Router:
    """Matches messages against a routing; ``channels`` is every routed channel."""

    def __init__(self, routing: Any) -> None:
        self.root = Include(routing)
        self.channels = self.root.channel_names()

    def add_route(self, route: Any) -> None:
        """Append an entry to the end of the root routing."""
        self.root.routing.append(route)
        self.channels = self.root.channel_names()

    def match(self, message: Message) -> Match | None:
        """``(consumer, kwargs)`` for the first matching entry, or None."""
        return self.root.match(message)

    def check_default(self, http_consumer: Callable | None = None) -> None:
        """Add catch-all consumers for HTTP and WebSocket channels nothing catches.

        ``http.request`` goes to Django views (``ViewConsumer``) and
        ``websocket.connect`` is accepted; receive and disconnect are ignored.
        Routes that only catch some paths keep priority: the defaults go last.

        Our commands pass the consumer for ``http.request`` (``ViewConsumer``
        or ``StaticFilesConsumer``), as 1.x's ``runserver`` did; the import
        below only serves 1.x code that calls ``check_default()`` bare.
        """
        if not self._catches("http.request"):
            if http_consumer is None:
                from .handler import ViewConsumer

                http_consumer = ViewConsumer()
            self.add_route(Route("http.request", http_consumer))
        if not self._catches("websocket.connect"):
            self.add_route(Route("websocket.connect", connect_consumer))
        for channel in ("websocket.receive", "websocket.disconnect"):
            if not self._catches(channel):
                self.add_route(Route(channel, null_consumer))

    def _catches(self, channel: str) -> bool:
        """Whether ``channel`` already has a catch-all: a bare message is
        routed both for the root path and for an unlikely one."""
        for path in ("/", "/channels-default-probe/x.y"):
            probe = _Probe({"path": path}, channel)
            if self.match(probe) is None:
                return False
        return True

    @classmethod
    def resolve_routing(cls, routing: Any) -> list:
        """Turn a dotted path, dict or list into a list of routing entries."""
        if isinstance(routing, str):
            try:
                routing = import_string(routing)
            except ImportError as exc:
                raise ImproperlyConfigured(
                    f"Cannot import channel routing {routing!r}: {exc}"
                ) from exc
        if isinstance(routing, dict):
            return [Route(channel, consumer) for channel, consumer in routing.items()]
        if isinstance(routing, (list, tuple)):
            return list(routing)
        raise ImproperlyConfigured(
            f"A channel routing must be a list, a dict or a dotted path to one, got {routing!r}"
        )

    @classmethod
    def normalise_re_arg(cls, value: Any) -> Any:
        """Decode bytes filters and message values to str."""
        if isinstance(value, bytes):
            return value.decode("utf-8")
        return value


class _NoLayer:
    """Stands in for a layer in probe messages that are never sent anywhere."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError("A routing probe message has no channel layer")


_NO_LAYER = _NoLayer()


class _ProbeChannel:
    """The ``channel`` of a probe: a name, nothing to send with."""

    def __init__(self, name: str) -> None:
        self.name = name


class _Probe:
    """A stand-in ``Message`` that routing entries match but no consumer gets.

    It has what matching reads (``content``, ``channel.name``) and a layer
    that refuses use, so routing needs no ``Message`` (and no import of it).
    """

    def __init__(self, content: dict[str, Any], channel: str) -> None:
        self.content = content
        self.channel = _ProbeChannel(channel)
        self.reply_channel = None
        self.channel_layer = _NO_LAYER


def _compile_filters(filters: dict[str, Any], owner: str) -> dict[str, re.Pattern]:
    compiled = {}
    for key, value in filters.items():
        value = Router.normalise_re_arg(value)
        if not isinstance(value, (str, re.Pattern)):
            raise ValueError(
                f"{owner} filter {key}= must be a regex string, got {type(value).__name__}"
            )
        regex = re.compile(value)
        if regex.groups != len(regex.groupindex):
            raise ValueError(
                f"{owner} filter {key}={regex.pattern!r} has positional groups; "
                "use only named groups (?P<name>...), they become consumer kwargs"
            )
        compiled[key] = regex
    return compiled


def _match_filters(
    filters: dict[str, re.Pattern], message: Message
) -> tuple[dict[str, Any], dict[str, re.Match]] | None:
    """Match every filter; return (kwargs, matches) or None."""
    kwargs: dict[str, Any] = {}
    matches = {}
    content = message.content
    for key, regex in filters.items():
        if key not in content:
            return None
        value = Router.normalise_re_arg(content[key])
        if not isinstance(value, str):
            return None
        found = regex.match(value)
        if found is None:
            return None
        kwargs.update(found.groupdict())
        matches[key] = found
    return kwargs, matches


class Route:
    """Send messages on ``channels`` that pass the regex ``kwargs`` to ``consumer``."""

    def __init__(self, channels: str | bytes | Iterable, consumer: Any, **kwargs: Any) -> None:
        if isinstance(channels, (str, bytes)):
            channels = [channels]
        self.channels = [Router.normalise_re_arg(name) for name in channels]
        for name in self.channels:
            if not isinstance(name, str):
                raise ValueError(f"Route channel names must be str, got {name!r}")
        self.consumer = self._resolve_consumer(consumer)
        self.filters = _compile_filters(kwargs, f"route({self.channels[0]!r})")

    @staticmethod
    def _resolve_consumer(consumer: Any) -> Callable:
        if isinstance(consumer, str):
            try:
                consumer = import_string(consumer)
            except ImportError as exc:
                raise ImproperlyConfigured(f"Cannot import consumer {consumer!r}: {exc}") from exc
        if not callable(consumer):
            raise ValueError(f"A consumer must be callable, got {consumer!r}")
        return consumer

    def match(self, message: Message) -> Match | None:
        if message.channel.name not in self.channels:
            return None
        result = _match_filters(self.filters, message)
        if result is None:
            return None
        return self.consumer, result[0]

    def channel_names(self) -> set[str]:
        return set(self.channels)

    def __str__(self) -> str:
        filters = ", ".join(f"{k}={v.pattern!r}" for k, v in self.filters.items())
        channels = self.channels[0] if len(self.channels) == 1 else self.channels
        name = getattr(self.consumer, "__name__", type(self.consumer).__name__)
        return f"{type(self).__name__}({channels!r}, {name}{', ' if filters else ''}{filters})"

    __repr__ = __str__


class RouteClass(Route):
    """Route to a class-based consumer; its ``channel_names()`` gives the channels."""

    def __init__(self, consumer: Any, **kwargs: Any) -> None:
        consumer = self._resolve_consumer(consumer)
        names = getattr(consumer, "channel_names", None)
        if not callable(names):
            raise ValueError(
                f"route_class() needs a consumer class with a channel_names() method, "
                f"got {consumer!r}"
            )
        super().__init__(list(names()), consumer, **kwargs)


class Include:
    """A nested routing reached through prefix filters.

    The part of each key that a prefix matched is stripped before the nested
    entries see the message, so they match the rest of the path.
    """

    def __init__(self, routing: Any, **kwargs: Any) -> None:
        self.routing = Router.resolve_routing(routing)
        self.prefixes = _compile_filters(kwargs, "include()")
        for entry in self.routing:
            if not (hasattr(entry, "match") and hasattr(entry, "channel_names")):
                raise ImproperlyConfigured(
                    "Routing entries must have match() and channel_names() (use route(), "
                    f"route_class() or include()), got {entry!r}"
                )

    def match(self, message: Message) -> Match | None:
        kwargs: dict[str, Any] = {}
        inner = message
        if self.prefixes:
            result = _match_filters(self.prefixes, message)
            if result is None:
                return None
            kwargs, matches = result
            inner = _stripped(message, matches)
        for entry in self.routing:
            found = entry.match(inner)
            if found is not None:
                consumer, route_kwargs = found
                return consumer, {**kwargs, **route_kwargs}
        return None

    def channel_names(self) -> set[str]:
        names: set[str] = set()
        for entry in self.routing:
            names.update(entry.channel_names())
        return names

    def __repr__(self) -> str:
        return f"Include({self.routing!r})"


def _stripped(message: Message, matches: dict[str, re.Match]) -> Message:
    """A shallow copy of ``message`` with each matched prefix cut off its key."""
    content = dict(message.content)
    for key, found in matches.items():
        content[key] = Router.normalise_re_arg(content[key])[found.end() :]
    stripped = copy.copy(message)  # same class and attributes, no __init__ run
    stripped.content = content
    return stripped


def null_consumer(*args: Any, **kwargs: Any) -> None:
    """Consume and ignore (the default for WebSocket receive and disconnect)."""


def connect_consumer(message: Message, *args: Any, **kwargs: Any) -> None:
    """Accept every WebSocket (the default for ``websocket.connect``)."""
    message.reply_channel.send({"accept": True})


route = Route
route_class = RouteClass
include = Include
