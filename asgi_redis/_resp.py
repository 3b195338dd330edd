"""RESP without I/O: commands to bytes, bytes to replies.

See docs/topics/backends.rst, "How a message travels".

The Redis layer talks to its servers on two I/O paths: the blocking links
of its threads (:mod:`asgi_redis._link`) and the connections the Twisted
reactor reads itself (:mod:`asgi_redis._reactor_io`, driven from
:mod:`asgi_redis._async`). Both write commands packed here and read
replies by the same rules, kept here once:

* ``pack`` encodes one command;
* ``reply_error`` turns an error reply into the layer's exception, and says
  whether the connection must be dropped;
* :class:`ReplyQueue` matches the replies read to the commands written, in
  order (a pipeline's replies as one list, each error in its place), and
  keeps each command's deadline;
* ``REPLY_GRACE`` is how late past its own timeout a reply may be before
  the connection counts as hung.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

import hiredis

from .exceptions import RedisCommandError, RedisUnavailable, RedisWritesRefused

__all__ = ["REPLY_GRACE", "Expected", "ReplyQueue", "pack", "reply_error"]

_CRLF = b"\r\n"

#: Seconds a reply may come after its command's own timeout (a blocking
#: pop's) before the connection is given up as hung.
REPLY_GRACE = 5.0

#: A deadline this close (seconds) counts as reached: a timer scheduled
#: ``due - now`` seconds ahead may wake a rounding error before ``due``.
EPSILON = 1e-6


def _encode_arg(arg: Any) -> bytes:
    if isinstance(arg, str):
        data = arg.encode()
    elif isinstance(arg, int):
        data = b"%d" % arg
    elif isinstance(arg, float):
        data = repr(arg).encode()
    else:
        raise TypeError(f"Redis command arguments must be bytes, str or numbers, got {arg!r}")
    return b"$%d\r\n%s\r\n" % (len(data), data)


# Encoded str/int arguments (script SHAs, key names, options) repeat on
# every call of the message path; encoding them once saves most of pack().
_encoded: dict[Any, bytes] = {}


def pack(args: tuple) -> bytes:
    """Encode one command in RESP (arguments: bytes, str, int or float)."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if type(arg) is bytes:
            out.append(b"$%d\r\n" % len(arg))
            out.append(arg)
            out.append(_CRLF)
            continue
        data = _encoded.get(arg)
        if data is None:
            data = _encode_arg(arg)
            if len(_encoded) >= 8192:
                _encoded.clear()
            _encoded[arg] = data
        out.append(data)
    return b"".join(out)


def reply_error(where: str, reply: Exception) -> tuple[Exception, bool]:
    """The exception for an error reply of the server at ``where``, and
    whether the connection must be dropped (a demoted master, whose blocked
    pops end with ``UNBLOCKED``, or a server still loading: reconnecting
    asks Sentinel for the current master; bad credentials).

    A server that refuses writes for a while (``OOM`` under ``maxmemory``
    with ``noeviction``, ``MISCONF`` after a failed save) is unavailable
    too, not a bug: callers retry later (daphne answers 503 / 1013). Its
    connection stays good, so it is kept.
    """
    text = str(reply)
    # UNBLOCKED: a blocking pop cut short because the master became a
    # replica (the layer's own CLIENT UNBLOCK never asks for this error).
    if text.startswith(("READONLY", "MASTERDOWN", "LOADING", "UNBLOCKED")):
        return RedisUnavailable(f"Redis at {where} cannot serve writes now: {text}"), True
    if text.startswith(("OOM", "MISCONF")):
        return RedisWritesRefused(f"Redis at {where} refuses writes now: {text}"), False
    if text.startswith("NOAUTH") or text.startswith("WRONGPASS"):
        return RedisUnavailable(f"Redis at {where} refused the credentials: {text}"), True
    return RedisCommandError(text), False


class OutOfStep(RedisUnavailable):
    """A reply came that no command asked for: the stream cannot be trusted."""


class Expected:
    """A command (or pipeline) written and not yet fully answered."""

    __slots__ = ("token", "count", "replies", "deadline")

    def __init__(self, token: Any, count: int | None, deadline: float) -> None:
        #: The caller's handle for the answer (a Deferred on the reactor).
        self.token = token
        self.count = count  # None: one reply, given as is; else a list of this many
        self.replies: list = []
        self.deadline = deadline


#: Called with a command's token, its answer, and whether the answer is an
#: error (a single command's error reply; a pipeline's errors are in its list).
Deliver = Callable[[Any, Any, bool], None]


class ReplyQueue:
    """The commands written on one connection to the server at ``where``
    and not answered yet, in order; fed the bytes read from it."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.reader = hiredis.Reader()
        self.waiting: deque[Expected] = deque()

    def __bool__(self) -> bool:
        return bool(self.waiting)

    def expect(self, token: Any, count: int | None, deadline: float) -> None:
        """A command (``count`` None) or a pipeline of ``count`` was written."""
        self.waiting.append(Expected(token, count, deadline))

    def feed(self, data: bytes, deliver: Deliver) -> Exception | None:
        """Parse ``data``, calling ``deliver`` for each command it completes,
        in order (``deliver`` may write new commands: they queue behind).

        Returns None once every whole reply is handled, or the error that
        ends the stream (a reply that says the connection must be dropped,
        or a reply nobody asked for, as :class:`OutOfStep`): the caller then
        fails every command still waiting and drops the connection.
        """
        reader = self.reader
        reader.feed(data)
        waiting = self.waiting
        while True:
            reply = reader.gets()
            if reply is False:
                return None
            if not waiting:
                return OutOfStep(f"Unexpected reply from Redis at {self.where}")
            entry = waiting[0]
            if isinstance(reply, hiredis.ReplyError):
                error, reconnect = reply_error(self.where, reply)
                if reconnect:
                    return error
                if entry.count is None:
                    waiting.popleft()
                    deliver(entry.token, error, True)
                    continue
                reply = error
            if entry.count is None:
                waiting.popleft()
                deliver(entry.token, reply, False)
                continue
            entry.replies.append(reply)
            if len(entry.replies) == entry.count:
                waiting.popleft()
                deliver(entry.token, entry.replies, False)

    def take_all(self) -> deque[Expected]:
        """Every command still waiting (the connection is being dropped)."""
        waiting, self.waiting = self.waiting, deque()
        return waiting

    def earliest(self) -> float | None:
        """The nearest deadline of the commands waiting (None: none waits)."""
        if not self.waiting:
            return None
        return min(entry.deadline for entry in self.waiting)

    @staticmethod
    def overdue(deadline: float, now: float) -> bool:
        """Whether ``deadline`` is reached at ``now`` (to within a rounding error)."""
        return deadline - now <= EPSILON
