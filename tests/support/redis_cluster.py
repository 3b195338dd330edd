"""A private Redis Cluster for the tests: 3 masters and 3 replicas.

Six ``redis-server --cluster-enabled yes`` processes on free ports of
127.0.0.1 (persistence off, each in its own temporary directory), joined by
``redis-cli --cluster create ... --cluster-replicas 1``; ready once every
node reports ``cluster_state:ok`` and agrees on the slot map. The fault
tests kill masters and move slots with the helpers here.
"""

from __future__ import annotations

import shutil
import subprocess
import time

import redis

from tests.support.redis import RedisServer, RedisUnavailable, free_port

__all__ = ["RedisCluster"]


def _command(port: int, *args: str, timeout: float = 5.0) -> str:
    """One command through redis-cli against a node, as text."""
    cli = shutil.which("redis-cli") or "/usr/bin/redis-cli"
    result = subprocess.run(
        [cli, "-h", "127.0.0.1", "-p", str(port), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return result.stdout + result.stderr


class RedisCluster:
    """Six private nodes made into one cluster (``masters`` masters, one
    replica each); ``node_timeout`` (ms) is how long a master may be silent
    before its replica takes over."""

    def __init__(self, masters: int = 3, node_timeout: int = 2000) -> None:
        self.masters = masters
        self.node_timeout = node_timeout
        self.nodes: list[RedisServer] = []

    @property
    def seeds(self) -> list[tuple[str, int]]:
        """Every node, as the layer's ``hosts``."""
        return [node.address for node in self.nodes]

    def start(self, timeout: float = 30.0) -> RedisCluster:
        if not shutil.which("redis-cli") and not shutil.which("/usr/bin/redis-cli"):
            raise RedisUnavailable("redis-cli not found (Debian: apt-get install redis-server)")
        try:
            for _ in range(self.masters * 2):
                # the cluster bus needs a port of its own (by default the
                # port + 10000, which may be taken, or above 65535)
                node = RedisServer(port=_free_port_below(55535))
                node.extra_args = [
                    "--cluster-enabled", "yes",
                    "--cluster-port", str(free_port()),
                    "--cluster-config-file", str(node.directory / "nodes.conf"),
                    "--cluster-node-timeout", str(self.node_timeout),
                    # a replica whose master died takes over however stale it is
                    "--cluster-replica-validity-factor", "0",
                ]  # fmt: skip
                self.nodes.append(node.start())
            cli = shutil.which("redis-cli") or "/usr/bin/redis-cli"
            created = subprocess.run(
                [
                    cli,
                    "--cluster",
                    "create",
                    *(f"127.0.0.1:{node.port}" for node in self.nodes),
                    "--cluster-replicas",
                    "1",
                    "--cluster-yes",
                ],  # fmt: skip
                capture_output=True,
                text=True,
                timeout=timeout,
            )
            if created.returncode != 0:
                raise RedisUnavailable(f"redis-cli --cluster create failed: {created.stdout}")
            self.wait_ok(timeout)
        except BaseException:
            self.cleanup()
            raise
        return self

    def wait_ok(self, timeout: float = 30.0) -> None:
        """Until every live node says ``cluster_state:ok`` and the slot map is
        the same on all of them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            live = [node for node in self.nodes if node.process is not None]
            states = [_command(node.port, "CLUSTER", "INFO") for node in live]
            maps = {self._masters_of(node.port) for node in live}
            if all("cluster_state:ok" in state for state in states) and len(maps) == 1:
                return
            time.sleep(0.05)
        raise RedisUnavailable(f"the cluster did not reach cluster_state:ok in {timeout} s")

    def _masters_of(self, port: int) -> str:
        lines = _command(port, "CLUSTER", "NODES").splitlines()
        return "\n".join(
            sorted(
                " ".join(fields[1:2] + fields[8:])
                for fields in (line.split() for line in lines)
                if len(fields) > 8 and "master" in fields[2] and "fail" not in fields[2]
            )
        )

    def client(self, node: RedisServer) -> redis.Redis:
        """A plain redis-py client of one node."""
        return redis.Redis(host="127.0.0.1", port=node.port, socket_timeout=5)

    def live(self) -> list[RedisServer]:
        return [node for node in self.nodes if node.process is not None]

    def slot_ranges(self) -> list[tuple[int, int, RedisServer]]:
        """``(first slot, last slot, master)`` as a live node sees them."""
        with self.client(self.live()[0]) as client:
            reply = client.execute_command("CLUSTER SLOTS")
        by_port = {node.port: node for node in self.nodes}
        return [(int(entry[0]), int(entry[1]), by_port[int(entry[2][1])]) for entry in reply]

    def master_of(self, slot: int) -> RedisServer:
        """The node serving ``slot`` now."""
        for start, end, node in self.slot_ranges():
            if start <= slot <= end:
                return node
        raise RedisUnavailable(f"no master serves slot {slot}")

    def node_id(self, node: RedisServer) -> str:
        with self.client(node) as client:
            return client.execute_command("CLUSTER MYID").decode()

    def master_nodes(self) -> list[RedisServer]:
        return list(dict.fromkeys(node for _, _, node in self.slot_ranges()))

    def migrate_slot(self, slot: int, target: RedisServer, hold: float = 0.0) -> None:
        """Move ``slot`` to the master ``target`` the way ``redis-cli --cluster
        reshard`` does, one step at a time: IMPORTING on the target,
        MIGRATING on the source, MIGRATE of every key, then the new owner
        told to every master. ``hold``: seconds the slot stays half-migrated
        (every key already at the target, so clients get ``ASK``) before the
        move is made final."""
        source = self.master_of(slot)
        source_id, target_id = self.node_id(source), self.node_id(target)
        with self.client(target) as to, self.client(source) as frm:
            to.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", source_id)
            frm.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", target_id)
            deadline = time.monotonic() + hold
            while True:
                keys = frm.execute_command("CLUSTER GETKEYSINSLOT", slot, 100)
                if keys:
                    frm.execute_command(
                        "MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", *keys
                    )
                elif time.monotonic() >= deadline:
                    break
                else:
                    time.sleep(0.01)
            to.execute_command("CLUSTER SETSLOT", slot, "NODE", target_id)
            frm.execute_command("CLUSTER SETSLOT", slot, "NODE", target_id)
        for node in self.master_nodes():
            if node not in (source, target):
                with self.client(node) as client:
                    client.execute_command("CLUSTER SETSLOT", slot, "NODE", target_id)

    def cleanup(self) -> None:
        for node in self.nodes:
            node.cleanup()
        self.nodes = []

    def __enter__(self) -> RedisCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


def _free_port_below(limit: int) -> int:
    """A free port no higher than ``limit`` (Redis refuses a cluster node's
    port above 55535)."""
    for _ in range(100):
        port = free_port()
        if port <= limit:
            return port
    raise RedisUnavailable(f"found no free port at or below {limit}")
