"""Sending to the channel layer without stalling the reactor, fairly.

A network layer's ``send`` is a round trip to its broker. Made on the
reactor thread, every connection of the process waits for it: profiles of
the benchmark (``benchmarks/run.py``) showed daphne's reactor blocked in
Redis sends for about a third of its wall time while its CPU sat at half a
core. :class:`LayerSender` in threaded mode makes the sends of the hot
paths (``http.request``, ``websocket.receive``, the disconnects) from one
thread and reports a failure back on the reactor thread. That thread sends
in batches: what queued up while one batch was on its way goes in the next,
in one round trip on a layer with ``send_batch``. In direct mode
(in-memory layers, ``--force-sync``, the sans-IO tests) it sends at once on
the caller's thread and retries on the reactor's clock. On the reactor
(a layer with ``send_batch_twisted``) batches go out without a thread.

Every mode puts the sends through one :class:`~daphne._fair_queue.FairQueue`,
the sans-IO core that decides what is sent when: one queue per connection
(its reply channel), served round-robin, so a connection's messages keep
their order and a flooding connection delays the others by one send at a
time; ``websocket.receive`` frames refused with ``ChannelFull`` wait their
turn for room (up to ``full_timeout``) instead of failing. ``backlog`` and
``when_drained`` let a connection stop reading its socket while too many of
its frames wait, and start again once they are in. ``websocket.disconnect``
is sent with ``deliver``: refused because its channel is full or the layer
is unreachable, it is held and retried (no ``full_timeout``) until it lands,
or until the layer has stayed unreachable for ``deliver_timeout`` seconds
(one WARNING with the count given up).

The three modes are three small drivers over that core (``_Direct``,
``_OnReactor``, ``_Threaded``): each only decides on which thread and with
which call the jobs the core hands out are sent, and when to ask it again.
What a send's outcome means (``_Driver.report``) and what is logged about
it are written once, in their common base.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

from twisted.internet import defer
from twisted.python.failure import Failure

from asgi.types import ChannelLayer

from . import _drops
from ._fair_queue import DEFAULT_DELIVER_TIMEOUT, FairQueue, Job, Notice
from ._layer_errors import RECOVERED, LayerOutage, layer_unavailable

__all__ = ["LayerSender"]

logger = logging.getLogger(__name__)

#: Called with the exception of a failed send (on the reactor thread).
ErrorHandler = Callable[[BaseException], None]

#: Seconds a frame may wait for room on a full channel before it fails.
DEFAULT_FULL_TIMEOUT = 10.0


class LayerSender:
    """``send(channel, message, on_error)`` now (direct) or from a thread, in
    order per connection and round-robin across connections."""

    #: Most sends the thread makes in one batch (one round trip on layers
    #: with ``send_batch``): the jobs that queued up while the last batch
    #: was on its way, one per connection.
    batch_size = 64

    def __init__(
        self,
        layer: ChannelLayer,
        reactor: Any,
        *,
        threaded: bool = False,
        full_timeout: float = DEFAULT_FULL_TIMEOUT,
        on_reactor: bool = False,
        outage: LayerOutage | None = None,
        deliver_timeout: float = DEFAULT_DELIVER_TIMEOUT,
    ) -> None:
        if threaded and on_reactor:
            raise ValueError("a LayerSender is threaded or on the reactor, not both")
        self.layer = layer
        self.reactor = reactor
        #: Shared with the protocols: a send that lands ends an outage.
        self.outage = outage or LayerOutage()
        self.threaded = threaded
        #: Sends through the layer's ``send_batch_twisted`` (no thread).
        self.on_reactor = on_reactor
        #: Messages that landed, and the ``time.time()`` of the last one (the
        #: heartbeat record's ``handled`` and ``last_activity``).
        self.sent = 0
        self.last_sent: float | None = None
        self._queue = FairQueue(
            full_timeout, full_error=self._full_error, deliver_timeout=deliver_timeout
        )
        self._lock = threading.Condition(threading.Lock())
        driver = _OnReactor if on_reactor else _Threaded if threaded else _Direct
        self._driver: _Driver = driver(self, self._queue, self._lock)
        # The hot path: a send goes straight to the driver's method, with no
        # mode test and no extra call on the way.
        self.send = self._driver.send

    def _full_error(self, channel: str) -> BaseException:
        return self.layer.ChannelFull(f"{channel} stayed full for {self._queue.full_timeout:g}s")

    def send(  # replaced per instance by the driver's own ``send`` (same signature)
        self,
        channel: str,
        message: dict,
        on_error: ErrorHandler | None = None,
        *,
        retry_full: bool = False,
        deliver: bool = False,
    ) -> None:
        """Queue ``message`` behind the earlier ones of its connection (its
        ``reply_channel``). A failure goes to ``on_error`` on the reactor thread
        (logged without one). With ``retry_full`` a ``ChannelFull`` refusal
        waits for room in turn with the other connections, up to ``full_timeout``;
        with ``deliver`` it (or an unreachable layer) is retried until the
        message lands or the layer stays unreachable for ``deliver_timeout``."""
        self._driver.send(channel, message, on_error, retry_full=retry_full, deliver=deliver)

    def backlog(self, owner: Hashable) -> int:
        """Sends of connection ``owner`` (a reply channel) not yet made. Read
        without the lock: one dict look-up and a length, atomic under the GIL."""
        return self._queue.backlog(owner)

    def when_drained(self, owner: Hashable, at_most: int, callback: Notice) -> bool:
        """Call ``callback`` on the reactor thread once ``owner`` has ``at_most``
        sends left. False, and no call, if it already has."""
        with self._lock:
            return self._queue.watch(owner, at_most, callback)

    def pending(self) -> int:
        """Sends queued and not yet made."""
        with self._lock:
            return len(self._queue)

    def stop(self, timeout: float = 2.0) -> Any:
        """Threaded: make the queued sends (for up to ``timeout`` s), then end the
        thread; later sends raise. On the reactor: the same, and the Deferred
        returned fires once they are made (or ``timeout`` is up). Direct: stop
        retrying frames that wait for room; later sends are still made at once."""
        return self._driver.stop(timeout)

    def layer_recovered(self) -> None:
        """A send landed: end the layer's outage, if there was one, with an INFO line."""
        refused = self.outage.recovered()
        if refused:
            logger.info(RECOVERED, refused)


class _Driver:
    """What the three modes share: reading a send's outcome into the queue,
    and the log lines about it. A subclass decides where and how it sends."""

    def __init__(self, sender: LayerSender, queue: FairQueue, lock: threading.Condition) -> None:
        self.sender = sender
        self.layer = sender.layer
        self.reactor = sender.reactor
        self.outage = sender.outage
        self.queue = queue
        self.lock = lock
        self._stopping = False
        self._timer: Any = None
        self._dropped_logged = 0
        self._gave_up_logged = 0
        self._overflowed_logged = 0
        #: The jobs sent and not yet answered (the queue still counts them):
        #: at a stop that runs out of time they may land or not.
        self._flight: list[Job] = []

    def send(
        self,
        channel: str,
        message: dict,
        on_error: ErrorHandler | None = None,
        *,
        retry_full: bool = False,
        deliver: bool = False,
    ) -> None:
        """Queue or make one send (see ``LayerSender.send``)."""
        raise NotImplementedError

    def stop(self, timeout: float) -> Any:
        """Stop as ``LayerSender.stop`` says for this mode."""
        raise NotImplementedError

    def report(self, job: Job, error: BaseException | None, now: float) -> list[Notice]:
        """Tell the queue how ``job`` went (logging a failure nobody handles);
        the notices to run."""
        if error is None:
            if self.outage.down:
                self.sender.layer_recovered()
            self.sender.sent += 1
            self.sender.last_sent = time.time()
            return self.queue.done(job, now)
        full = isinstance(error, self.layer.ChannelFull)
        self.log_failure(job, error, full)
        return self.queue.done(job, now, error, full, layer_unavailable(error))

    @staticmethod
    def log_failure(job: Job, exc: BaseException, full: bool) -> None:
        if job.on_error is None and not (full and job.retry_full) and not job.deliver:
            logger.info("Could not send on %s: %s", job.channel, exc)

    def log_dropped(self) -> None:
        """One WARNING per kind of loss since the last call, with the count."""
        queue = self.queue
        if queue.gave_up != self._gave_up_logged:
            _drops.report_drop(
                _drops.LAYER_DOWN, "websocket.disconnect", queue.gave_up - self._gave_up_logged
            )
            logger.warning(
                "Gave up on %d message(s) that must be delivered (websocket.disconnect): "
                "the channel layer stayed unreachable for %gs",
                queue.gave_up - self._gave_up_logged,
                queue.deliver_timeout,
            )
            self._gave_up_logged = queue.gave_up
        if queue.overflowed != self._overflowed_logged:
            _drops.report_drop(
                _drops.LAYER_DOWN,
                "websocket.disconnect",
                queue.overflowed - self._overflowed_logged,
            )
            logger.warning(
                "Could not hold %d more message(s) that must be delivered "
                "(websocket.disconnect): %d already wait for room",
                queue.overflowed - self._overflowed_logged,
                queue.max_held,
            )
            self._overflowed_logged = queue.overflowed
        dropped = queue.dropped
        if dropped != self._dropped_logged:
            _drops.report_drop(
                _drops.CHANNEL_FULL, "websocket.receive", dropped - self._dropped_logged
            )
            logger.warning(
                "Dropped %d frame(s) queued behind a frame that could not be sent "
                "(their sockets are being closed)",
                dropped - self._dropped_logged,
            )
            self._dropped_logged = dropped

    def log_not_sent(self) -> None:
        """The one WARNING of a stop that ran out of time, with the counts.

        A send already on its way when time ran out may still land (its
        answer is what did not come), so it is counted apart: counted as not
        sent, the disconnect it carries could be counted and delivered too.
        """
        flight = self._flight
        not_made = len(self.queue) - len(flight)
        if not_made:
            _drops.report_drop(_drops.SHUTDOWN, None, not_made)
        on_the_way = ""
        if flight:
            on_the_way = (
                f"; {len(flight)} more sent with no answer yet"
                f" ({sum(job.deliver for job in flight)} websocket.disconnect)"
            )
        logger.warning(
            "Stopped with %d send(s) not made (%d websocket.disconnect not sent)%s",
            not_made,
            self.queue.undelivered() - sum(job.deliver for job in flight),
            on_the_way,
        )

    def retry_in(self, delay: float | None, function: Callable[[], None]) -> None:
        """Call ``function`` on the reactor clock in ``delay`` seconds (None:
        not at all), in place of any call set up before."""
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if delay is not None:
            self._timer = self.reactor.callLater(delay, function)


class _Direct(_Driver):
    """Sends at once on the caller's (reactor) thread; what must wait is
    retried on the reactor's (possibly fake) clock."""

    def __init__(self, sender: LayerSender, queue: FairQueue, lock: threading.Condition) -> None:
        super().__init__(sender, queue, lock)
        self._pumping = False

    def send(
        self,
        channel: str,
        message: dict,
        on_error: ErrorHandler | None = None,
        *,
        retry_full: bool = False,
        deliver: bool = False,
    ) -> None:
        owner: Hashable = message.get("reply_channel") or object()
        queue = self.queue
        if not self._pumping and queue.idle(owner, channel):
            # nothing to wait behind: the plain send, as fast as before
            try:
                self.layer.send(channel, message)
            except Exception as exc:  # noqa: BLE001 - any layer's errors, reported per job
                job = Job(channel, message, owner, on_error, retry_full, deliver)
                full = isinstance(exc, self.layer.ChannelFull)
                self.log_failure(job, exc, full)
                now = self.reactor.seconds()
                _run_all(queue.first_try_failed(job, now, exc, full, layer_unavailable(exc)))
                self.pump()
            else:
                if self.outage.down:
                    self.sender.layer_recovered()
            return
        queue.push(
            Job(channel, message, owner, on_error, retry_full, deliver), self.reactor.seconds()
        )
        self.pump()

    def pump(self) -> None:
        """Make every send that is due; schedule the next retry on the reactor clock."""
        if self._pumping:
            return  # a notice sent from inside the loop: the loop picks it up
        self._pumping = True
        queue, seconds = self.queue, self.reactor.seconds
        try:
            while True:
                now = seconds()
                notices = queue.expire(now)
                job = queue.take(now)
                if job is not None:
                    try:
                        self.layer.send(job.channel, job.message)
                    except Exception as exc:  # noqa: BLE001 - any layer's errors, reported per job
                        notices += self.report(job, exc, seconds())
                    else:
                        notices += self.report(job, None, seconds())
                _run_all(notices)
                if job is None and not notices:
                    break
            self.log_dropped()
            delay = queue.next_due(seconds())
        finally:
            self._pumping = False
        self.retry_in(None if self._stopping else delay, self.pump)

    def stop(self, timeout: float) -> None:
        with self.lock:
            self._stopping = True
        if self._timer is not None and self._timer.active():
            self._timer.cancel()


class _OnReactor(_Driver):
    """Sends batches with the layer's ``send_batch_twisted`` from the reactor
    thread; what queues up while one is on its way goes in the next."""

    def __init__(self, sender: LayerSender, queue: FairQueue, lock: threading.Condition) -> None:
        super().__init__(sender, queue, lock)
        self._send_batch_twisted = getattr(self.layer, "send_batch_twisted", None)
        if self._send_batch_twisted is None:
            raise TypeError(f"{self.layer!r} has no send_batch_twisted; use threaded mode")
        self._kicking = False
        self._drained: Any = None

    def send(
        self,
        channel: str,
        message: dict,
        on_error: ErrorHandler | None = None,
        *,
        retry_full: bool = False,
        deliver: bool = False,
    ) -> None:
        if self._stopping and not deliver:
            raise RuntimeError("LayerSender is stopped; no more sends")
        owner: Hashable = message.get("reply_channel") or object()
        self.queue.push(
            Job(channel, message, owner, on_error, retry_full, deliver), self.reactor.seconds()
        )
        self.kick()

    def kick(self) -> None:
        """Send what is due as one batch, unless a batch is on its way: what
        queues up meanwhile goes in the next one (sent when it lands)."""
        if self._kicking or self._flight:
            return
        self._kicking = True
        queue, seconds = self.queue, self.reactor.seconds
        try:
            while True:
                now = seconds()
                notices = queue.expire(now)
                jobs = queue.take_batch(now, self.sender.batch_size)
                if jobs:
                    self._flight = jobs
                    try:
                        sent = self._send_batch_twisted(
                            [(job.channel, job.message) for job in jobs]
                        )
                    except Exception as exc:  # noqa: BLE001 - a layer bug must not stall sends
                        sent = defer.fail(exc)
                    # may land at once (then the loop goes on with the next batch)
                    sent.addBoth(self.landed, jobs)
                _run_all(notices)
                if not notices and (not jobs or self._flight):
                    break
            self.log_dropped()
            delay = None if self._flight else queue.next_due(seconds())
        finally:
            self._kicking = False
        self.retry_in(delay, self.kick)
        self.check_drained()

    def landed(self, outcome: Any, jobs: list[Job]) -> None:
        """A batch's outcomes (or the one failure of the whole batch) are in."""
        self._flight = []
        if isinstance(outcome, Failure):
            errors: list[BaseException | None] = [outcome.value] * len(jobs)
        else:
            errors = list(outcome)
        now = self.reactor.seconds()
        notices: list[Notice] = []
        for job, error in zip(jobs, errors):
            notices += self.report(job, error, now)
        _run_all(notices)
        self.kick()

    def stop(self, timeout: float) -> Any:
        self._stopping = True
        if self._drained is None:
            self._drained = defer.Deferred()
            timer = self.reactor.callLater(timeout, self._give_up_draining)

            def cancel_timer(result: Any) -> Any:
                if timer.active():
                    timer.cancel()
                return result

            self._drained.addBoth(cancel_timer)
        drained = self._drained
        self.check_drained()
        return drained

    def check_drained(self) -> None:
        if (
            self._drained is not None
            and not self._drained.called
            and not self._flight
            and not len(self.queue)
        ):
            self._drained.callback(None)

    def _give_up_draining(self) -> None:
        if self._drained is not None and not self._drained.called:
            self.log_not_sent()
            self._drained.callback(None)


class _Threaded(_Driver):
    """Sends from one thread of its own, in batches (one round trip each on
    a layer with ``send_batch``); failures are reported on the reactor thread."""

    def __init__(self, sender: LayerSender, queue: FairQueue, lock: threading.Condition) -> None:
        super().__init__(sender, queue, lock)
        self._send_batch = getattr(self.layer, "send_batch", None)
        self._thread: threading.Thread | None = None
        self._sleeping = False  # the thread waits on the lock for work

    def send(
        self,
        channel: str,
        message: dict,
        on_error: ErrorHandler | None = None,
        *,
        retry_full: bool = False,
        deliver: bool = False,
    ) -> None:
        job = Job(
            channel,
            message,
            message.get("reply_channel") or object(),
            on_error,
            retry_full,
            deliver,
        )
        with self.lock:
            if self._stopping:
                raise RuntimeError("LayerSender is stopped; no more sends")
            self.queue.push(job, time.monotonic())
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self.run, name="daphne layer sender", daemon=True
                )
                self._thread.start()
            if self._sleeping:
                # Only a sleeping thread needs waking, once: a notify per frame
                # made the reactor and this thread convoy on the lock.
                self._sleeping = False
                self.lock.notify()

    def run(self) -> None:
        """The thread: report the last batch, take the next, send it; sleep
        on the lock while nothing is due."""
        queue, lock, monotonic = self.queue, self.lock, time.monotonic
        last: list[tuple[Job, BaseException | None]] = []
        while True:
            with lock:
                # report the last sends and take the next ones in one hold of the lock
                notices: list[Notice] = []
                for job, error in last:
                    notices += self.report(job, error, monotonic())
                self._flight = []
                jobs: list[Job] = []
                while True:
                    now = monotonic()
                    notices += queue.expire(now)
                    jobs = queue.take_batch(now, self.sender.batch_size)
                    if jobs or notices:
                        break
                    delay = queue.next_due(now)
                    if self._stopping and (delay is None or not len(queue)):
                        return
                    self._sleeping = True
                    lock.wait(delay)
                    self._sleeping = False
                self._flight = jobs
                self.log_dropped()
            if notices:
                self._notify(notices)
            last = self._send_jobs(jobs) if jobs else []

    def _send_jobs(self, jobs: list[Job]) -> list[tuple[Job, BaseException | None]]:
        """Send ``jobs`` (one round trip for the lot on a layer with
        ``send_batch``); each with its error or None (reported, and logged,
        by ``report`` once the lock is held)."""
        if len(jobs) == 1 or self._send_batch is None:
            outcomes: list[tuple[Job, BaseException | None]] = []
            for job in jobs:
                try:
                    self.layer.send(job.channel, job.message)
                except Exception as exc:  # noqa: BLE001 - reported through done()
                    outcomes.append((job, exc))
                else:
                    outcomes.append((job, None))
        else:
            try:
                errors = self._send_batch([(job.channel, job.message) for job in jobs])
            except Exception as exc:  # noqa: BLE001 - a layer bug must not end the thread
                errors = [exc] * len(jobs)
            outcomes = list(zip(jobs, errors))
        return outcomes

    def _notify(self, notices: list[Notice]) -> None:
        try:
            self.reactor.callFromThread(_run_all, notices)
        except Exception:  # noqa: BLE001 - the reactor is gone
            logger.debug("The reactor is gone; dropping %d notice(s)", len(notices))

    def stop(self, timeout: float) -> None:
        with self.lock:
            self._stopping = True
            self.lock.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                with self.lock:
                    self.log_not_sent()


def _run_all(notices: list[Notice]) -> None:
    for notice in notices:
        try:
            notice()
        except Exception:
            logger.exception("A send's error handler or drain callback failed")
