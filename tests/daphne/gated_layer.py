"""A Redis layer whose ``websocket.connect`` lives on a second Redis, the gate.

Daphne's handshake tests stop the gate (SIGSTOP: it still accepts TCP
connections, into the kernel's backlog, and never answers, which is a
black-holed Redis) while every other channel keeps working on the main
Redis, so they can show that open sockets keep echoing while handshakes wait.

``daphne tests.daphne.gated_layer:channel_layer`` with ``DAPHNE_TEST_REDIS_URL``,
``DAPHNE_TEST_GATE_URL`` and an optional ``DAPHNE_TEST_PREFIX``;
``python -m tests.daphne.gated_layer`` runs the echo worker on it.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Sequence
from typing import Any

from twisted.internet import defer

from asgi_redis import RedisChannelLayer
from tests.daphne.apps import CHANNELS, EchoApp

GATED = "websocket.connect"
#: Seconds the gate's replies may take: a stopped gate fails sends after this.
GATE_TIMEOUT = 2


class GateLayer(RedisChannelLayer):
    # a socket timeout under the default 5 s blocking pop must come with a shorter pop
    blpop_timeout = 1


class GatedLayer(RedisChannelLayer):
    """``RedisChannelLayer`` with sends to and receives from ``GATED`` on ``gate``."""

    def __init__(self, gate: RedisChannelLayer, **options: Any) -> None:
        super().__init__(**options)
        self.gate = gate

    def send(self, channel: str, message: dict) -> None:
        if channel == GATED:
            return self.gate.send(channel, message)
        return super().send(channel, message)

    def send_batch(self, messages: Sequence[tuple[str, dict]]) -> list:
        return [self._outcome(self.send, channel, message) for channel, message in messages]

    @staticmethod
    def _outcome(send: Any, channel: str, message: dict) -> BaseException | None:
        try:
            send(channel, message)
        except Exception as exc:  # noqa: BLE001 - an outcome, as send_batch reports it
            return exc
        return None

    def send_batch_twisted(self, messages: Sequence[tuple[str, dict]]) -> Any:
        messages = list(messages)
        gated = [i for i, (channel, _) in enumerate(messages) if channel == GATED]
        rest = [i for i, (channel, _) in enumerate(messages) if channel != GATED]
        results: list[BaseException | None] = [None] * len(messages)

        def fill(outcomes: list, indexes: list[int]) -> None:
            for index, outcome in zip(indexes, outcomes):
                results[index] = outcome

        def fail(failure: Any, indexes: list[int]) -> None:
            for index in indexes:
                results[index] = failure.value

        landings = []
        for layer, indexes in ((self.gate, gated), (super(), rest)):
            if indexes:
                landing = layer.send_batch_twisted([messages[i] for i in indexes])
                landing.addCallbacks(fill, fail, callbackArgs=(indexes,), errbackArgs=(indexes,))
                landings.append(landing)
        return defer.gatherResults(landings).addCallback(lambda _: results)

    def receive(self, channels: Sequence[str], block: bool = False) -> Any:
        if list(channels) == [GATED]:
            return self.gate.receive(channels, block=block)
        assert GATED not in channels, "receive the gated channel on its own"
        return super().receive(channels, block=block)


prefix = os.environ.get("DAPHNE_TEST_PREFIX", "daphne-test:")
channel_layer = GatedLayer(
    GateLayer(
        hosts=[os.environ["DAPHNE_TEST_GATE_URL"]],
        prefix=prefix,
        connection_kwargs={"socket_timeout": GATE_TIMEOUT, "socket_connect_timeout": GATE_TIMEOUT},
    ),
    hosts=[os.environ["DAPHNE_TEST_REDIS_URL"]],
    prefix=prefix,
    capacity=1000,
)


def main() -> None:
    """Echo worker: two threads on the main Redis, one on the gate."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *args: stop.set())
    app = EchoApp(channel_layer)
    lanes = [[c for c in CHANNELS if c != GATED]] * 2 + [[GATED]]
    for channels in lanes:
        threading.Thread(target=app.serve, args=(stop, channels), daemon=True).start()
    print("worker ready", flush=True)
    stop.wait()


if __name__ == "__main__":
    main()
