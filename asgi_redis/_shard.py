"""One Redis server of the layer: its link pool, its scripts and its clock.

A :class:`Shard` runs the layer's Lua scripts (``EVALSHA``, loading the
script once when the server does not know it, e.g. after a restart), plain
commands, and the blocking pops of the receive path. It also keeps the
offset between this machine's clock and the server's, so the client can
judge expiry the way the scripts do.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from typing import Any

from ._link import Link, LinkPool
from ._resp import REPLY_GRACE, pack
from .exceptions import RedisCommandError, RedisUnavailable, UnsupportedRedis

__all__ = ["Script", "Shard"]


class Script:
    """A Lua script and its SHA1, as ``EVALSHA`` names it."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()


class Shard:
    """Commands against one server (or one Sentinel service's master)."""

    #: What goes between the layer's prefix and a name in every key of this
    #: shard: empty here; a Redis Cluster shard's hash tag (``{...}``), which
    #: keeps all its keys in one slot (see :mod:`asgi_redis.cluster`).
    tag = ""
    #: How often the clock offset to the server is measured again (seconds).
    clock_check_interval = 300.0
    #: Seconds a shard that failed is left out of normal-channel traffic
    #: before it is tried again.
    retry_interval = 1.0

    def __init__(self, connection_pool: Any, where: str) -> None:
        self.where = where
        #: Position in the layer's ring (set by the layer).
        self.index = 0
        self.links = LinkPool(connection_pool, where)
        self._offset_ms = 0.0
        self._offset_checked = float("-inf")
        self.has_blmpop = True
        #: RESP of the message path's commands, made once per key (list).
        self._push_heads: dict[str, bytes] = {}
        self._pop_commands: dict[tuple, bytes] = {}
        self.down_until = float("-inf")
        #: The redis-py client ``layer.connection(index)`` hands out (made on
        #: first use; the layer itself never uses it).
        self.client: Any = None

    def __repr__(self) -> str:
        return f"<Shard {self.where}>"

    # -- commands ------------------------------------------------------------------

    def run(self, script: Script, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        """Run a script in one round trip (two the first time a server sees it)."""
        return self.finish(script, self.start(script, keys, args))

    def start(self, script: Script, keys: Sequence[Any], args: Sequence[Any]) -> tuple:
        """Send a script call without waiting for its reply (see :meth:`finish`),
        so calls to several shards overlap."""
        command = pack(("EVALSHA", script.sha, len(keys), *keys, *args))
        link = self.links.acquire()
        try:
            link.write(command)
        except BaseException:
            self._failed(link)
            raise
        return link, command

    def finish(self, script: Script, started: tuple) -> Any:
        """The reply of a call sent with :meth:`start`."""
        link, command = started
        try:
            try:
                return link.read()
            except RedisCommandError as exc:
                if not str(exc).startswith("NOSCRIPT"):
                    raise
            link.call("SCRIPT", "LOAD", script.source)
            link.write(command)
            return link.read()
        except RedisUnavailable:
            self.links.disconnect()  # the idle links share the fate of this one
            raise
        finally:
            self.links.release(link)

    def _failed(self, link: Link) -> None:
        self.links.disconnect()
        self.links.release(link)

    def call(self, *args: Any) -> Any:
        return self.call_packed(pack(args), args[0])

    def call_many(self, commands: Sequence[tuple], raise_errors: bool = True) -> list[Any]:
        """Several commands in one write and one wait (a pipeline, not a
        transaction); raises the first command error after reading every
        reply, or with ``raise_errors=False`` returns each error in its place."""
        link = self.links.acquire()
        try:
            link.write(b"".join(pack(command) for command in commands))
            replies, error = [], None
            for _ in commands:
                try:
                    replies.append(link.read())
                except RedisCommandError as exc:
                    error = error or exc
                    replies.append(exc)
            if error is not None and raise_errors:
                raise error
            return replies
        except RedisUnavailable:
            self.links.disconnect()
            raise
        finally:
            self.links.release(link)

    def push(self, key: str, item: bytes, ttl_ms: int, renew: bool) -> int:
        """``RPUSH`` one item and return the queue's new length; with
        ``renew``, a ``PEXPIRE`` of the queue goes in the same write."""
        if renew:
            return self.call_many((("RPUSH", key, item), ("PEXPIRE", key, ttl_ms)))[0]
        head = self._push_heads.get(key)
        if head is None:
            head = self._remember(self._push_heads, key, pack(("RPUSH", key))[4:])
        return self.call_packed(b"*3\r\n%s$%d\r\n%s\r\n" % (head, len(item), item), "RPUSH")

    def call_packed(self, command: bytes, name: str = "") -> Any:
        """One command already in RESP (``name`` names it in errors); an
        unknown command raises :class:`UnsupportedRedis`."""
        link = self.links.acquire()
        try:
            link.write(command)
            return link.read()
        except RedisUnavailable:
            self.links.disconnect()
            raise
        except RedisCommandError as exc:
            if "unknown command" in str(exc).lower():
                raise UnsupportedRedis(
                    f"Redis at {self.where} does not support {name or 'a command'!r} "
                    "(the layer needs Redis 6 or later)"
                ) from exc
            raise
        finally:
            self.links.release(link)

    @staticmethod
    def _remember(cache: dict, key: Any, value: bytes) -> bytes:
        if len(cache) >= 10_000:
            cache.clear()
        cache[key] = value
        return value

    def pop(self, keys: Sequence[bytes], count: int, fallback: Script) -> Any:
        """A non-blocking pop: ``[key, item, ...]`` from the first non-empty
        key (LMPOP on Redis 7+, else the ``fallback`` script), or None.
        Items may be expired; the caller checks."""
        if self.has_blmpop:
            try:
                reply = self.call_packed(self._pop_command(keys, count), "LMPOP")
            except UnsupportedRedis:
                self.has_blmpop = False
            else:
                return flat_pop_reply(reply)
        return self.run(fallback, keys, (count,))

    def _pop_command(self, keys: Sequence[bytes], count: int) -> bytes:
        """The RESP of ``LMPOP`` over ``keys`` (made once per key list and count)."""
        plan = (*keys, count)
        command = self._pop_commands.get(plan)
        if command is None:
            command = pack(("LMPOP", len(keys), *keys, "LEFT", "COUNT", count))
            self._remember(self._pop_commands, plan, command)
        return command

    def start_pop(self, keys: Sequence[bytes], count: int, fallback: Script) -> tuple:
        """Send a non-blocking :meth:`pop` without waiting for its reply (see
        :meth:`finish_pop`), so the pops of several shards share one wait.
        A server without LMPOP (Redis < 7) is popped at once, by the script."""
        if not self.has_blmpop:
            return None, self.pop(keys, count, fallback), keys, count
        link = self.links.acquire()
        try:
            link.write(self._pop_command(keys, count))
        except BaseException:
            self._failed(link)
            raise
        return link, None, keys, count

    def finish_pop(self, started: tuple, fallback: Script) -> Any:
        """The reply of a pop sent with :meth:`start_pop`, as :meth:`pop` gives it."""
        link, reply, keys, count = started
        if link is None:
            return reply
        try:
            return flat_pop_reply(link.read())
        except RedisUnavailable:
            self.links.disconnect()
            raise
        except RedisCommandError as exc:
            if not self.blmpop_missing(exc):  # Redis < 7: the script pops from now on
                raise
        finally:
            self.links.release(link)
        return self.run(fallback, keys, (count,))

    def abandon_pop(self, started: tuple) -> None:
        """Close the link of a pop sent with :meth:`start_pop` whose reply
        will not be read (the caller was interrupted), so that reply never
        meets another command."""
        link = started[0]
        if link is not None:
            link.close()
            self.links.release(link)

    def blpop(self, keys: Sequence[bytes], timeout: float, count: int = 1) -> Any:
        """A blocking pop over ``keys`` for up to ``timeout`` seconds.

        Returns ``[key, item, ...]`` (up to ``count`` items of one key, with
        BLMPOP on Redis 7+) or None. The read waits a little longer than the
        pop, so a configured socket timeout never cuts a healthy pop short.
        """
        multi, command = self.blocking_pop_command(keys, timeout, count)
        link = self.links.acquire()
        try:
            link.write(command)
            reply = link.read(timeout=timeout + REPLY_GRACE)
        except RedisCommandError as exc:
            if multi and self.blmpop_missing(exc):
                return self.blpop(keys, timeout)
            raise
        except RedisUnavailable:
            self.links.disconnect()
            raise
        finally:
            self.links.release(link)
        return flat_pop_reply(reply) if multi else reply

    def blocking_pop_command(
        self, keys: Sequence[bytes], timeout: float, count: int
    ) -> tuple[bool, bytes]:
        """``(multi, RESP)`` of a blocking pop: BLMPOP when more than one
        item is wanted and the server has it (``multi``), else BLPOP."""
        wait = blpop_timeout(timeout)
        if count > 1 and self.has_blmpop:
            return True, pack(("BLMPOP", wait, len(keys), *keys, "LEFT", "COUNT", count))
        return False, pack(("BLPOP", *keys, wait))

    def blmpop_missing(self, error: Exception) -> bool:
        """True (and BLMPOP is not used again) when ``error`` says the server
        predates it (Redis < 7)."""
        if "unknown command" in str(error).lower():
            self.has_blmpop = False
            return True
        return False

    def start_blpop(self, keys: Sequence[bytes], timeout: float, count: int = 1) -> Link:
        """Send a blocking pop without reading its reply (for watching
        several shards): a BLPOP, or a BLMPOP of up to ``count`` items
        (see :meth:`blocking_pop_command`); :func:`pop_items` reads either."""
        link = self.links.acquire()
        try:
            if link.sock is None or link.client_id is None:
                link.open()
                link.client_id = link.call("CLIENT", "ID")
            link.write(self.blocking_pop_command(keys, timeout, count)[1])
        except BaseException:
            self.links.release(link)
            raise
        return link

    def cancel_blpop(self, link: Link, deadline: float) -> Any:
        """End a BLPOP sent with :meth:`start_blpop` and return its reply:
        nil once CLIENT UNBLOCK reaches it, or a message that raced in."""
        while not link.pending():
            if self.unblock(link) == 1:
                break
            # Not blocked yet (the BLPOP is still on its way) or already
            # answered: look again shortly.
            if link.pending(0.002) or time.monotonic() > deadline:
                break
        return link.read(timeout=max(deadline - time.monotonic(), 0) + REPLY_GRACE)

    def unblock(self, link: Link) -> Any:
        """``CLIENT UNBLOCK`` the pop ``link`` waits in (1: it was blocked)."""
        return self.call("CLIENT", "UNBLOCK", link.client_id)

    # -- health -------------------------------------------------------------------

    @property
    def available(self) -> bool:
        """False for ``retry_interval`` seconds after :meth:`mark_down`."""
        return time.monotonic() >= self.down_until

    def mark_down(self) -> bool:
        """Leave this shard out of normal-channel traffic for a while; True
        if it was up until now."""
        was_up = self.available
        self.down_until = time.monotonic() + self.retry_interval
        return was_up

    # -- clock -----------------------------------------------------------------------

    def clock_due(self) -> bool:
        """True when the next :meth:`server_time_ms` asks the server (a round trip)."""
        return time.time() - self._offset_checked > self.clock_check_interval

    def server_time_ms(self) -> float:
        """The server's clock in ms, estimated from the local clock."""
        now = time.time()
        if now - self._offset_checked > self.clock_check_interval:
            before = time.time()
            seconds, micros = self.call("TIME")
            after = time.time()
            server = int(seconds) * 1000 + int(micros) / 1000
            self._offset_ms = server - (before + after) * 500
            self._offset_checked = after
            now = after
        return now * 1000 + self._offset_ms

    def disconnect(self) -> None:
        """Close the layer's links, and the connections of the client handed
        out by ``layer.connection()`` (they reconnect on next use)."""
        self.links.disconnect()
        if self.client is not None:
            self.links.connection_pool.disconnect()


def flat_pop_reply(reply: Any) -> Any:
    """LMPOP/BLMPOP's ``[key, [item, ...]]`` as ``[key, item, ...]`` (None stays None)."""
    return None if reply is None else [reply[0], *reply[1]]


def pop_items(reply: Any) -> Any:
    """A blocking pop's reply as ``[key, item, ...]``, whether BLPOP's
    ``[key, item]`` or BLMPOP's ``[key, [item, ...]]`` (None stays None)."""
    if reply is None or not isinstance(reply[1], list):
        return reply
    return flat_pop_reply(reply)


def blpop_timeout(seconds: float) -> bytes:
    # BLPOP 0 blocks forever; never ask for that.
    return b"%.3f" % max(seconds, 0.01)
