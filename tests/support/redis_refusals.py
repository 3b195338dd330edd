"""Put a private redis-server into a state in which it refuses writes, and out again.

Each refusal names the error reply Redis gives in that state (``OOM``,
``READONLY``, ``MISCONF``, ``LOADING``), the extra command-line arguments the
server needs to be started with, and ``begin`` / ``end`` to enter and leave
the state on a running server. Shared by the layer tests and daphne's.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable

import redis

from tests.support.redis import RedisServer

__all__ = ["REFUSALS", "Refusal"]


def _wait(predicate: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"Redis never got {what} in {timeout}s")


def _client(server: RedisServer) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=5)


def _raw_reply(server: RedisServer, command: bytes) -> bytes:
    try:
        with socket.create_connection(server.address, timeout=0.5) as sock:
            sock.sendall(command)
            return sock.recv(256)
    except OSError:
        return b""


class Refusal:
    """One way a live Redis refuses writes (see the module docstring)."""

    reply = ""
    server_args: tuple[str, ...] = ()

    def __init__(self, make_server: Callable[..., RedisServer]) -> None:
        self.make_server = make_server

    def begin(self, server: RedisServer) -> None:
        raise NotImplementedError

    def end(self, server: RedisServer) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.reply


class OutOfMemory(Refusal):
    """Used memory above ``maxmemory`` with ``noeviction``; ends when the limit is lifted."""

    reply = "OOM"
    server_args = ("--maxmemory-policy", "noeviction")

    def begin(self, server: RedisServer) -> None:
        client = _client(server)
        for number in range(32):
            client.set(f"ballast:{number}", b"x" * 65536)
        # well under what is used now (an empty server uses about 1 MB),
        # so writes stay refused whatever a new connection costs
        client.config_set("maxmemory", "1mb")

    def end(self, server: RedisServer) -> None:
        _client(server).config_set("maxmemory", 0)


class ReadOnlyReplica(Refusal):
    """A master demoted to a read-only replica (a failover elsewhere); ends on ``REPLICAOF NO ONE``."""

    reply = "READONLY"

    def begin(self, server: RedisServer) -> None:
        master = self.make_server()
        _client(server).replicaof("127.0.0.1", master.port)

    def end(self, server: RedisServer) -> None:
        _client(server).replicaof("NO", "ONE")


class FailedSave(Refusal):
    """A background save failed with ``stop-writes-on-bgsave-error yes`` (the
    default, with a save point); ends once a save succeeds."""

    reply = "MISCONF"
    server_args = ("--save", "3600 1", "--enable-protected-configs", "yes")

    def begin(self, server: RedisServer) -> None:
        client = _client(server)
        client.config_set("dir", "/proc")  # not writable, even for root
        self._save(client, "err")

    def end(self, server: RedisServer) -> None:
        client = _client(server)
        client.config_set("dir", str(server.directory))
        self._save(client, "ok")

    @staticmethod
    def _save(client: redis.Redis, status: str) -> None:
        _wait(lambda: not client.info("persistence")["rdb_bgsave_in_progress"], "idle")
        client.bgsave()
        _wait(
            lambda: (
                client.info("persistence")["rdb_last_bgsave_status"] == status
                and not client.info("persistence")["rdb_bgsave_in_progress"]
            ),
            f"a save with status {status}",
        )


class Loading(Refusal):
    """A restart that loads a dataset slowly (``key-load-delay``); ends when it is loaded."""

    reply = "LOADING"
    keys = 20_000

    def begin(self, server: RedisServer) -> None:
        client = _client(server)
        pipe = client.pipeline(transaction=False)
        for number in range(self.keys):
            pipe.set(f"ballast:{number}", b"x")
        pipe.execute()
        client.save()
        server.stop()
        # 20 000 keys at 250 us each: about five seconds of LOADING replies
        server.extra_args += [
            "--key-load-delay", "250",
            "--loading-process-events-interval-bytes", "1024",
        ]  # fmt: skip
        server.process = subprocess.Popen(
            server.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _wait(lambda: _raw_reply(server, b"PING\r\n").startswith(b"-LOADING"), "to LOADING")

    def end(self, server: RedisServer) -> None:
        _wait(lambda: _raw_reply(server, b"PING\r\n").startswith(b"+PONG"), "loaded", 60)


REFUSALS = (OutOfMemory, ReadOnlyReplica, FailedSave, Loading)
