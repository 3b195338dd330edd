#!/usr/bin/env python
"""What an event costs on daphne's reactor and on Twisted's epoll reactor.

    python benchmarks/reactor_bench.py [--connections 50] [--rounds 2000]

Each round every client socket sends 16 bytes; the reactor reads them (one
read event per connection) and echoes them (one write per connection), and
the client reads the echoes. The figure is the CPU time of the whole round
per connection, once on ``twisted.internet.epollreactor.EPollReactor`` and
once on ``daphne._reactor.DaphneReactor`` (no logging context per event),
alternating, best of three runs each. Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from twisted.internet import error, protocol  # noqa: E402
from twisted.internet.epollreactor import EPollReactor  # noqa: E402
from twisted.python import failure  # noqa: E402

from daphne._reactor import DaphneReactor  # noqa: E402


class Echo(protocol.Protocol):
    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data)


def run(reactor_class: type, connections: int, rounds: int) -> float:
    """CPU microseconds per connection and round (a read and a write event)."""
    reactor = reactor_class()
    port = reactor.listenTCP(0, protocol.Factory.forProtocol(Echo), interface="127.0.0.1")
    clients = [
        socket.create_connection(("127.0.0.1", port.getHost().port)) for _ in range(connections)
    ]
    for _ in range(20):
        reactor.iterate(0.01)  # accept them all
    payload = b"x" * 16
    for client in clients:
        client.setblocking(False)
    try:
        started = time.process_time()
        for _ in range(rounds):
            for client in clients:
                client.send(payload)
            waiting = {client: len(payload) for client in clients}
            while waiting:
                reactor.iterate(0)
                for client in list(waiting):
                    try:
                        waiting[client] -= len(client.recv(64))
                    except BlockingIOError:
                        continue
                    if waiting[client] <= 0:
                        del waiting[client]
        return (time.process_time() - started) / (rounds * connections) * 1e6
    finally:
        for client in clients:
            client.close()
        port.stopListening()
        for selectable in reactor.removeAll():
            selectable.connectionLost(failure.Failure(error.ConnectionDone()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    results: dict[str, list[float]] = {"EPollReactor": [], "DaphneReactor": []}
    for _ in range(3):
        for reactor_class in (EPollReactor, DaphneReactor):
            results[reactor_class.__name__].append(
                run(reactor_class, args.connections, args.rounds)
            )
    stock, ours = min(results["EPollReactor"]), min(results["DaphneReactor"])
    print(f"{args.connections} connections, {args.rounds} rounds (CPU per connection and round):")
    print(f"  Twisted EPollReactor  {stock:6.2f} us")
    print(f"  DaphneReactor         {ours:6.2f} us  ({ours / stock:.2f}x)")


if __name__ == "__main__":
    main()
