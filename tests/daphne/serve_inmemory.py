"""Run daphne on the in-memory layer with ``EchoApp`` worker threads in the
same process, the way ``runserver`` embeds it.

``python -m tests.daphne.serve_inmemory ENDPOINT [ENDPOINT ...]``

With ``DAPHNE_STOCK_PATHS=1`` in the environment every fast path of
``daphne._compat`` reports its internals missing: daphne runs on the stock
paths (Twisted's own reactor, Autobahn's own parser, HTTP/1.x channels).
"""

from __future__ import annotations

import logging
import os
import sys
import threading

from asgi.inmemory import ChannelLayer
from daphne.server import Server
from tests.daphne.apps import EchoApp


def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if os.environ.get("DAPHNE_STOCK_PATHS"):
        from daphne._compat import FAST_PATHS

        for path in FAST_PATHS:
            path.check = lambda: ["forced off by DAPHNE_STOCK_PATHS"]
    layer = ChannelLayer(capacity=100)
    app = EchoApp(layer)
    stop = threading.Event()
    for _ in range(4):
        threading.Thread(target=app.serve, args=(stop,), daemon=True).start()
    server = Server(
        layer,
        endpoints=argv,
        http_timeout=3,
        websocket_connect_timeout=3,
        ping_interval=20,
        ws_protocols=["chat.v1", "chat.v2"],
        shutdown_timeout=3,
        max_request_body_size=20 * 1024 * 1024,
    )
    server.run()
    stop.set()
    print("daphne exited cleanly", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
