"""Fair admission of daphne's sends to the channel layer (sans-IO).

Every message daphne sends on the hot paths belongs to one connection, named
by its ``reply_channel``. ``FairQueue`` keeps one queue per connection and
hands out their heads round-robin, so a connection with a thousand frames
queued delays another connection's frame by one send, not a thousand; a
connection's own messages always go in the order they were queued.

A send refused with ``ChannelFull`` is, when its job allows it (the
``websocket.receive`` frames: docs/asgi/www.rst, "WebSocket", allows a retry), kept at the head of
its connection's queue, and the connection waits for that channel in line
with every other connection whose head is for it: the full channel is probed
after a short backoff, and each time a slot is won the connection at the
front of the line sends and goes to the back of it. A job that cannot get in
within ``full_timeout`` seconds fails with its ``ChannelFull``.

When one of a connection's ordered jobs fails, its later ordered jobs are
dropped rather than sent with a gap in ``order``, and the next message of
the connection that carries an ``order`` (``websocket.disconnect``) is
renumbered to follow the last one delivered (docs/asgi/www.rst, "WebSocket": the disconnect comes
after the last receive).

A job marked ``deliver`` (``websocket.disconnect``: the application must hear
of every socket's end) is never given up for a full channel: refused with
``ChannelFull``, or failing because the layer is unreachable, it is *held*,
waiting in its channel's line (so the held ones go in the order they came)
and probed with the same backoff, with no ``full_timeout``. At most
``max_held`` connections are held; past that a refused job fails as any
other. Held jobs fail only once the layer has stayed unreachable for
``deliver_timeout`` seconds; they are counted in ``gave_up``.

The caller passes the time in and makes the sends itself: ``take`` gives
the next job due (``take_batch`` several, to send in one round trip),
``done`` reports its outcome and returns the notices (error handlers,
drain callbacks) to run on the reactor thread; ``expire`` fails what waited
too long and ``next_due`` says when to come back.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FairQueue", "Job"]

#: Called with the exception of a failed send.
ErrorHandler = Callable[[BaseException], None]
#: Something to run on the reactor thread once the queue's lock is released.
Notice = Callable[[], None]

#: Seconds before a full channel is probed again: doubled after each refusal
#: up to the maximum, back to the minimum once a send gets in.
MIN_BACKOFF = 0.005
MAX_BACKOFF = 0.1
#: Connections remembered as broken (a failed ordered job) at most; the
#: oldest are forgotten first (each is normally cleared by its disconnect).
MAX_BROKEN = 10_000
#: Connections whose ``deliver`` job may be held at once (a disconnect
#: message is a few hundred bytes: a few MB at most).
MAX_HELD = 50_000
#: Seconds of layer outage after which held ``deliver`` jobs are given up.
DEFAULT_DELIVER_TIMEOUT = 60.0


@dataclass(eq=False)
class Job:
    """One send: ``message`` to ``channel`` for connection ``owner``."""

    channel: str
    message: dict[str, Any]
    owner: Hashable
    on_error: ErrorHandler | None = None
    #: Wait and retry on ChannelFull (up to ``full_timeout``) instead of failing.
    retry_full: bool = False
    #: Retried until sent while the layer answers (see the module docstring).
    deliver: bool = False
    #: Taken from the line of a full channel (rather than from the ready ring).
    waited: bool = field(default=False, repr=False)


class FairQueue:
    """Per-connection queues of layer sends, served round-robin; see the module docstring."""

    def __init__(
        self,
        full_timeout: float = 10.0,
        full_error: Callable[[str], BaseException] = lambda channel: RuntimeError(
            f"{channel} is full"
        ),
        *,
        deliver_timeout: float = DEFAULT_DELIVER_TIMEOUT,
        max_held: int = MAX_HELD,
    ) -> None:
        self.full_timeout = full_timeout
        #: Seconds of outage after which held ``deliver`` jobs fail.
        self.deliver_timeout = deliver_timeout
        self.max_held = max_held
        #: Connections whose ``deliver`` head waits in a line, unbounded by time.
        self._held: set[Hashable] = set()
        #: When a ``deliver`` job first met the unreachable layer (None: it answers).
        self._unreachable_since: float | None = None
        #: Makes the error of a job that waited ``full_timeout`` in vain.
        self.full_error = full_error
        self._queues: dict[Hashable, deque[Job]] = {}
        #: Connections whose head may be sent now, in turn.
        self._ready: deque[Hashable] = deque()
        #: Full channel -> connections whose head waits for it, longest first
        #: (a connection being sent is out of its line until ``done``).
        self._lines: dict[str, deque[Hashable]] = {}
        #: When each waiting connection joined its line.
        self._since: dict[Hashable, float] = {}
        self._probe_at: dict[str, float] = {}
        self._backoff: dict[str, float] = {}
        #: Connection -> the ``order`` its next ordered message must carry.
        self._broken: OrderedDict[Hashable, int | None] = OrderedDict()
        #: Connection -> (backlog at or under which to call, callback).
        self._watches: dict[Hashable, tuple[int, Notice]] = {}
        #: Ordered jobs dropped after a failure, for the log.
        self.dropped = 0
        #: ``deliver`` jobs failed after the layer stayed unreachable, for the log.
        self.gave_up = 0
        #: ``deliver`` jobs failed because ``max_held`` were held already, for the log.
        self.overflowed = 0

    # -- queueing ------------------------------------------------------------------

    def push(self, job: Job, now: float) -> bool:
        """Queue ``job``; False if it was dropped (an ordered job of a broken connection)."""
        owner = job.owner
        if job.retry_full and owner in self._broken:
            self.dropped += 1
            return False
        queue = self._queues.get(owner)
        if queue is not None:
            queue.append(job)
            return True
        self._queues[owner] = deque([job])
        self._enter(owner, job, now)
        return True

    def _enter(self, owner: Hashable, head: Job, now: float) -> None:
        """Put a connection with ``head`` in front in the ready ring, or at the
        back of the line when its channel is known to be full."""
        line = self._lines.get(head.channel)
        if head.retry_full and line is not None:
            line.append(owner)
            self._since[owner] = now
        elif head.deliver and line is not None and len(self._held) < self.max_held:
            # behind the ones held already: they go in the order they came
            line.append(owner)
            self._held.add(owner)
        else:
            self._ready.append(owner)

    def idle(self, owner: Hashable, channel: str) -> bool:
        """True when a send for ``owner`` to ``channel`` has nothing to wait
        behind and may be made at once (see ``first_try_failed``)."""
        # a broken connection's sends go through the queue: they are dropped
        # or renumbered there
        return (
            owner not in self._queues and channel not in self._lines and owner not in self._broken
        )

    def first_try_failed(
        self,
        job: Job,
        now: float,
        error: BaseException,
        full: bool = False,
        unavailable: bool = False,
    ) -> list[Notice]:
        """``job`` was sent at once, because ``idle`` said so, and failed: handle
        it as if it had been queued and taken. Returns the notices to run."""
        self._queues[job.owner] = deque([job])
        job.waited = False
        return self.done(job, now, error, full, unavailable)

    def undelivered(self) -> int:
        """``deliver`` jobs not yet sent (held, or queued behind other jobs)."""
        return sum(job.deliver for queue in self._queues.values() for job in queue)

    def held(self) -> int:
        """Connections whose ``deliver`` job waits to be retried."""
        return len(self._held)

    def backlog(self, owner: Hashable) -> int:
        """Jobs of ``owner`` not yet done (the one being sent included)."""
        queue = self._queues.get(owner)
        return len(queue) if queue else 0

    def __len__(self) -> int:
        return sum(len(queue) for queue in self._queues.values())

    def waiting(self, channel: str) -> int:
        """Connections in line for ``channel`` (0 when it is not known to be full)."""
        return len(self._lines.get(channel, ()))

    def watch(self, owner: Hashable, at_most: int, callback: Notice) -> bool:
        """Call ``callback`` once, when ``owner``'s backlog is ``at_most`` or less.
        False (and no call) if it already is."""
        if self.backlog(owner) <= at_most:
            return False
        self._watches[owner] = (at_most, callback)
        return True

    # -- serving -----------------------------------------------------------------

    def take(self, now: float) -> Job | None:
        """The next job to send now, or None. Report it with ``done``."""
        for channel, line in self._lines.items():
            if line and self._probe_at.get(channel, now) <= now:
                owner = line.popleft()
                job = self._queues[owner][0]
                job.waited = True
                return self._hand_out(owner, job)
        if self._ready:
            owner = self._ready.popleft()
            job = self._queues[owner][0]
            job.waited = False
            return self._hand_out(owner, job)
        return None

    def take_batch(self, now: float, limit: int) -> list[Job]:
        """The jobs due now, at most ``limit``, to send together; report each with ``done``.

        One per connection at most (``take`` never hands out a connection's
        next job before the last one is done), so a batch never holds two
        messages whose order matters. A probe of a full channel ends the
        batch: whether there is room again is learnt from that send alone.
        """
        jobs: list[Job] = []
        while len(jobs) < limit:
            job = self.take(now)
            if job is None:
                break
            jobs.append(job)
            if job.waited:
                break
        return jobs

    def _hand_out(self, owner: Hashable, job: Job) -> Job:
        if owner in self._broken and "order" in job.message:
            order = self._broken[owner]
            if order is not None and job.message["order"] > order:
                job.message = {**job.message, "order": order}
        return job

    def next_due(self, now: float) -> float | None:
        """Seconds until ``take`` or ``expire`` has work (0: now); None: nothing waits."""
        if self._ready:
            return 0.0
        times = []
        for channel, line in self._lines.items():
            if line:
                times.append(self._probe_at.get(channel, now))
                if line[0] in self._since:
                    times.append(self._since[line[0]] + self.full_timeout)
        if self._held and self._unreachable_since is not None:
            times.append(self._unreachable_since + self.deliver_timeout)
        return max(0.0, min(times) - now) if times else None

    def done(
        self,
        job: Job,
        now: float,
        error: BaseException | None = None,
        full: bool = False,
        unavailable: bool = False,
    ) -> list[Notice]:
        """Report the outcome of a job from ``take``: sent (no ``error``), refused
        because its channel is full (``full``), failed because the layer is
        unreachable (``unavailable``), or failed. Returns the notices to run."""
        owner, channel = job.owner, job.channel
        if error is None or full:
            self._unreachable_since = None  # the layer answered
        if error is not None and job.deliver and (full or unavailable):
            if self._hold(job, now, unavailable):
                return []
        self._held.discard(owner)
        if error is None:
            self._queues[owner].popleft()
            self._since.pop(owner, None)
            if channel in self._lines:
                # room again: the next in line may try at once
                self._probe_at[channel] = now
                self._backoff.pop(channel, None)
            if not job.retry_full:
                self._broken.pop(owner, None)
            notices = self._after(owner, now)
            self._tidy(channel)
            return notices
        if full and job.retry_full:
            line = self._lines.setdefault(channel, deque())
            if job.waited:
                line.appendleft(owner)  # keeps its place and its time
            else:
                line.append(owner)
                self._since[owner] = now
            if now - self._since[owner] < self.full_timeout:
                backoff = self._backoff.get(channel, MIN_BACKOFF)
                self._probe_at[channel] = now + backoff
                self._backoff[channel] = min(backoff * 2, MAX_BACKOFF)
                return []
            line.remove(owner)
        self._since.pop(owner, None)
        # a job taken from its line may have been the last one in it
        self._tidy(channel)
        return self._fail(owner, error, now)

    def _hold(self, job: Job, now: float, unavailable: bool) -> bool:
        """Keep a refused ``deliver`` job in its channel's line, to be probed
        again after a backoff; False when it must fail instead (the layer
        stayed unreachable past ``deliver_timeout``, or ``max_held`` are held)."""
        owner = job.owner
        if unavailable:
            if self._unreachable_since is None:
                self._unreachable_since = now
            elif now - self._unreachable_since >= self.deliver_timeout:
                self.gave_up += 1
                return False
        if owner not in self._held and len(self._held) >= self.max_held:
            self.overflowed += 1
            return False
        self._held.add(owner)
        line = self._lines.setdefault(job.channel, deque())
        if job.waited:
            line.appendleft(owner)  # keeps its place
        else:
            line.append(owner)
        backoff = self._backoff.get(job.channel, MIN_BACKOFF)
        self._probe_at[job.channel] = now + backoff
        self._backoff[job.channel] = min(backoff * 2, MAX_BACKOFF)
        return True

    def _give_up_held(self, now: float) -> list[Notice]:
        """The layer stayed unreachable ``deliver_timeout`` s: fail every held job."""
        notices: list[Notice] = []
        error = TimeoutError(f"the channel layer stayed unreachable for {self.deliver_timeout:g}s")
        for channel in list(self._lines):
            line = self._lines[channel]
            for owner in [owner for owner in line if owner in self._held]:
                line.remove(owner)
                self._held.discard(owner)
                self.gave_up += 1
                notices.extend(self._fail(owner, error, now))
            self._tidy(channel)
        return notices

    def expire(self, now: float) -> list[Notice]:
        """Fail the heads that have waited ``full_timeout`` in line, and the
        held jobs once the layer stayed unreachable ``deliver_timeout``; their notices."""
        notices: list[Notice] = []
        if (
            self._held
            and self._unreachable_since is not None
            and now - self._unreachable_since >= self.deliver_timeout
        ):
            notices = self._give_up_held(now)
        for channel in list(self._lines):
            line = self._lines[channel]
            # a held head has no deadline (and lines are per channel: frames and
            # disconnects never share one)
            while (
                line and line[0] in self._since and now - self._since[line[0]] >= self.full_timeout
            ):
                owner = line.popleft()
                del self._since[owner]
                notices.extend(self._fail(owner, self.full_error(channel), now))
            self._tidy(channel)
        return notices

    # -- outcomes ------------------------------------------------------------------

    def _fail(self, owner: Hashable, error: BaseException, now: float) -> list[Notice]:
        queue = self._queues[owner]
        job = queue.popleft()
        notices: list[Notice] = []
        if job.on_error is not None:
            handler = job.on_error
            notices.append(lambda: handler(error))
        if job.retry_full:
            # the rest of this connection's ordered stream would arrive with a gap
            kept = deque(j for j in queue if not j.retry_full)
            self.dropped += len(queue) - len(kept)
            self._queues[owner] = kept
            self._broken[owner] = job.message.get("order")
            self._broken.move_to_end(owner)
            while len(self._broken) > MAX_BROKEN:
                self._broken.popitem(last=False)
        else:
            self._broken.pop(owner, None)
        return notices + self._after(owner, now)

    def _after(self, owner: Hashable, now: float) -> list[Notice]:
        """Requeue ``owner`` behind the others, or forget it; its drain notice."""
        queue = self._queues[owner]
        if queue:
            self._enter(owner, queue[0], now)
        else:
            del self._queues[owner]
        watch = self._watches.get(owner)
        if watch is not None and len(queue) <= watch[0]:
            del self._watches[owner]
            return [watch[1]]
        return []

    def _tidy(self, channel: str) -> None:
        if channel in self._lines and not self._lines[channel]:
            del self._lines[channel]
            self._probe_at.pop(channel, None)
            self._backoff.pop(channel, None)
