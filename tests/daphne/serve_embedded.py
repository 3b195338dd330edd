"""Drive ``Server.start()`` / ``Server.stop()`` from code, with the reactor in
a background thread (how a live-server test case embeds daphne). Prints one
JSON line of observations for ``test_integration_embedded``."""

from __future__ import annotations

import json
import socket
import threading

import httpx
from twisted.internet import reactor
from twisted.internet.threads import blockingCallFromThread
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from asgi.inmemory import ChannelLayer
from daphne.server import Server
from tests.daphne.apps import EchoApp


def serve_once(layer: ChannelLayer) -> dict:
    server = Server(layer, endpoints=["tcp:port=0:interface=127.0.0.1"], signal_handlers=False)
    ports = blockingCallFromThread(reactor, server.start)
    host, port = ports[0]
    seen: dict = {"ports": ports}
    seen["status"] = httpx.get(f"http://{host}:{port}/embedded", timeout=10).status_code
    with ws_connect(f"ws://{host}:{port}/echo") as ws:
        ws.send("x")
        seen["echo"] = ws.recv()
        blockingCallFromThread(reactor, server.stop)
        try:
            ws.recv(timeout=5)
        except ConnectionClosed as exc:
            seen["close_code"] = exc.rcvd.code if exc.rcvd else None
    try:
        socket.create_connection((host, port), timeout=2).close()
        seen["closed_after_stop"] = False
    except OSError:
        seen["closed_after_stop"] = True
    return seen


def main() -> None:
    threading.Thread(
        target=reactor.run, kwargs={"installSignalHandlers": False}, daemon=True
    ).start()
    layer = ChannelLayer()
    stop = threading.Event()
    threading.Thread(target=EchoApp(layer).serve, args=(stop,), daemon=True).start()
    runs = [serve_once(layer), serve_once(layer)]
    stop.set()
    reactor.callFromThread(reactor.stop)
    print("RESULT " + json.dumps(runs), flush=True)


if __name__ == "__main__":
    main()
