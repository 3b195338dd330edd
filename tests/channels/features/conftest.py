"""Fixtures for the channels features tests: a fresh in-memory layer per test,
routed like a project's, and a way to run every queued message through the
real ``channels.worker.Worker``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import close_old_connections

from asgi import www
from asgi.inmemory import ChannelLayer as InMemoryChannelLayer
from channels.asgi import ChannelLayerWrapper, channel_layers
from channels.signals import consumer_finished, consumer_started
from channels.worker import Worker


class Harness:
    """The ``default`` layer of one test, its routing, and a worker to run it."""

    def __init__(self) -> None:
        self.raw = InMemoryChannelLayer(capacity=1000)
        self.old = channel_layers.backends.get("default")
        self.route([])

    def route(self, routing: Any) -> ChannelLayerWrapper:
        self.layer = ChannelLayerWrapper(self.raw, "default", routing)
        channel_layers.set("default", self.layer)
        return self.layer

    def restore(self) -> None:
        channel_layers.set("default", self.old)

    def send(self, channel: str, content: dict) -> None:
        self.layer.send(channel, content)

    def run_all(self, limit: int = 1000) -> int:
        """Handle queued messages with a real Worker until none is left; return how many."""
        worker = Worker(self.layer, signal_handlers=False)
        channels = worker.listen_channels()
        handled = 0
        # The worker closes stale database connections around each consumer;
        # the test database connection must stay open.
        uid = "channels.close_old_connections"
        consumer_started.disconnect(dispatch_uid=uid)
        consumer_finished.disconnect(dispatch_uid=uid)
        try:
            while handled < limit:
                channel, content = self.layer.receive(channels, block=False)
                if channel is None:
                    return handled
                worker.handle(channel, content)
                handled += 1
        finally:
            consumer_started.connect(close_old_connections, dispatch_uid=uid)
            consumer_finished.connect(close_old_connections, dispatch_uid=uid)
        raise AssertionError(f"More than {limit} messages handled: a loop?")

    def replies(self, reply_channel: str) -> list[dict]:
        """Every message waiting on ``reply_channel``."""
        found = []
        while True:
            channel, content = self.layer.receive([reply_channel], block=False)
            if channel is None:
                return found
            found.append(content)

    def texts(self, reply_channel: str) -> list[Any]:
        """The decoded JSON (or raw text) of every frame waiting on ``reply_channel``."""
        result = []
        for content in self.replies(reply_channel):
            text = content.get("text")
            try:
                result.append(json.loads(text))
            except (TypeError, ValueError):
                result.append(text if text is not None else content)
        return result


class Socket:
    """One fake WebSocket connection's messages, built with ``asgi.www``."""

    counter = 0

    def __init__(self, harness: Harness, path: str = "/", headers: list | None = None) -> None:
        Socket.counter += 1
        self.harness = harness
        self.reply_channel = f"websocket.send.{Socket.counter}"
        self.path = path
        self.headers = headers or []
        self.order = 0

    def connect_message(self, query_string: bytes = b"") -> dict:
        return www.websocket_connect(
            reply_channel=self.reply_channel,
            path=self.path,
            headers=self.headers,
            query_string=query_string,
        )

    def connect(self, query_string: bytes = b"") -> None:
        self.harness.send("websocket.connect", self.connect_message(query_string))
        self.order = 1

    def receive_message(self, text: Any = None, bytes: bytes | None = None) -> dict:
        if text is not None and not isinstance(text, str):
            text = json.dumps(text)
        message = www.websocket_receive(
            reply_channel=self.reply_channel,
            path=self.path,
            order=self.order,
            text=text,
            bytes=bytes,
        )
        self.order += 1
        return message

    def receive(self, text: Any = None, bytes: bytes | None = None) -> None:
        self.harness.send("websocket.receive", self.receive_message(text, bytes))

    def disconnect(self) -> None:
        message = www.websocket_disconnect(
            reply_channel=self.reply_channel, path=self.path, code=1000, order=self.order
        )
        self.order += 1
        self.harness.send("websocket.disconnect", message)

    def replies(self) -> list[dict]:
        return self.harness.replies(self.reply_channel)

    def texts(self) -> list[Any]:
        return self.harness.texts(self.reply_channel)


@pytest.fixture
def harness() -> Iterator[Harness]:
    h = Harness()
    yield h
    h.restore()


@pytest.fixture
def socket(harness: Harness) -> Socket:
    return Socket(harness)
