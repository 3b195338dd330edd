"""A shard of the cluster layer: one slot, served by whichever master holds it.

See docs/topics/backends.rst, "Redis Cluster".

:class:`ClusterTopology` is the layer's view of the cluster: the slot map
(read with ``CLUSTER SLOTS`` from any node that answers) and one link pool
per master. :class:`ClusterShard` is a :class:`~asgi_redis._shard.Shard`
whose links go to the master of its slot (:mod:`asgi_redis._slots` picks
the slot), so every part of the layer that works on shards works on a
cluster unchanged. It follows the cluster's redirects itself:

* ``MOVED``: the slot lives elsewhere now (resharding, failover): the map
  learns the new master at once (and is read again), the command is sent
  there;
* ``ASK``: the slot is being migrated and this key is already at the
  target: the command is sent there once, after ``ASKING``;
* ``TRYAGAIN``: a multi-key command met a half-migrated slot: retried
  after a few milliseconds;
* ``CLUSTERDOWN``, and a master that cannot be reached: raised as
  :class:`~asgi_redis.exceptions.RedisUnavailable` (the layer's usual outage
  error; daphne answers 503 / close 1013), after reading the slot map again
  (at most every ``refresh_interval`` seconds), so the call after a replica
  was promoted goes to it.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis

from ._link import DEFAULT_SPIN, Link, LinkPool
from ._shard import Script, Shard
from ._slots import Redirect, SlotMap, parse_redirect, shard_tag, tag_slot
from .exceptions import RedisCommandError, RedisUnavailable

__all__ = ["ClusterShard", "ClusterTopology", "redirect_of"]

#: Redirects one command follows before it gives up (a slot moving back and
#: forth faster than that is an outage).
MAX_REDIRECTS = 5


class ClusterTopology:
    """The cluster's masters as the layer sees them: the slot map and a
    link pool per master, made from the seed URLs (the first one's scheme
    and credentials are used for every node the cluster names)."""

    #: Least seconds between two readings of the slot map after errors.
    refresh_interval = 0.25

    def __init__(self, seeds: list[str], connection_kwargs: dict[str, Any]) -> None:
        self.seeds = [_node_of(url) for url in seeds]
        self._template = urlsplit(seeds[0])
        self.connection_kwargs = connection_kwargs
        self.spin = DEFAULT_SPIN
        self._pools: dict[str, LinkPool] = {}
        self._map: SlotMap | None = None
        self._moved: dict[int, str] = {}
        self._lock = threading.Lock()
        self._refreshed = float("-inf")
        #: Redirects followed so far, by kind (for tests and monitoring).
        self.redirects = {"MOVED": 0, "ASK": 0, "TRYAGAIN": 0}

    # -- nodes ---------------------------------------------------------------------

    def pool(self, node: str) -> LinkPool:
        """The link pool of ``node`` (``host:port``), made on first use."""
        pool = self._pools.get(node)
        if pool is None:
            with self._lock:
                pool = self._pools.get(node)
                if pool is None:
                    url = urlunsplit(self._template._replace(netloc=self._netloc(node), path="/0"))
                    connections = redis.ConnectionPool.from_url(url, **self.connection_kwargs)
                    pool = self._pools[node] = LinkPool(connections, f"{node} (cluster)")
                    pool.spin = self.spin
        return pool

    def _netloc(self, node: str) -> str:
        credentials, _, _ = self._template.netloc.rpartition("@")
        return f"{credentials}@{node}" if credentials else node

    def set_spin(self, spin: float) -> None:
        self.spin = spin
        for pool in list(self._pools.values()):
            pool.spin = spin

    def disconnect(self) -> None:
        """Close every link to every node (they reconnect on next use)."""
        for pool in list(self._pools.values()):
            pool.disconnect()
            pool.connection_pool.disconnect()

    # -- slots ---------------------------------------------------------------------

    def node_of(self, slot: int) -> str:
        """The master serving ``slot``; RedisUnavailable when none does."""
        node = self._moved.get(slot)
        if node is not None:
            return node
        if self._map is None:
            self.refresh(force=True)
        assert self._map is not None
        node = self._map.node_of(slot)
        if node is None:
            self.refresh()
            node = self._map.node_of(slot)
        if node is None:
            raise RedisUnavailable(f"No master of the Redis Cluster serves slot {slot} now")
        return node

    def moved(self, slot: int, node: str) -> None:
        """A ``MOVED`` reply said ``slot`` lives at ``node``: use it now, and
        read the whole map again (other slots may have moved with it)."""
        self._moved[slot] = node
        self.refresh()

    def refresh(self, force: bool = False, avoid: str | None = None) -> None:
        """Read the slot map from the first node that answers (``avoid``
        last: it just failed), at most every ``refresh_interval`` seconds
        unless ``force``. Raises RedisUnavailable, when ``force``d, if no
        node answers."""
        now = time.monotonic()
        with self._lock:
            if not force and now - self._refreshed < self.refresh_interval:
                return
            self._refreshed = now
        known = self._map.nodes() if self._map is not None else []
        random.shuffle(known)
        candidates = list(dict.fromkeys([*known, *self.seeds]))
        if avoid in candidates:
            candidates.remove(avoid)
            candidates.append(avoid)
        errors = []
        for node in candidates:
            pool = self.pool(node)
            try:
                link = pool.acquire()
                try:
                    reply = link.call("CLUSTER", "SLOTS")
                finally:
                    pool.release(link)
            except (RedisUnavailable, RedisCommandError) as exc:
                errors.append(f"{node}: {exc}")
                continue
            slot_map = SlotMap.from_reply(reply)
            if len(slot_map):
                with self._lock:
                    self._map = slot_map
                    self._moved = {}
                return
            errors.append(f"{node}: no slots assigned")
        if force or self._map is None:
            raise RedisUnavailable(
                "No node of the Redis Cluster answered CLUSTER SLOTS: " + "; ".join(errors)
            )


class _SlotLinks:
    """A link pool for one slot: each link comes from the pool of the master
    serving the slot when it is asked for (or from an ``ASK`` target once,
    after ``ASKING``), and goes back to the pool it came from."""

    def __init__(self, topology: ClusterTopology, slot: int) -> None:
        self.topology = topology
        self.slot = slot
        self.where = f"slot {slot}"
        self._ask = threading.local()

    @property
    def spin(self) -> float:
        return self.topology.spin

    @spin.setter
    def spin(self, value: float) -> None:
        self.topology.set_spin(value)

    @property
    def connection_pool(self) -> Any:
        """redis-py's pool for the slot's master now."""
        return self.topology.pool(self.topology.node_of(self.slot)).connection_pool

    def ask(self, node: str) -> None:
        """Send this thread's next command to ``node``, after ``ASKING``."""
        self._ask.node = node

    def acquire(self) -> Link:
        node = getattr(self._ask, "node", None)
        self._ask.node = None
        home = self.topology.pool(node or self.topology.node_of(self.slot))
        link = home.acquire()
        link.home = home  # type: ignore[attr-defined]
        if node is not None:
            try:
                link.call("ASKING")
            except BaseException:
                home.release(link)
                raise
        return link

    def release(self, link: Link) -> None:
        link.home.release(link)  # type: ignore[attr-defined]

    def disconnect(self) -> None:
        """Drop the links to the slot's master (it failed)."""
        try:
            node = self.topology.node_of(self.slot)
        except RedisUnavailable:
            return
        self.topology.pool(node).disconnect()


class ClusterShard(Shard):
    """Shard ``index`` of ``count`` on a cluster: its keys carry
    :func:`~asgi_redis._slots.shard_tag`, so they share one slot, and its
    commands go to that slot's master, following redirects."""

    def __init__(self, topology: ClusterTopology, index: int, count: int) -> None:
        self.tag = shard_tag(index, count)
        self.slot = tag_slot(self.tag)
        super().__init__(None, f"Redis Cluster slot {self.slot} (shard {self.tag})")
        self.topology = topology
        self.links = _SlotLinks(topology, self.slot)  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<ClusterShard {self.tag} slot {self.slot}>"

    # -- redirects -------------------------------------------------------------------

    def follow(self, error: Exception, attempt: int) -> bool:
        """Act on a redirect in ``error``: True when the command should be
        sent again, False when ``error`` is no redirect. CLUSTERDOWN raises
        RedisUnavailable."""
        redirect = redirect_of(error)
        if redirect is None:
            return False
        if redirect.kind == "CLUSTERDOWN":
            self.topology.refresh()
            raise RedisUnavailable(f"Redis Cluster cannot serve {self.where} now: {error}")
        self.topology.redirects[redirect.kind] += 1
        if redirect.kind == "TRYAGAIN":
            time.sleep(0.005 * 2**attempt)
            return True
        node = self._full_node(redirect)
        if redirect.kind == "MOVED":
            self.topology.moved(self.slot, node)
        else:
            self.links.ask(node)  # type: ignore[attr-defined]
        return True

    def _full_node(self, redirect: Redirect) -> str:
        node = redirect.node or ""
        if node.startswith(":"):  # Redis < 7 may leave out the host: the same one
            node = self.topology.node_of(self.slot).rpartition(":")[0] + node
        return node

    def _redirected(self, operation: Callable[[], Any]) -> Any:
        for attempt in range(MAX_REDIRECTS):
            try:
                return operation()
            except RedisUnavailable:
                self.failed_node()
                raise
            except RedisCommandError as exc:
                if not self.follow(exc, attempt):
                    raise
        raise RedisUnavailable(
            f"{self.where} was redirected {MAX_REDIRECTS} times in a row; the cluster is "
            "moving it (try again shortly)"
        )

    def failed_node(self) -> None:
        """A master did not answer: read the slot map again (a replica may
        have been promoted), trying the other nodes first."""
        try:
            avoid = self.topology.node_of(self.slot)
        except RedisUnavailable:
            avoid = None
        try:
            self.topology.refresh(avoid=avoid)
        except RedisUnavailable:
            pass  # the caller raises its own error

    # -- commands --------------------------------------------------------------------

    def run(self, script: Script, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        return self._redirected(
            lambda: Shard.finish(self, script, Shard.start(self, script, keys, args))
        )

    def start(self, script: Script, keys: Sequence[Any], args: Sequence[Any]) -> tuple:
        try:
            return Shard.start(self, script, keys, args), keys, args
        except RedisUnavailable:
            self.failed_node()
            raise

    def _read_or_follow(self, read: Callable[[], Any], again: Callable[[], Any]) -> Any:
        """``read()``, the reply of a command sent earlier; when the cluster
        redirected it, ``again()`` makes it afresh where the redirect says."""
        try:
            return read()
        except RedisUnavailable:
            self.failed_node()
            raise
        except RedisCommandError as exc:
            if not self.follow(exc, 0):
                raise
        return again()

    def finish(self, script: Script, started: tuple) -> Any:
        inner, keys, args = started
        return self._read_or_follow(
            lambda: Shard.finish(self, script, inner), lambda: self.run(script, keys, args)
        )

    def call_packed(self, command: bytes, name: str = "") -> Any:
        return self._redirected(lambda: Shard.call_packed(self, command, name))

    def call_many(self, commands: Sequence[tuple], raise_errors: bool = True) -> list[Any]:
        """A pipeline to the slot's master; a command of it that was
        redirected (a key already migrated, mid-pipeline) is sent again on
        its own, where the redirect says."""
        replies = self._redirected(lambda: Shard.call_many(self, commands, raise_errors=False))
        error = None
        for position, reply in enumerate(replies):
            if isinstance(reply, RedisCommandError) and redirect_of(reply) is not None:
                try:
                    reply = replies[position] = self.call(*commands[position])
                except RedisCommandError as exc:
                    reply = replies[position] = exc
            if isinstance(reply, RedisCommandError):
                error = error or reply
        if error is not None and raise_errors:
            raise error
        return replies

    def start_pop(self, keys: Sequence[bytes], count: int, fallback: Script) -> tuple:
        try:
            return Shard.start_pop(self, keys, count, fallback)
        except RedisUnavailable:
            self.failed_node()
            raise

    def finish_pop(self, started: tuple, fallback: Script) -> Any:
        """The reply of a pop sent with :meth:`start_pop`; one the cluster
        redirected (the slot moved since) is sent again where it says."""
        return self._read_or_follow(
            lambda: Shard.finish_pop(self, started, fallback),
            lambda: self.pop(started[2], started[3], fallback),
        )

    def blpop(self, keys: Sequence[bytes], timeout: float, count: int = 1) -> Any:
        deadline = time.monotonic() + timeout
        return self._redirected(
            lambda: Shard.blpop(self, keys, max(deadline - time.monotonic(), 0.01), count)
        )

    def start_blpop(self, keys: Sequence[bytes], timeout: float, count: int = 1) -> Link:
        try:
            return Shard.start_blpop(self, keys, timeout, count)
        except RedisUnavailable:
            self.failed_node()
            raise

    def unblock(self, link: Link) -> Any:
        """CLIENT UNBLOCK on the node ``link`` is connected to (the slot may
        have moved since its pop was sent)."""
        home = link.home  # type: ignore[attr-defined]
        other = home.acquire()
        try:
            return other.call("CLIENT", "UNBLOCK", link.client_id)
        finally:
            home.release(other)

    def disconnect(self) -> None:
        self.topology.disconnect()


def redirect_of(error: Exception) -> Redirect | None:
    """The cluster redirect an error reply carries, or None."""
    return parse_redirect(str(error))


def _node_of(url: str) -> str:
    """``host:port`` of a seed URL (port 6379 when it names none)."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}"
