"""A minimal IRC server for the IRC-client tests (a real TCP peer on 127.0.0.1).

It registers any NICK/USER with a 001 welcome, confirms JOIN and PART,
answers PING, records every line the client sends, and lets a test push
lines to the client or drop the connection. One thread per connection;
lines from the client are queued for :meth:`expect`.
"""

from __future__ import annotations

import queue
import re
import socket
import socketserver
import threading
import time

__all__ = ["MiniIRCServer"]

NAME = "mini.irc"


class _Handler(socketserver.StreamRequestHandler):
    server: _TCPServer

    def handle(self) -> None:
        peer = self.server.owner
        conn = _Connection(self.request)
        peer._attach(conn)
        try:
            for raw in self.rfile:
                line = raw.rstrip(b"\r\n").decode("utf-8", "replace")
                peer.lines.put(line)
                conn.handle(line)
        except OSError:
            pass
        finally:
            peer._detach(conn)


class _Connection:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.nick: str | None = None
        self.user: str | None = None
        self.lock = threading.Lock()

    @property
    def mask(self) -> str:
        return f"{self.nick}!{self.user or self.nick}@127.0.0.1"

    def send(self, line: str) -> None:
        with self.lock:
            self.sock.sendall(line.encode("utf-8") + b"\r\n")

    def handle(self, line: str) -> None:
        command, _, rest = line.partition(" ")
        command = command.upper()
        if command == "NICK":
            self.nick = rest.strip()
        elif command == "USER":
            self.user = rest.split(" ", 1)[0]
        elif command == "PING":
            self.send(f":{NAME} PONG {NAME} :{rest.lstrip(':')}")
        elif command in ("JOIN", "PART"):
            for channel in rest.split(" ", 1)[0].split(","):
                self.send(f":{self.mask} {command} {channel}")
        if command in ("NICK", "USER") and self.nick and self.user:
            self.send(f":{NAME} 001 {self.nick} :Welcome to the mini IRC server {self.mask}")


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, owner: MiniIRCServer, port: int) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", port), _Handler)


class MiniIRCServer:
    """Listens on ``port`` (0 picks a free one, then in ``.port``); :meth:`start` serves."""

    def __init__(self, port: int = 0) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.accepted = 0
        self._connections: list[_Connection] = []
        self._lock = threading.Lock()
        self._server = _TCPServer(self, port)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> MiniIRCServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
        self.drop()

    def _attach(self, conn: _Connection) -> None:
        with self._lock:
            self.accepted += 1
            self._connections.append(conn)

    def _detach(self, conn: _Connection) -> None:
        with self._lock:
            if conn in self._connections:
                self._connections.remove(conn)

    @property
    def client(self) -> _Connection:
        with self._lock:
            if not self._connections:
                raise AssertionError("no IRC client is connected")
            return self._connections[-1]

    def connected_count(self) -> int:
        with self._lock:
            return len(self._connections)

    def send(self, line: str) -> None:
        """Send one raw line to the (latest) connected client."""
        self.client.send(line)

    def say(self, nick: str, target: str, text: str, command: str = "PRIVMSG") -> None:
        """Deliver a message from ``nick`` to ``target`` (a channel or the client's nick)."""
        self.send(f":{nick}!{nick}@users.example {command} {target} :{text}")

    def drop(self) -> None:
        """Close every client connection abruptly."""
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.sock.close()

    def expect(self, pattern: str, timeout: float = 15.0) -> re.Match:
        """Wait for a line from the client matching ``pattern``; skip others."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no line matching {pattern!r} within {timeout} s; saw {seen}")
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            seen.append(line)
            match = regex.search(line)
            if match:
                return match
