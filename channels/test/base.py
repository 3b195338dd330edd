"""Test cases and the basic test client.

See docs/topics/testing.rst.

``ChannelTestCase`` gives each test a fresh in-memory layer with the
project's routing; ``Client`` sends messages as an interface server would,
runs the routed consumer the way a worker does, and reads the replies.
``apply_routes`` swaps the routing for a block, a test or a whole class.
"""

from __future__ import annotations

import copy
import random
import string
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.db import close_old_connections
from django.test.testcases import TestCase, TransactionTestCase

from asgi import www
from asgi.inmemory import ChannelLayer as InMemoryChannelLayer

from .._aliases import DEFAULT_CHANNEL_LAYER
from ..asgi import ChannelLayerWrapper, channel_layers
from ..channel import Group
from ..exceptions import ChannelSocketException, ConsumeLater, DenyConnection
from ..message import Message, pending_message_store
from ..routing import Router, include
from ..signals import consumer_finished, consumer_started

__all__ = [
    "ChannelTestCase",
    "ChannelTestCaseMixin",
    "Client",
    "TransactionChannelTestCase",
    "apply_routes",
]


def _routing_of(alias: str) -> list:
    """The routing entries of ``alias``, without building its real layer."""
    existing = channel_layers.backends.get(alias)
    if existing is not None:
        routing = existing.routing
    else:
        routing = channel_layers.configs.get(alias, {}).get("ROUTING", [])
    return list(Router.resolve_routing(routing))


def _receive(alias: str, channel: str) -> Message | None:
    """The next message on ``channel`` (a full ``!`` name reads its process inbox)."""
    layer = channel_layers[alias]
    receive_on = layer.non_local_name(channel) if "!" in channel else channel
    received, content = layer.receive([receive_on], block=False)
    if received is None:
        return None
    return Message(content, received, layer)


class ChannelTestCaseMixin:
    """Swaps a fresh in-memory layer in for each alias in ``test_channel_aliases``.

    The project's routing is copied into it, so consumers are found as in
    production, and everything a test sends stays in the test.
    """

    test_channel_aliases = [DEFAULT_CHANNEL_LAYER]

    # The swap wraps ``run`` rather than ``_pre_setup``: Django 5.1 made
    # TransactionTestCase._pre_setup a class method that may run once per
    # class, while each test needs its own layer.
    def run(self, result: Any = None) -> Any:
        old_layers = {}
        for alias in self.test_channel_aliases:
            wrapper = ChannelLayerWrapper(InMemoryChannelLayer(), alias, _routing_of(alias))
            old_layers[alias] = channel_layers.set(alias, wrapper)
        try:
            return super().run(result)
        finally:
            for alias, old in old_layers.items():
                channel_layers.set(alias, old)

    def get_next_message(
        self, channel: str, alias: str = DEFAULT_CHANNEL_LAYER, require: bool = False
    ) -> Message | None:
        """The next message sent to ``channel`` in this test, or None.

        With ``require=True`` a missing message fails the test.
        """
        message = _receive(alias, channel)
        if message is None and require:
            self.fail(f"Expected a message on channel {channel!r}, got none")
        return message


class ChannelTestCase(ChannelTestCaseMixin, TestCase):
    """A Django ``TestCase`` (each test in a transaction) with a fresh layer."""


class TransactionChannelTestCase(ChannelTestCaseMixin, TransactionTestCase):
    """A Django ``TransactionTestCase`` (real commits) with a fresh layer."""


def run_consumer(consumer: Callable, message: Message, kwargs: dict) -> Any:
    """Run a consumer as a worker does, and return what it returned.

    The consumer runs between ``consumer_started`` and ``consumer_finished``
    (so its sends go out when it returns), but the test's database connection
    is left open. ``DenyConnection`` becomes a close reply,
    ``ChannelSocketException`` runs, and ``ConsumeLater`` puts the message
    back on its channel, as the worker does. When the consumer fails, its
    pending sends are dropped and the exception reaches the test.
    """
    uid = "channels.close_old_connections"
    consumer_started.disconnect(dispatch_uid=uid)
    consumer_finished.disconnect(dispatch_uid=uid)
    try:
        consumer_started.send(sender=Client, environ={})
        try:
            return consumer(message, **kwargs)
        except DenyConnection:
            if message.channel.name != "websocket.connect":
                raise ValueError("DenyConnection is only allowed on websocket.connect") from None
            message.reply_channel.send({"close": True}, immediately=True)
        except ChannelSocketException as exc:
            exc.run(message)
        except ConsumeLater:
            pending_message_store.discard()
            message.channel_layer.send(message.channel.name, message.content)
        except BaseException:
            pending_message_store.discard()
            raise
        finally:
            consumer_finished.send(sender=Client)
    finally:
        consumer_started.connect(close_old_connections, dispatch_uid=uid)
        consumer_finished.connect(close_old_connections, dispatch_uid=uid)
    return None


_MESSAGE_BUILDERS: dict[str, Callable[..., dict]] = {
    "http.request": lambda reply: www.http_request(reply_channel=reply, method="GET", path="/"),
    "http.disconnect": lambda reply: www.http_disconnect(reply_channel=reply, path="/"),
}


class Client:
    """Plays the interface server for one connection, with its own reply channel."""

    def __init__(self, alias: str = DEFAULT_CHANNEL_LAYER, reply_channel: str | None = None):
        prefix = reply_channel or f"test.reply.{alias}."
        self.reply_channel = prefix + "".join(random.choices(string.ascii_letters, k=5))
        self.alias = alias

    @property
    def channel_layer(self) -> ChannelLayerWrapper:
        return channel_layers[self.alias]

    def get_next_message(self, channel: str) -> Message | None:
        return _receive(self.alias, channel)

    def get_consumer_by_channel(self, channel: str) -> Callable | None:
        """The consumer routed for a bare message on ``channel`` (path "/"), or None."""
        probe = Message({"text": "", "path": "/"}, channel, self.channel_layer)
        match = self.channel_layer.router.match(probe)
        return match[0] if match else None

    def build_message(self, to: str, content: dict) -> dict:
        """``content`` plus ``reply_channel`` and the keys daphne would send."""
        content = copy.deepcopy(content)
        content.setdefault("reply_channel", self.reply_channel)
        builder = _MESSAGE_BUILDERS.get(to)
        if builder is not None:
            full = builder(content["reply_channel"])
            full.update(content)
            content = full
        return content

    def send(self, to: str, content: dict | None = None) -> None:
        """Send ``content`` to channel ``to`` as this client."""
        self.channel_layer.send(to, self.build_message(to, content or {}))

    def consume(self, channel: str, fail_on_none: bool = True) -> Any:
        """Take the next message on ``channel`` and run its routed consumer.

        Returns the consumer's return value (for a class-based consumer, the
        instance). Raises ``AssertionError`` when there is no message or no
        route, unless ``fail_on_none`` is False.
        """
        message = self.get_next_message(channel)
        if message is None:
            if fail_on_none:
                raise AssertionError(f"No message on channel {channel!r}")
            return None
        match = self.channel_layer.router.match(message)
        if match is None:
            if fail_on_none:
                raise AssertionError(f"No route matches {message!r}")
            return None
        consumer, kwargs = match
        return run_consumer(consumer, message, kwargs)

    def send_and_consume(
        self, channel: str, content: dict | None = None, fail_on_none: bool = True
    ) -> Any:
        self.send(channel, content)
        return self.consume(channel, fail_on_none=fail_on_none)

    def receive(self) -> dict | None:
        """The content of the next message on this client's reply channel, or None."""
        message = self.get_next_message(self.reply_channel)
        return message.content if message is not None else None

    def join_group(self, group_name: str) -> None:
        Group(group_name, alias=self.alias).add(self.reply_channel)


class apply_routes:  # noqa: N801 - the 1.x name
    """Replace the routing of ``aliases`` while a block, test or test class runs.

    ``routes`` is a routing entry, a list of them, or a list of lists (each
    included). Unlike 1.x, ``aliases`` is honoured.
    """

    def __init__(self, routes: Any, aliases: list[str] | None = None) -> None:
        self.routes = routes
        self.aliases = list(aliases or [DEFAULT_CHANNEL_LAYER])
        self._saved: list[tuple[ChannelLayerWrapper, Any, Router]] = []

    def _routing(self) -> list:
        if not isinstance(self.routes, (list, tuple)):
            return [self.routes]
        if self.routes and isinstance(self.routes[0], (list, tuple)):
            return [include(entry) for entry in self.routes]
        return list(self.routes)

    def enter(self) -> None:
        routing = self._routing()
        for alias in self.aliases:
            layer = channel_layers[alias]
            self._saved.append((layer, layer.routing, layer.router))
            layer.routing = routing
            layer.router = Router(routing)

    def exit(self, *exc_info: Any) -> None:
        while self._saved:
            layer, routing, router = self._saved.pop()
            layer.routing, layer.router = routing, router

    __enter__ = enter

    def __exit__(self, *exc_info: Any) -> None:
        self.exit()

    def __call__(self, target: Any) -> Any:
        if isinstance(target, type):
            return self._wrap_class(target)

        @wraps(target)
        def inner(*args: Any, **kwargs: Any) -> Any:
            with self:
                return target(*args, **kwargs)

        return inner

    def _wrap_class(self, cls: type) -> type:
        original_setup, original_teardown = cls.setUp, cls.tearDown
        routes = self

        def setUp(test: Any) -> None:
            routes.enter()
            original_setup(test)

        def tearDown(test: Any) -> None:
            try:
                original_teardown(test)
            finally:
                routes.exit()

        cls.setUp, cls.tearDown = setUp, tearDown
        return cls
