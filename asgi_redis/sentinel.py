"""``RedisSentinelChannelLayer``: the layer over Sentinel-managed masters.

See docs/topics/backends.rst, "Sentinel".

``hosts`` are Sentinel addresses (tuples only); each service in
``services`` is one shard, served by its current master. A connection asks
Sentinel for the master when it (re)connects; a failover shows up as a
dropped connection or a READONLY reply, the operation raises
``RedisUnavailable`` promptly, and the next one reconnects to the new
master. The layer also asks Sentinel which server is master every
``sentinel_refresh_interval`` seconds (every second when it is 0), and
retires its connections to a master that is no longer one: until Sentinel
demotes it, an old master still takes writes that are then lost.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from ._shard import Shard
from .core import BaseRedisChannelLayer
from .exceptions import RedisUnavailable

__all__ = ["RedisSentinelChannelLayer"]

#: Seconds between master checks when ``sentinel_refresh_interval`` is 0.
DEFAULT_REFRESH = 1.0
#: The base layer's options 1.x took positionally before ``services``
#: (``expiry`` ... ``connection_kwargs``).
_BASE_POSITIONAL = 9


class _SentinelShard(Shard):
    """A shard whose server is the current master of one Sentinel service."""

    def __init__(self, sentinel: Sentinel, service: str, kwargs: dict, refresh: float) -> None:
        client = sentinel.master_for(service, **kwargs)
        super().__init__(client.connection_pool, f"sentinel service {service!r}")
        self.sentinel = sentinel
        self.service = service
        # 1.x with 0 built a new client per call, which found a new master at
        # once but cost a Sentinel query and a connection each time; here 0
        # means asking at most once a second.
        self.refresh = refresh if refresh > 0 else DEFAULT_REFRESH
        self._master: Any = None
        self._next_refresh = 0.0
        self._refresh_lock = threading.Lock()
        original_acquire = self.links.acquire

        def acquire() -> Any:
            self._maybe_refresh()
            return original_acquire()

        self.links.acquire = acquire

    def _maybe_refresh(self) -> None:
        now = time.monotonic()
        if now < self._next_refresh or not self._refresh_lock.acquire(blocking=False):
            return
        try:
            self._next_refresh = now + self.refresh
            try:
                master = self.sentinel.discover_master(self.service)
            except redis.RedisError:
                return  # the next operation reports the outage
            if self._master is not None and master != self._master:
                self.links.disconnect()
            self._master = master
        finally:
            self._refresh_lock.release()


class RedisSentinelChannelLayer(BaseRedisChannelLayer):
    """The Redis layer with masters found through Redis Sentinel.

    ``hosts``: Sentinel ``(host, port)`` tuples (default
    ``[("localhost", 26379)]``). ``services``: master service names, one per
    shard; empty means every master the Sentinels know (asked once, at
    start). ``sentinel_refresh_interval``: seconds between checks of which
    server is the master (0: every second). Every other option is
    ``RedisChannelLayer``'s, passed on as given.
    """

    def __init__(
        self,
        *args: Any,
        services: list[str] | None = None,
        sentinel_refresh_interval: float = 0,
        **kwargs: Any,
    ) -> None:
        # Every other option is the base layer's, passed on as given; 1.x
        # took services and sentinel_refresh_interval positionally after
        # connection_kwargs, so a tenth and eleventh positional argument
        # are still read as them.
        if len(args) > _BASE_POSITIONAL:
            extra = args[_BASE_POSITIONAL:]
            args = args[:_BASE_POSITIONAL]
            if len(extra) > 2:
                raise TypeError(
                    f"RedisSentinelChannelLayer() takes at most {_BASE_POSITIONAL + 2} "
                    f"positional arguments, got {_BASE_POSITIONAL + len(extra)}"
                )
            services = extra[0]
            if len(extra) == 2:
                sentinel_refresh_interval = extra[1]
        if isinstance(services, (str, bytes)):
            raise ValueError(
                f"services must be a list of service names, not a string: {services!r}"
            )
        if services is not None and not all(isinstance(s, str) and s for s in services):
            raise ValueError(f"services must be a list of non-empty strings, got {services!r}")
        if isinstance(sentinel_refresh_interval, bool) or not isinstance(
            sentinel_refresh_interval, (int, float)
        ):
            raise ValueError(
                f"sentinel_refresh_interval must be a number of seconds, got {sentinel_refresh_interval!r}"
            )
        self.services = list(services or [])
        self.sentinel_refresh_interval = sentinel_refresh_interval
        super().__init__(*args, **kwargs)

    def _make_shards(self, hosts: Any) -> list[Shard]:
        self.hosts = self._setup_hosts(hosts)
        self.connection_kwargs.setdefault("socket_keepalive", True)
        sentinel_kwargs = {
            key: value
            for key, value in self.connection_kwargs.items()
            if key in ("socket_timeout", "socket_connect_timeout", "socket_keepalive", "password")
        }
        # Sentinel answers from memory: a second is plenty, and a Sentinel
        # that does not answer must not stall the operation that checks it.
        for option in ("socket_timeout", "socket_connect_timeout"):
            sentinel_kwargs[option] = min(sentinel_kwargs.get(option) or 1.0, 1.0)
        # redis-py clients retry with backoff by default; the next Sentinel in
        # the list is a better retry than the same one a second later.
        sentinel_kwargs["retry"] = Retry(NoBackoff(), 0)
        self.sentinel = Sentinel(
            self.hosts, sentinel_kwargs=sentinel_kwargs, **self.connection_kwargs
        )
        if not self.services:
            self.services = self._discover_services()
        return [
            _SentinelShard(
                self.sentinel, service, self.connection_kwargs, self.sentinel_refresh_interval
            )
            for service in self.services
        ]

    @staticmethod
    def _setup_hosts(hosts: Any) -> list[tuple[str, int]]:
        if hosts is None:
            hosts = [("localhost", 26379)]
        if isinstance(hosts, (str, bytes)) or not isinstance(hosts, (list, tuple)):
            raise ValueError(f"hosts must be a list of Sentinel (host, port) tuples, got {hosts!r}")
        result = []
        for entry in hosts:
            if (
                not isinstance(entry, (tuple, list))
                or len(entry) != 2
                or not isinstance(entry[0], str)
                or not isinstance(entry[1], int)
            ):
                raise ValueError(
                    "Sentinel hosts must be (host, port) tuples (URLs are not supported), "
                    f"got {entry!r}"
                )
            result.append((entry[0], entry[1]))
        if not result:
            raise ValueError("hosts must name at least one Sentinel")
        return result

    def _discover_services(self) -> list[str]:
        """Every master service known to the first Sentinel that answers."""
        errors = []
        for client in self.sentinel.sentinels:
            try:
                masters = client.sentinel_masters()
            except redis.RedisError as exc:
                errors.append(str(exc))
                continue
            services = sorted(masters)
            if services:
                return services
            errors.append("no masters monitored")
        raise RedisUnavailable(
            f"Could not discover any Sentinel service from {self.hosts!r}: {'; '.join(errors)}"
        )

    def __str__(self) -> str:
        return f"{type(self).__name__}(services=={self.services!r})"
