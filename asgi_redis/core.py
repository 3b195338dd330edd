"""The Redis channel layer: ``RedisChannelLayer``.

See docs/topics/backends.rst, "How a message travels".

The message path, in round trips and Redis commands: ``send`` is one
``RPUSH`` (a ``PEXPIRE`` rides along when the push creates the queue or
the queue's TTL is due for renewal; a script runs only when the queue is
full); ``receive`` is one ``LMPOP`` (non-blocking) or one ``BLPOP``/
``BLMPOP`` (blocking, woken by the server the moment a message lands, so
nothing polls); ``send_group`` is one script call per shard whatever the
group's size. Statistics are counted in the process and written once a
second. :mod:`asgi_redis._scripts` documents the data layout.

Sharding: process-specific (``!``) and single-reader (``?``) channels live
on the shard their name hashes to, so one process's inbox is one list on
one server. Sends to normal channels go round the shards; a blocking
receive on normal channels waits on every shard at once.

The layer is the ASGI API and the configuration; the work is done by one
object per concept, each given what it needs when the layer is made:
:class:`~asgi_redis._ring.ShardRing` (the shards and where names live),
:class:`~asgi_redis._sending.SendPath` (sends, batches, overflow, queue
TTLs), :class:`~asgi_redis._receiving.ReceivePath` (pop plans, the local
buffer, watching several shards), :class:`~asgi_redis._groups.Groups`,
:class:`~asgi_redis._leases.Leases` and
:class:`~asgi_redis._stats.Statistics`.
"""

from __future__ import annotations

import logging
import random
import string
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import redis

from asgi import serialization
from asgi._history import GroupHistory, check_after, check_history_options
from asgi._presence import PRESENCE_EXTENSION, check_ttl
from asgi.base_layer import DEFAULT_MAX_MESSAGE_SIZE, BaseChannelLayer, CapacityPatterns

from ._async import AsyncReceiveMixin
from ._codec import Encryptor, glob_escape
from ._groups import Groups
from ._history import History
from ._inspect import Inspection
from ._leases import Leases
from ._link import DEFAULT_SPIN
from ._options import (
    check_positive,
    check_spin_wait,
    connection_options,
    describe,
    host_urls,
)
from ._presence import Presences
from ._receiving import ReceivePath
from ._ring import ShardRing
from ._sending import SendPath
from ._shard import Shard
from ._stats import (
    STAT_CHANNEL_FULL,
    STAT_MESSAGES_COUNT,
    STAT_MESSAGES_MAX_AGE,
    STAT_MESSAGES_PENDING,
    Statistics,
    background,
)
from .exceptions import UnsupportedRedis

__all__ = [
    "STAT_CHANNEL_FULL",
    "STAT_MESSAGES_COUNT",
    "STAT_MESSAGES_MAX_AGE",
    "STAT_MESSAGES_PENDING",
    "BaseRedisChannelLayer",
    "RedisChannelLayer",
    "UnsupportedRedis",
]

logger = logging.getLogger(__name__)


class BaseRedisChannelLayer(AsyncReceiveMixin, BaseChannelLayer):
    """Everything but the choice of servers (plain hosts or Sentinel services)."""

    #: Seconds a blocking receive waits before returning ``(None, None)``.
    blpop_timeout = 5
    #: Most messages one receive takes from a process inbox at once; the
    #: rest wait in this process for the next receives (only this process
    #: reads its inbox, so nobody else is kept waiting).
    inbox_batch = 32
    global_statistics_expiry = 86400
    channel_statistics_expiry = 3600
    global_stats_key = "#global#"
    STAT_MESSAGES_COUNT = STAT_MESSAGES_COUNT
    STAT_MESSAGES_PENDING = STAT_MESSAGES_PENDING
    STAT_MESSAGES_MAX_AGE = STAT_MESSAGES_MAX_AGE
    STAT_CHANNEL_FULL = STAT_CHANNEL_FULL

    extensions = [
        "groups",
        "flush",
        "statistics",
        "twisted",
        "asyncio",
        "leases",
        "inspect",
        PRESENCE_EXTENSION,
        "history",
    ]
    #: The receive path's class (the cluster layer's follows redirects
    #: in its blocking watch of several shards).
    _receive_path_class: type[ReceivePath] = ReceivePath
    #: The ring's class (the cluster layer's groups its calls by node).
    _ring_class: type[ShardRing] = ShardRing

    def __init__(
        self,
        expiry: float = 60,
        hosts: Any = None,
        prefix: str = "asgi:",
        group_expiry: float = 86400,
        capacity: int = 100,
        channel_capacity: CapacityPatterns | None = None,
        symmetric_encryption_keys: list[str] | None = None,
        stats_prefix: str = "asgi-meta:",
        connection_kwargs: dict[str, Any] | None = None,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        spin_wait: float = DEFAULT_SPIN,
    ) -> None:
        check_positive("expiry", expiry)
        check_spin_wait(spin_wait)  # before any server is dialled
        check_positive("group_expiry", group_expiry)
        if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:
            raise ValueError(f"capacity must be a positive int, got {capacity!r}")
        super().__init__(
            expiry=expiry,
            group_expiry=group_expiry,
            capacity=capacity,
            channel_capacity=channel_capacity,
            max_message_size=max_message_size,
        )
        if not isinstance(prefix, str) or not prefix:
            raise TypeError(f"prefix must be a non-empty str, got {prefix!r}")
        if not isinstance(stats_prefix, str):
            raise TypeError(
                f"stats_prefix must be a str ('' turns statistics off), got {stats_prefix!r}"
            )
        self._prefix = prefix
        self.client_prefix = "".join(random.choices(string.ascii_letters, k=8))
        self.connection_kwargs = self._check_connection_kwargs(connection_kwargs)
        self.crypter = None
        if symmetric_encryption_keys:
            self.crypter = Encryptor(symmetric_encryption_keys, ttl=int(expiry) + 10)
            # Redis cannot write an offset into an encrypted message (see _history).
            self.extensions = [name for name in self.extensions if name != "history"]
        self._reactor_links: dict[int, Any] = {}
        self._ring = self._ring_class(self._make_shards(hosts))
        self._shards: list[Shard] = self._ring.shards
        self.spin_wait = spin_wait
        self.ring_size = self._ring.size
        watch = _background_watch(self)
        self._statistics = Statistics(
            self._ring,
            prefix=prefix,
            stats_prefix=stats_prefix,
            expiry_ms=int(expiry * 1000),
            global_key=self.global_stats_key,
            watch=watch,
        )
        self._sending = SendPath(
            self._ring,
            prefix=prefix,
            expiry=expiry,
            route_name=self._route_name,
            check_message=self.check_message_type,
            encode=self._encode,
            count=self._statistics.count,
            channel_full=self.ChannelFull,
            watch=watch,
        )
        self._receiving = self._receive_path_class(
            self._ring, prefix=prefix, check_names=self._check_receive_names, decode=self._result
        )
        self._groups = Groups(
            self._ring,
            prefix,
            expiry_ms=self._sending.expiry_ms,
            group_expiry_ms=int(group_expiry * 1000),
            queue_ttl_ms=self._sending.queue_ttl_ms,
        )
        self._leases = Leases(self._ring, prefix)
        self._inspection = Inspection(
            self._ring,
            prefix,
            expiry_ms=self._sending.expiry_ms,
            group_expiry_ms=int(group_expiry * 1000),
            capacity=self.get_capacity,
            is_channel=self.is_channel_name,
            is_group=self.is_group_name,
        )
        self._presences = Presences(self._ring, prefix, self._encode, self.deserialize)
        self._history = History(self._ring, self._groups)
        self._history_options: set[tuple[int, float]] = set()

    # -- configuration ----------------------------------------------------------------

    @property
    def spin_wait(self) -> float:
        """Seconds a call polls its socket for Redis's reply before it sleeps
        (0: sleep at once); set on the servers' link pools."""
        return self._shards[0].links.spin

    @spin_wait.setter
    def spin_wait(self, value: float) -> None:
        check_spin_wait(value)
        for shard in self._shards:
            shard.links.spin = value

    @property
    def prefix(self) -> str:
        """The prefix of every key of the layer's messages, groups and leases."""
        return self._prefix

    @prefix.setter
    def prefix(self, value: str) -> None:
        # 1.x code (and tests) point several layers at one prefix after
        # making them: every part takes the new one.
        self._prefix = value
        for part in self._parts():
            part.use_prefix(value)

    @property
    def stats_prefix(self) -> str:
        """The prefix of the statistics keys ('' when statistics are off)."""
        return self._statistics.stats_prefix

    @stats_prefix.setter
    def stats_prefix(self, value: str) -> None:
        self._statistics.use_stats_prefix(value)

    def _parts(self) -> tuple[Any, ...]:
        """The objects that hold the layer's keys (none while it is being made)."""
        if not hasattr(self, "_presences"):
            return ()
        return (
            self._sending,
            self._receiving,
            self._groups,
            self._leases,
            self._statistics,
            self._inspection,
            self._presences,
        )

    @property
    def _queue_ttl_ms(self) -> int:
        """A queue's TTL in ms: one expiry past its newest message, and then some."""
        return self._sending.queue_ttl_ms

    def _make_shards(self, hosts: Any) -> list[Shard]:
        raise NotImplementedError

    def _check_connection_kwargs(self, connection_kwargs: dict[str, Any] | None) -> dict[str, Any]:
        return connection_options(connection_kwargs, self.blpop_timeout)

    def consistent_hash(self, value: str) -> int:
        """The shard index for a name: stable across processes (CRC32-based)."""
        return self._ring.index_of(value)

    def connection(self, index: int | None) -> redis.Redis:
        """A redis-py client for the server of shard ``index`` (None: a random
        one), as 1.x returned, for running any command on it.

        One client per shard, made on first use and kept; it shares the
        shard's connection settings (URL, password, database, TLS, timeouts;
        the current master for Sentinel). The layer's own traffic does not
        go through it. An index out of range raises ValueError.
        """
        shard = self.shard(index)
        client = shard.client
        if client is None:
            # A race makes a second client on the same pool: harmless.
            client = shard.client = redis.Redis(connection_pool=shard.links.connection_pool)
        return client

    def shard(self, index: int | None) -> Shard:
        """The layer's own handle on shard ``index`` (None: a random one):
        its link pool, scripts and clock. An index out of range raises ValueError."""
        return self._ring.shard(index)

    def random_index(self) -> int:
        return self._ring.random_index()

    # -- encoding ------------------------------------------------------------------

    @staticmethod
    def make_fernet(key: str | bytes) -> Any:
        """The Fernet for one key string (url-safe base64 of its SHA-256)."""
        return Encryptor.make_fernet(key)

    def serialize(self, message: dict) -> bytes:
        data = serialization.dumps(message)
        if self.crypter is not None:
            data = self.crypter.encrypt(data)
        return data

    def deserialize(self, data: bytes) -> dict:
        if self.crypter is not None:
            data = self.crypter.decrypt(data)
        return serialization.loads(data)

    def _encode(self, target: str, message: dict) -> bytes:
        self.check_message_type(message)
        data = serialization.dumps(message)
        self.check_message_size(len(data), target)
        if self.crypter is not None:
            data = self.crypter.encrypt(data)
        return data

    def _result(self, channel: str, payload: bytes) -> tuple[str | None, Any]:
        try:
            return channel, self.deserialize(payload)
        except Exception as exc:  # noqa: BLE001 - a foreign or corrupt message must not kill a reader
            logger.warning("Dropped a message on %r that could not be decoded: %r", channel, exc)
            return None, None

    def _route_name(self, channel: str) -> tuple[str, int]:
        """The queue and the capacity of a channel a message is sent to (the
        name rules of the base layer, checked once per name)."""
        self.valid_channel_name(channel)
        return self.non_local_name(channel), self.get_capacity(channel)

    def _check_receive_names(self, channels: list[str]) -> None:
        self.valid_channel_names(channels, receive=True)

    # -- send ----------------------------------------------------------------------------

    def send(self, channel: str, message: dict) -> None:
        """Queue ``message`` on ``channel`` in one round trip; raises ChannelFull."""
        self._sending.send(channel, message)

    def send_batch(self, messages: Sequence[tuple[str, dict]]) -> list[BaseException | None]:
        """Send several messages in one round trip per shard (a pipeline of
        ``RPUSH``es); for each, None or the exception a ``send`` of it would
        have raised. Messages to one channel keep their order."""
        return self._sending.send_batch(messages)

    def flush_background(self) -> None:
        """Do now what this process's background thread does every second:
        set the TTLs of queues its pushes created and write its statistics
        counts (also done at exit)."""
        self._sending.set_deferred_ttls()
        self.flush_statistics()

    # -- receive -------------------------------------------------------------------------

    def receive(self, channels: list[str], block: bool = False) -> tuple[str | None, Any]:
        """``(channel, message)`` from any of ``channels``, or ``(None, None)``.

        With ``block=True`` waits up to ``blpop_timeout`` seconds inside Redis
        (BLPOP on every shard concerned); the caller is woken the moment a
        message lands.
        """
        return self._receiving.receive(channels, block, self.blpop_timeout, self.inbox_batch)

    def receive_batch(
        self, channels: list[str], block: bool = False, limit: int = 1
    ) -> list[tuple[str, dict]]:
        """Up to ``limit`` messages in one round trip (``LMPOP``/``BLMPOP ...
        COUNT``), for a worker that handles a backlog in batches. Over several
        shards every shard is asked at once for its share of ``limit`` (one
        wait for all of them). With messages already buffered in this
        process it returns one message like :meth:`receive`."""
        if limit <= 1 or self._receiving.buffer:
            return super().receive_batch(channels, block=block)
        return self._receiving.receive_batch(channels, block, limit, self.blpop_timeout)

    # -- new_channel ---------------------------------------------------------------------

    def new_channel(self, pattern: str) -> str:
        """A new single-reader channel name: ``pattern`` (ending in ``?``) plus
        12 random letters (71 bits, so no existence check is needed)."""
        if not isinstance(pattern, str) or not pattern.endswith("?"):
            raise TypeError(
                f"new_channel() takes a pattern ending in '?', got {pattern!r}; "
                "process-specific '!' names are made by the process itself"
            )
        name = pattern + "".join(random.choices(string.ascii_letters, k=12))
        self.valid_channel_name(name)
        return name

    # -- groups ------------------------------------------------------------------------------

    def _group_key(self, group: str) -> str:
        """The sorted set holding the members of ``group``."""
        return self._groups.key(group)

    def group_add(self, group: str, channel: str) -> None:
        """Add ``channel`` to ``group`` (idempotent; refreshes its expiry)."""
        self.valid_group_name(group)
        self.valid_channel_name(channel)
        self._groups.add(
            group,
            channel,
            self.non_local_name(channel),
            self.get_capacity(channel),
            self.group_expiry,
        )

    def group_discard(self, group: str, channel: str) -> None:
        """Remove ``channel`` from ``group``; no error if it is not a member."""
        self.valid_group_name(group)
        self.valid_channel_name(channel)
        self._groups.discard(group, channel, self.non_local_name(channel))

    def group_channels(self, group: str) -> list[str]:
        """The live members of ``group`` (expired ones are dropped first)."""
        self.valid_group_name(group)
        return self._groups.channels(group)

    def send_group(self, group: str, message: dict) -> None:
        """Send ``message`` to every member: one script call per shard.

        Never raises ChannelFull (a full member misses the message); members
        of one process share one copy in their process inbox.
        """
        self.check_message_type(message)
        self.valid_group_name(group)
        payload = self._encode(group, message)
        counting = self._statistics.group_send_args(
            self.global_statistics_expiry, self.channel_statistics_expiry
        )
        self._groups.send(group, payload, self.capacity, counting)

    # -- history -----------------------------------------------------------------------------

    def send_group_history(self, group: str, message: dict, size: int, ttl: float) -> int:
        """``send_group`` that numbers the message and keeps it in the group's
        history (the last ``size`` messages, for ``ttl`` seconds after the
        group's last numbered send); returns its offset. Every
        ``asgi._history.OFFSET_MARK`` in the message's text becomes the offset.

        One script call per shard, like ``send_group``; the home shard's call
        comes first when there are several (see :mod:`asgi_redis._history`).
        """
        self.check_message_type(message)
        self.valid_group_name(group)
        if (size, ttl) not in self._history_options:
            check_history_options(size, ttl)
            self._history_options.add((size, ttl))  # a few per project, checked once each
        if "history" not in self.extensions:
            raise NotImplementedError(
                "Group history is not available with symmetric_encryption_keys: Redis "
                "cannot write an offset into an encrypted message"
            )
        payload = self._encode(group, message)
        counting = self._statistics.group_send_args(
            self.global_statistics_expiry, self.channel_statistics_expiry
        )
        ttl_ms = max(1, int(ttl * 1000))
        return self._history.send(group, payload, self.capacity, counting, size, ttl_ms)

    def group_history(self, group: str, after: int = 0) -> GroupHistory:
        """The messages of ``group``'s history after offset ``after``, oldest
        first, whether the history had lost some of them (``gap``), and the
        group's latest offset: one script call on the group's home shard."""
        self.valid_group_name(group)
        check_after(after)
        if "history" not in self.extensions:
            raise NotImplementedError(
                "Group history is not available with symmetric_encryption_keys"
            )
        last, first, items = self._history.read(group, after)
        messages = []
        for offset, item in enumerate(items, start=first):
            channel, message = self._result(group, item)
            if channel is not None:
                messages.append((offset, message))
        if last == 0:
            return GroupHistory([], after > 0, 0)
        return GroupHistory(messages, 0 < after < first - 1, last)

    # -- leases ------------------------------------------------------------------------------

    def lease_renew(
        self,
        owner: str,
        ttl: float,
        changed: Mapping[str, str],
        removed: Iterable[str] = (),
        full: bool = False,
    ) -> bool:
        """Write ``owner``'s lease and make it last ``ttl`` seconds from now.

        ``changed`` maps reply channels to entries to set, ``removed`` lists
        reply channels to drop; with ``full`` the lease becomes exactly
        ``changed``. Returns whether the owner held a lease before: False on
        its first renewal, or when its lease ran out and may have been
        reaped (the caller should then write the whole lease again).
        """
        return self._leases.renew(owner, ttl, changed, removed, full)

    def lease_release(self, owner: str) -> None:
        """Drop ``owner``'s lease (a clean shutdown: its disconnects were sent)."""
        self._leases.release(owner)

    def lease_claim(self, limit: int = 16) -> list[tuple[str, dict[str, str]]]:
        """Take up to ``limit`` leases per shard that ran out: a list of
        ``(owner, {reply channel: entry})``. Each lease is handed to exactly
        one caller, whoever else claims at the same time."""
        return self._leases.claim(limit)

    def lease_reaped(self, owner: str) -> list[str]:
        """The reply channels of ``owner``'s lease that a ``lease_claim``
        took (the record is kept 10 minutes and read once), or ``[]``: the
        sockets an owner that was only cut off must close."""
        return self._leases.reaped(owner)

    # -- inspect -------------------------------------------------------------------------
    # asgi_redis._inspect has the storage and why inspecting never stalls traffic.

    @property
    def inspect_batch(self) -> int:
        """Keys per ``SCAN`` step when inspecting (and per read of them)."""
        return self._inspection.batch

    @inspect_batch.setter
    def inspect_batch(self, value: int) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"inspect_batch must be a positive int, got {value!r}")
        self._inspection.batch = value

    def heartbeat(self, record: dict, ttl: float) -> None:
        """Store or renew one process's record for ``ttl`` seconds (one script call)."""
        self._inspection.heartbeat(self.check_heartbeat(record, ttl), record, ttl)

    def heartbeat_remove(self, process_id: str) -> None:
        """Remove one process's record; no error when it is absent."""
        self._inspection.heartbeat_remove(self.check_process_id(process_id))

    def inspect_processes(self) -> list[dict]:
        """The live heartbeat records of every shard, sorted by (kind, host, pid)."""
        return self._inspection.processes()

    def inspect_channels(self, channels: Iterable[str] | None = None) -> list[dict]:
        """Depth, capacity and oldest age of every queue with messages (None)
        or of the named channels; process-specific ones by their ``name!``."""
        return self._inspection.channels(self.inspected_names(channels))

    def inspect_groups(self, members: bool = False) -> list[dict]:
        """Sizes (and sorted members) of the groups with live members."""
        return self._inspection.groups(bool(members))

    def inspect_shards(self) -> list[dict]:
        """Reachability and ``PING`` latency per shard; never raises."""
        return self._inspection.shards()

    # -- presence ------------------------------------------------------------------------

    def presence_join(self, presence: str, channel: str, meta: dict, ttl: float) -> bool:
        """Add or refresh ``channel`` with ``meta`` for ``ttl`` seconds; True
        when it was not a live member before."""
        self.valid_group_name(presence)
        self.valid_channel_name(channel)
        return self._presences.join(presence, channel, meta, check_ttl(ttl))

    def presence_touch(self, presence: str, channel: str, ttl: float) -> bool:
        """Move a live member's deadline ``ttl`` seconds ahead; False when
        ``channel`` is no live member (it must join again)."""
        self.valid_group_name(presence)
        return self._presences.touch(presence, channel, check_ttl(ttl))

    def presence_leave(self, presence: str, channel: str) -> dict | None:
        """Remove ``channel``; its meta, or None when it was no member."""
        self.valid_group_name(presence)
        return self._presences.leave(presence, channel)

    def presence_members(self, presence: str) -> dict[str, dict]:
        """The live members of ``presence`` and their meta."""
        self.valid_group_name(presence)
        return self._presences.members(presence)

    def presence_reap(self, presence: str) -> dict[str, dict]:
        """Remove the members whose deadline passed and return them (each
        to exactly one caller)."""
        self.valid_group_name(presence)
        return self._presences.reap(presence)

    # -- statistics ----------------------------------------------------------------------

    def flush_statistics(self) -> None:
        """Write this process's pending counts to Redis now (they are written
        once a second anyway, and at exit)."""
        self._statistics.flush(self.global_statistics_expiry, self.channel_statistics_expiry)

    def global_statistics(self, detailed: bool = False) -> dict[str, float]:
        """Counts over all channels and shards, as 1.x returned them:
        ``messages_count`` and ``channel_full_count``.

        ``detailed=True`` (not in 1.x) adds ``messages_count_per_second`` and
        ``channel_full_count_per_second``, the mean of the last ten whole seconds.
        """
        self.flush_statistics()
        return self._statistics.global_statistics(detailed)

    def channel_statistics(self, channel: str, detailed: bool = False) -> dict[str, float]:
        """Counts for one channel (for ``!`` channels: its process inbox), as
        1.x returned them: ``messages_count``, ``messages_pending``,
        ``messages_max_age`` (whole seconds) and ``channel_full_count``.

        ``detailed=True`` (not in 1.x) adds the two ``_per_second`` rates and
        gives ``messages_max_age`` to the millisecond.
        """
        self.valid_channel_name(channel)
        self.flush_statistics()
        return self._statistics.channel_statistics(self.non_local_name(channel), detailed)

    # -- flush -----------------------------------------------------------------------------

    def flush(self) -> None:
        """Delete every key of this layer (messages, groups, statistics) on every shard."""
        self._receiving.buffer.clear()
        self._sending.forget_ttls()
        self._statistics.forget()
        prefixes = [self.prefix]
        if self.stats_prefix:
            prefixes.append(self.stats_prefix)
        for shard in self._shards:
            # a tagged (cluster) shard's keys share its slot: one UNLINK holds them
            for pattern in (glob_escape(prefix + shard.tag) + "*" for prefix in prefixes):
                cursor = b"0"
                while True:
                    cursor, keys = shard.call("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
                    if keys:
                        shard.call("UNLINK", *keys)
                    if cursor in (b"0", 0):
                        break

    def __str__(self) -> str:
        return f"{type(self).__name__}(hosts={self.hosts!r})"


def _background_watch(layer: BaseRedisChannelLayer) -> Callable[[], None]:
    """What the layer's parts call when writes start to wait for the
    background writer: it watches the layer (held weakly, as the writer holds it)."""
    ref = weakref.ref(layer)

    def watch() -> None:
        alive = ref()
        if alive is not None:
            background.watch(alive)

    return watch


class RedisChannelLayer(BaseRedisChannelLayer):
    """The Redis channel layer over one or more (sharded) servers.

    ``hosts`` is a list of ``(host, port)`` tuples or ``redis://``,
    ``rediss://`` (TLS) or ``unix://`` URLs, which may carry a password and a
    database number (``redis://:secret@10.0.0.1:6379/2``). Default:
    ``[("localhost", 6379)]``.
    """

    def _make_shards(self, hosts: Any) -> list[Shard]:
        self.hosts = self._setup_hosts(hosts)
        shards = []
        for url in self.hosts:
            kwargs = dict(self.connection_kwargs)
            if not url.startswith("unix:"):
                kwargs.setdefault("socket_keepalive", True)
            pool = redis.ConnectionPool.from_url(url, **kwargs)
            shards.append(Shard(pool, describe(url)))
        return shards

    @staticmethod
    def _setup_hosts(hosts: Any) -> list[str]:
        return host_urls(hosts)
