"""Per-message cost of the channels core, in one process on the in-memory layer.

Measures (no network, no Redis):

- routing: ``Router.match`` over a 20-route routing with filters;
- worker: ``Worker.handle`` for a WebSocket echo (route, signals, consumer,
  deferred send), messages per second;
- views: ``ViewConsumer`` for a plain Django view, requests per second.

Run from the repository root:
``PYTHONPATH=. DJANGO_SETTINGS_MODULE=tests.settings python benchmarks/channels_core_bench.py``
"""

from __future__ import annotations

import time

import django


def rate(label: str, count: int, func) -> None:
    started = time.perf_counter()
    for _ in range(count):
        func()
    elapsed = time.perf_counter() - started
    print(f"{label:<40} {count / elapsed:>10.0f}/s  {elapsed / count * 1e6:>8.1f} us each")


def main() -> None:
    django.setup()
    from asgi import www
    from asgi.inmemory import ChannelLayer
    from channels.asgi import ChannelLayerWrapper
    from channels.handler import ViewConsumer
    from channels.message import Message
    from channels.routing import route
    from channels.worker import Worker

    def echo(message, **kwargs):
        message.reply_channel.send({"text": message["text"]})

    routing = [route("websocket.receive", echo, path=rf"^/room{n}/$") for n in range(19)]
    routing.append(route("websocket.receive", echo, path=r"^/echo/$"))
    layer = ChannelLayerWrapper(ChannelLayer(capacity=10**6), "bench", routing)
    content = www.websocket_receive(
        reply_channel="websocket.send!bench", path="/echo/", order=1, text="hi"
    )
    message = Message(content, "websocket.receive", layer)
    rate("Router.match (20 routes, last matches)", 20000, lambda: layer.router.match(message))

    worker = Worker(layer, signal_handlers=False)

    def handle_one():
        worker.handle("websocket.receive", dict(content))
        layer.receive(["websocket.send!"])

    rate("Worker.handle websocket echo + receive", 5000, handle_one)

    consumer = ViewConsumer()
    request = www.http_request(
        reply_channel="http.response!bench", method="GET", path="/empty/", headers=[(b"host", b"x")]
    )

    def view_one():
        consumer(Message(dict(request), "http.request", layer))
        layer.receive(["http.response!"])

    rate("ViewConsumer (full middleware, 204 view)", 2000, view_one)


if __name__ == "__main__":
    main()
