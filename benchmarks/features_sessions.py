"""Throughput of channel sessions and strict ordering through the real Worker.

Run: DJANGO_SETTINGS_MODULE=tests.settings python benchmarks/features_sessions.py
In-memory layer, in-memory SQLite (db sessions) or locmem cache sessions.
Prints messages per second; keep runs short on shared machines.
"""

from __future__ import annotations

import logging
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.test import override_settings  # noqa: E402

from asgi import www  # noqa: E402
from asgi.inmemory import ChannelLayer  # noqa: E402
from channels.asgi import ChannelLayerWrapper, channel_layers  # noqa: E402
from channels.routing import route  # noqa: E402
from channels.sessions import channel_session, enforce_ordering  # noqa: E402
from channels.worker import Worker  # noqa: E402

N = int(os.environ.get("BENCH_MESSAGES", "2000"))


@channel_session
def tally(message):
    message.channel_session["n"] = message.channel_session.get("n", 0) + 1


@enforce_ordering
def ordered(message):
    pass


_RUNS = iter(range(1_000_000))


def run(consumer, orders, connections=20):
    run_id = next(_RUNS)
    layer = ChannelLayerWrapper(
        ChannelLayer(capacity=100_000), "default", [route("websocket.receive", consumer)]
    )
    channel_layers.set("default", layer)
    for c in range(connections):
        for order in orders:
            layer.send(
                "websocket.receive",
                www.websocket_receive(
                    reply_channel=f"websocket.send.r{run_id}c{c}", path="/", order=order, text="x"
                ),
            )
    worker = Worker(layer, signal_handlers=False)
    handled = 0
    started = time.perf_counter()
    while True:
        channel, content = layer.receive(["websocket.receive"], block=False)
        if channel is None:
            break
        worker.handle(channel, content)
        handled += 1
    elapsed = time.perf_counter() - started
    messages = connections * len(orders)
    return messages / elapsed, handled / messages


def main():
    logging.getLogger("channels").setLevel(logging.ERROR)
    call_command("migrate", verbosity=0)
    per_connection = N // 20
    cache = {
        "CHANNEL_SESSION_ENGINE": "django.contrib.sessions.backends.cache",
        "CACHES": {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
    }
    for label, overrides in [("db", {}), ("cache", cache)]:
        with override_settings(**overrides):
            rate, _ = run(tally, range(per_connection))
            print(f"channel_session ({label}): {rate:,.0f} msg/s")
            rate, hops = run(ordered, range(per_connection))
            print(
                f"enforce_ordering in order ({label}): {rate:,.0f} msg/s, {hops:.2f} deliveries/msg"
            )
            rate, hops = run(ordered, range(per_connection - 1, -1, -1))
            print(
                f"enforce_ordering reversed ({label}): {rate:,.0f} msg/s, {hops:.2f} deliveries/msg"
            )


if __name__ == "__main__":
    main()
