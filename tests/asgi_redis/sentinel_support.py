"""A real Sentinel setup for the tests: a master, a replica and one
``redis-server <conf> --sentinel`` process, each on a free port."""

from __future__ import annotations

import time

import redis

from tests.support.redis import RedisServer, RedisUnavailable

SERVICE = "mymaster"


class SentinelServer(RedisServer):
    """``redis-server sentinel.conf --sentinel`` monitoring one master."""

    def __init__(self, master_port: int, service: str = SERVICE) -> None:
        super().__init__()
        self.master_port = master_port
        self.service = service

    def command(self) -> list[str]:
        conf = self.directory / "sentinel.conf"
        conf.write_text(
            "\n".join(
                [
                    f"port {self.port}",
                    "bind 127.0.0.1",
                    f"dir {self.directory}",
                    f"logfile {self.directory / 'redis.log'}",
                    f"sentinel monitor {self.service} 127.0.0.1 {self.master_port} 1",
                    f"sentinel down-after-milliseconds {self.service} 1000",
                    f"sentinel failover-timeout {self.service} 4000",
                    f"sentinel parallel-syncs {self.service} 1",
                    "",
                ]
            )
        )
        return [self.binary, str(conf), "--sentinel"]


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except redis.RedisError:
            pass
        time.sleep(0.1)
    raise RedisUnavailable(f"timed out after {timeout}s waiting for {what}")


class SentinelCluster:
    """Master + replica + sentinel; ``failover()`` swaps the roles."""

    def __init__(self) -> None:
        self.master = RedisServer()
        self.replica: RedisServer | None = None
        self.sentinel: SentinelServer | None = None
        self.servers: list[RedisServer] = [self.master]

    def start(self) -> SentinelCluster:
        self.master.start()
        self.replica = RedisServer("--replicaof", "127.0.0.1", str(self.master.port))
        self.servers.append(self.replica)
        self.replica.start()
        with redis.Redis(port=self.replica.port) as client:
            wait_for(
                lambda: client.info("replication").get("master_link_status") == "up",
                20,
                "the replica to sync",
            )
        self.sentinel = SentinelServer(self.master.port)
        self.servers.append(self.sentinel)
        self.sentinel.start()
        wait_for(
            lambda: len(self.sentinel_client().sentinel_slaves(SERVICE)) == 1,
            20,
            "replica discovery",
        )
        return self

    def sentinel_client(self) -> redis.Redis:
        return redis.Redis(port=self.sentinel.port, socket_timeout=5)

    def master_port(self) -> int:
        host, port = self.sentinel_client().sentinel_get_master_addr_by_name(SERVICE)
        return int(port)

    def failover(self, timeout: float = 30) -> int:
        """Promote the replica; returns the new master's port once it takes writes."""
        old = self.master_port()
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sentinel_client().execute_command("SENTINEL", "FAILOVER", SERVICE)
                break
            except redis.ResponseError:
                # NOGOODSLAVE / INPROG right after start: ask again.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        wait_for(lambda: self.master_port() != old, timeout, "the failover")
        new = self.master_port()
        with redis.Redis(port=new) as client:
            wait_for(lambda: client.info("replication")["role"] == "master", timeout, "promotion")
        return new

    def cleanup(self) -> None:
        for server in reversed(self.servers):
            server.cleanup()
