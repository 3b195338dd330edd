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
the caller's thread and retries on the reactor's clock.

Either way the sends go through a :class:`~daphne._fair_queue.FairQueue`:
one queue per connection (its reply channel), served round-robin, so a
connection's messages keep their order and a flooding connection delays the
others by one send at a time; ``websocket.receive`` frames refused with
``ChannelFull`` wait their turn for room (up to ``full_timeout``) instead of
failing. ``backlog`` and ``when_drained`` let a connection stop reading its
socket while too many of its frames wait, and start again once they are in.
``websocket.disconnect`` is sent with ``deliver``: refused because its channel
is full or the layer is unreachable, it is held and retried (no
``full_timeout``) until it lands, or until the layer has stayed unreachable
for ``deliver_timeout`` seconds (one WARNING with the count given up).
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
        self._send_batch_twisted = getattr(layer, "send_batch_twisted", None)
        if on_reactor and self._send_batch_twisted is None:
            raise TypeError(f"{layer!r} has no send_batch_twisted; use threaded mode")
        self._in_flight = False
        self._drained: Any = None
        self._queue = FairQueue(
            full_timeout, full_error=self._full_error, deliver_timeout=deliver_timeout
        )
        self._lock = threading.Condition(threading.Lock())
        self._send_batch = getattr(layer, "send_batch", None)
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._sleeping = False  # the thread waits on the lock for work
        # direct mode only
        self._pumping = False
        self._timer: Any = None
        self._dropped_logged = 0
        self._gave_up_logged = 0
        self._overflowed_logged = 0

    def _full_error(self, channel: str) -> BaseException:
        return self.layer.ChannelFull(f"{channel} stayed full for {self._queue.full_timeout:g}s")

    def _now(self) -> float:
        # direct mode runs on the reactor's (possibly fake) clock
        return time.monotonic() if self.threaded else self.reactor.seconds()

    def send(
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
        owner: Hashable = message.get("reply_channel") or object()
        queue = self._queue
        if self.on_reactor:
            if self._stopping and not deliver:
                raise RuntimeError("LayerSender is stopped; no more sends")
            queue.push(Job(channel, message, owner, on_error, retry_full, deliver), self._now())
            self._kick()
            return
        if not self.threaded:
            if not self._pumping and queue.idle(owner, channel):
                # nothing to wait behind: the plain send, as fast as before
                try:
                    self.layer.send(channel, message)
                except Exception as exc:  # noqa: BLE001 - any layer's errors, reported per job
                    job = Job(channel, message, owner, on_error, retry_full, deliver)
                    full = isinstance(exc, self.layer.ChannelFull)
                    self._log_failure(job, exc, full)
                    _run_all(
                        queue.first_try_failed(job, self._now(), exc, full, layer_unavailable(exc))
                    )
                    self._pump()
                else:
                    if self.outage.down:
                        self.layer_recovered()
                return
            queue.push(Job(channel, message, owner, on_error, retry_full, deliver), self._now())
            self._pump()
            return
        job = Job(channel, message, owner, on_error, retry_full, deliver)
        with self._lock:
            if self._stopping:
                raise RuntimeError("LayerSender is stopped; no more sends")
            queue.push(job, self._now())
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="daphne layer sender", daemon=True
                )
                self._thread.start()
            if self._sleeping:
                # Only a sleeping thread needs waking, once: a notify per frame
                # made the reactor and this thread convoy on the lock.
                self._sleeping = False
                self._lock.notify()

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
        if self.on_reactor:
            return self._stop_on_reactor(timeout)
        with self._lock:
            self._stopping = True
            self._lock.notify()
            thread = self._thread
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                with self._lock:
                    self._log_not_sent()

    def _log_not_sent(self) -> None:
        """The one WARNING of a stop that ran out of time, with the counts."""
        logger.warning(
            "Stopped with %d send(s) not made (%d websocket.disconnect not sent)",
            len(self._queue),
            self._queue.undelivered(),
        )

    def layer_recovered(self) -> None:
        """A send landed: end the layer's outage, if there was one, with an INFO line."""
        refused = self.outage.recovered()
        if refused:
            logger.info(RECOVERED, refused)

    def _log_failure(self, job: Job, exc: BaseException, full: bool) -> None:
        if job.on_error is None and not (full and job.retry_full) and not job.deliver:
            logger.info("Could not send on %s: %s", job.channel, exc)

    def _log_dropped(self) -> None:
        queue = self._queue
        if queue.gave_up != self._gave_up_logged:
            logger.warning(
                "Gave up on %d message(s) that must be delivered (websocket.disconnect): "
                "the channel layer stayed unreachable for %gs",
                queue.gave_up - self._gave_up_logged,
                queue.deliver_timeout,
            )
            self._gave_up_logged = queue.gave_up
        if queue.overflowed != self._overflowed_logged:
            logger.warning(
                "Could not hold %d more message(s) that must be delivered "
                "(websocket.disconnect): %d already wait for room",
                queue.overflowed - self._overflowed_logged,
                queue.max_held,
            )
            self._overflowed_logged = queue.overflowed
        dropped = self._queue.dropped
        if dropped != self._dropped_logged:
            logger.warning(
                "Dropped %d frame(s) queued behind a frame that could not be sent "
                "(their sockets are being closed)",
                dropped - self._dropped_logged,
            )
            self._dropped_logged = dropped

    # -- direct mode: on the reactor thread --------------------------------------

    def _pump(self) -> None:
        """Make every send that is due; schedule the next retry on the reactor clock."""
        if self._pumping:
            return  # a notice sent from inside the loop: the loop picks it up
        self._pumping = True
        queue = self._queue
        try:
            while True:
                now = self._now()
                notices = queue.expire(now)
                job = queue.take(now)
                if job is not None:
                    try:
                        self.layer.send(job.channel, job.message)
                    except Exception as exc:  # noqa: BLE001 - any layer's errors, reported per job
                        notices += self._report(job, exc, self._now())
                    else:
                        notices += self._report(job, None, self._now())
                _run_all(notices)
                if job is None and not notices:
                    break
            self._log_dropped()
            delay = queue.next_due(self._now())
        finally:
            self._pumping = False
        self._retry_in(None if self._stopping else delay, self._pump)

    def _report(self, job: Job, error: BaseException | None, now: float) -> list[Notice]:
        """Tell the queue how ``job`` went (logging a failure nobody handles);
        the notices to run."""
        if error is None:
            if self.outage.down:
                self.layer_recovered()
            return self._queue.done(job, now)
        full = isinstance(error, self.layer.ChannelFull)
        self._log_failure(job, error, full)
        return self._queue.done(job, now, error, full, layer_unavailable(error))

    def _retry_in(self, delay: float | None, function: Callable[[], None]) -> None:
        """Call ``function`` on the reactor clock in ``delay`` seconds (None:
        not at all), in place of any call set up before."""
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if delay is not None:
            self._timer = self.reactor.callLater(delay, function)

    # -- on the reactor: send_batch_twisted ---------------------------------------

    def _kick(self) -> None:
        """Send what is due as one batch, unless a batch is on its way: what
        queues up meanwhile goes in the next one (sent when it lands)."""
        if self._pumping or self._in_flight:
            return
        self._pumping = True
        queue = self._queue
        try:
            while True:
                now = self._now()
                notices = queue.expire(now)
                jobs = self._take_batch(now)
                if jobs:
                    self._in_flight = True
                    try:
                        sent = self._send_batch_twisted(
                            [(job.channel, job.message) for job in jobs]
                        )
                    except Exception as exc:  # noqa: BLE001 - a layer bug must not stall sends
                        sent = defer.fail(exc)
                    # may land at once (then the loop goes on with the next batch)
                    sent.addBoth(self._landed, jobs)
                _run_all(notices)
                if not notices and (not jobs or self._in_flight):
                    break
            self._log_dropped()
            delay = None if self._in_flight else queue.next_due(self._now())
        finally:
            self._pumping = False
        self._retry_in(delay, self._kick)
        self._check_drained()

    def _landed(self, outcome: Any, jobs: list[Job]) -> None:
        """A batch's outcomes (or the one failure of the whole batch) are in."""
        self._in_flight = False
        if isinstance(outcome, Failure):
            errors: list[BaseException | None] = [outcome.value] * len(jobs)
        else:
            errors = list(outcome)
        now = self._now()
        notices: list[Notice] = []
        for job, error in zip(jobs, errors):
            notices += self._report(job, error, now)
        _run_all(notices)
        self._kick()

    def _stop_on_reactor(self, timeout: float) -> Any:
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
        self._check_drained()
        return drained

    def _check_drained(self) -> None:
        if (
            self._drained is not None
            and not self._drained.called
            and not self._in_flight
            and not len(self._queue)
        ):
            self._drained.callback(None)

    def _give_up_draining(self) -> None:
        if self._drained is not None and not self._drained.called:
            self._log_not_sent()
            self._drained.callback(None)

    # -- threaded mode -------------------------------------------------------------

    def _run(self) -> None:
        queue, lock = self._queue, self._lock
        last: list[tuple[Job, BaseException | None]] = []
        while True:
            with lock:
                # report the last sends and take the next ones in one hold of the lock
                notices: list[Notice] = []
                for job, error in last:
                    notices += self._report(job, error, self._now())
                jobs: list[Job] = []
                while True:
                    now = self._now()
                    notices += queue.expire(now)
                    jobs = self._take_batch(now)
                    if jobs or notices:
                        break
                    delay = queue.next_due(now)
                    if self._stopping and (delay is None or not len(queue)):
                        return
                    self._sleeping = True
                    lock.wait(delay)
                    self._sleeping = False
                self._log_dropped()
            if notices:
                self._notify(notices)
            last = self._send_jobs(jobs) if jobs else []

    def _take_batch(self, now: float) -> list[Job]:
        """The jobs due now, at most ``batch_size`` (one per connection, as
        ``take`` never hands out a connection's next job before ``done``); a
        probe of a full channel ends the batch, so it is tried alone."""
        jobs: list[Job] = []
        while len(jobs) < self.batch_size:
            job = self._queue.take(now)
            if job is None:
                break
            jobs.append(job)
            if job.waited:
                break
        return jobs

    def _send_jobs(self, jobs: list[Job]) -> list[tuple[Job, BaseException | None]]:
        """Send ``jobs`` (one round trip for the lot on a layer with
        ``send_batch``); each with its error or None (reported, and logged,
        by ``_report`` once the lock is held)."""
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


def _run_all(notices: list[Notice]) -> None:
    for notice in notices:
        try:
            notice()
        except Exception:
            logger.exception("A send's error handler or drain callback failed")
