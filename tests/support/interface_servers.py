"""Fixtures for the email, IRC-client and UDP interface-server tests.

Each test that needs Twisted gets its own private reactor running in a
thread (never the global one, so these tests cannot disturb others), and a
fresh in-memory channel layer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from twisted.internet.epollreactor import EPollReactor
from twisted.internet.threads import blockingCallFromThread

from asgi.inmemory import ChannelLayer

#: Generous: the machine running the tests may be loaded.
TIMEOUT = 15.0


class ReactorThread:
    """A private reactor run by a daemon thread; ``call`` runs code in it."""

    def __init__(self) -> None:
        self.reactor = EPollReactor()
        self._thread = threading.Thread(
            target=self.reactor.run,
            kwargs={"installSignalHandlers": False},
            name="test reactor",
            daemon=True,
        )

    def start(self) -> None:
        self._thread.start()
        self.call(lambda: None)

    def call(self, function: Callable, *args: Any, **kwargs: Any) -> Any:
        """Run ``function`` in the reactor thread and return (or raise) its result."""
        return blockingCallFromThread(self.reactor, function, *args, **kwargs)

    def stop(self) -> None:
        if self.reactor.running:
            self.reactor.callFromThread(self.reactor.stop)
        self._thread.join(TIMEOUT)
        assert not self._thread.is_alive(), "the test reactor did not stop"


@pytest.fixture
def reactor_thread() -> Iterator[ReactorThread]:
    thread = ReactorThread()
    thread.start()
    yield thread
    thread.stop()


@pytest.fixture
def layer() -> ChannelLayer:
    return ChannelLayer()


def receive(layer: Any, channels: list[str], timeout: float = TIMEOUT) -> tuple[str, dict]:
    """Block until a message arrives on one of ``channels``; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        channel, message = layer.receive(channels, block=True)
        if channel is not None:
            return channel, message
    raise AssertionError(f"no message on {channels} within {timeout} s")


def wait_until(predicate: Callable[[], Any], timeout: float = TIMEOUT, what: str = "") -> Any:
    """Return the first truthy value of ``predicate()``; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
