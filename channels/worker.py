"""The worker loop: take a message, route it, run its consumer.

See docs/topics/workers.rst.

A ``Worker`` blocks on the channel layer (no polling), so an idle worker
uses no CPU. It survives anything a consumer raises, closes stale database
connections around each consumer, and on SIGTERM/SIGINT finishes the
message in hand before returning. ``WorkerGroup`` runs several in threads.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from asgi.heartbeat import Activity
from asgi.types import ChannelLayer

from . import _drops
from ._retry import backoff, retry_while_full
from .exceptions import ChannelSocketException, ConsumeLater, DenyConnection
from .message import Message, pending_message_store
from .signals import consumer_finished, consumer_started, worker_ready
from .utils import name_that_thing

__all__ = ["StopWorkerGroupLoop", "Worker", "WorkerGroup"]

logger = logging.getLogger("django.channels")


class StopWorkerGroupLoop(BaseException):
    """Raised by the signal handler of an idle worker to leave its loop.

    A ``BaseException`` so that ``except Exception`` retry loops inside a
    layer's blocking receive cannot swallow it.
    """


class Worker:
    """Runs consumers for the messages on every routed channel of one layer."""

    #: How often a ``ConsumeLater`` requeue retries a full channel, and the pause.
    requeue_attempts = 10
    requeue_interval = 0.05
    #: After a failed receive (the layer's server is down), the first pause
    #: before trying again; it doubles up to ``receive_retry_max``.
    receive_retry_delay = 0.1
    receive_retry_max = 2.0
    #: The pause before receiving again from a layer whose receive did not block.
    idle_pause = 0.05
    #: The pause function, replaceable in tests; every pause of the worker goes through it.
    sleep = staticmethod(time.sleep)
    #: Most messages taken off the layer at once (on layers with
    #: ``receive_batch``), and the time a batch may take by the recent
    #: average consumer: a batch costs one round trip to the layer instead
    #: of one per message, but its last message waits for the others.
    batch_size = 32
    batch_budget = 0.002

    def __init__(
        self,
        channel_layer: ChannelLayer,
        callback: Callable[[str, Message], Any] | None = None,
        message_retries: int = 10,
        signal_handlers: bool = True,
        only_channels: Iterable[str] | None = None,
        exclude_channels: Iterable[str] | None = None,
    ) -> None:
        self.channel_layer = channel_layer
        self.callback = callback
        self.message_retries = message_retries
        self.signal_handlers = signal_handlers
        self.only_channels = list(only_channels or [])
        self.exclude_channels = list(exclude_channels or [])
        self.termed = False
        self.in_job = False
        self._receive_failures = 0
        self._receive_batch = getattr(channel_layer, "receive_batch", None)
        self._average_handle = 0.0
        #: Messages handled and the time of the last one (the heartbeat's figures).
        self.activity = Activity()
        #: This worker's counts for ``runworker --metrics-port`` (a
        #: ``_worker_metrics.WorkerMetrics``); None, and nothing counted, otherwise.
        self.metrics: Any = None

    # -- lifecycle -------------------------------------------------------------

    def install_signal_handler(self) -> None:
        signal.signal(signal.SIGTERM, self.sigterm_handler)
        signal.signal(signal.SIGINT, self.sigterm_handler)

    def sigterm_handler(self, signo: int, stack_frame: Any) -> None:
        """First signal: stop after the current message. Second while busy: exit now.

        A first SIGTERM while waiting in the layer's blocking receive lets
        that receive return (within the layer's blocking timeout) and handles
        what it brings: leaving by an exception could drop a message the
        layer had already taken off its server, which a rolling deploy must
        not do. SIGINT (Ctrl-C) and a second signal leave at once.
        """
        if self.termed and self.in_job:
            logger.warning("Second shutdown signal: exiting without finishing the message")
            sys.exit(1)
        first = not self.termed
        self.termed = True
        if self.in_job:
            logger.info("Shutdown signal received: finishing the current message first")
        elif first and signo == signal.SIGTERM:
            logger.info("Shutdown signal received: stopping once the current receive returns")
        else:
            raise StopWorkerGroupLoop()

    def stop(self) -> None:
        """Ask the loop to end once the current message (if any) is done."""
        self.termed = True

    def apply_channel_filters(self, channels: Iterable[str]) -> list[str]:
        """Keep channels matching an ``only_channels`` glob and no ``exclude_channels`` one.

        The channels keep the order they came in (as in 1.x).
        """
        channels = list(channels)
        if self.only_channels:
            channels = [
                c for c in channels if any(fnmatch.fnmatchcase(c, p) for p in self.only_channels)
            ]
        if self.exclude_channels:
            channels = [
                c
                for c in channels
                if not any(fnmatch.fnmatchcase(c, p) for p in self.exclude_channels)
            ]
        return channels

    def listen_channels(self) -> list[str]:
        """The routed channels this worker takes messages from, sorted for a stable order."""
        return self.apply_channel_filters(sorted(self.channel_layer.router.channels))

    def ready(self) -> None:
        """Called once the worker is set up, before ``run``."""
        worker_ready.send(sender=self)

    def run(self) -> None:
        """Consume messages until stopped (by a signal or ``stop()``)."""
        if self.signal_handlers:
            self.install_signal_handler()
        channels = self.listen_channels()
        if not channels:
            logger.error("Worker has no channels to listen on; check the routing and filters")
            return
        logger.debug("Listening on channels %s", ", ".join(channels))
        try:
            while not self.termed:
                self.in_job = False
                started = time.monotonic()
                try:
                    batch = self._receive(channels)
                except Exception as exc:  # noqa: BLE001 - any layer's errors
                    # A lost layer (Redis down) must not end the process:
                    # wait and try again, so service resumes by itself.
                    self._receive_failed(exc)
                    continue
                if self._receive_failures:
                    logger.warning("The channel layer answers again; receiving resumed")
                    self._receive_failures = 0
                if not batch:
                    if not self.termed and time.monotonic() - started < 0.005:
                        # The layer does not block: avoid a busy loop (no
                        # pause when the loop is about to end anyway).
                        self.sleep(self.idle_pause)
                    continue
                # Every message of a batch is in hand (taken off the layer):
                # all are handled, even after a first shutdown signal.
                self.in_job = True
                if self.metrics is not None:
                    self.metrics.batch(len(batch))
                started = time.monotonic()
                self._handle_batch(batch, started)
                self._handled(len(batch), time.monotonic() - started)
        except StopWorkerGroupLoop:
            pass
        finally:
            self.in_job = False

    def _handle_batch(self, batch: list[tuple[str, dict]], started: float) -> None:
        """Handle every message of ``batch``. The consumers' sends of a batch
        go out together when it ends (one round trip, in order), or once they
        have been held ``batch_budget`` seconds, so a consumer's sends wait
        for the others a moment at most."""
        holding = len(batch) > 1
        if holding:
            pending_message_store.hold()
        held_since = started
        try:
            for channel, content in batch:
                try:
                    self.handle(channel, content)
                except Exception:
                    # handle() guards consumers; this catches malformed
                    # messages and our own bugs, so no message kills a worker.
                    logger.exception("Could not handle a message on %s", channel)
                if holding and time.monotonic() - held_since > self.batch_budget:
                    self._release_held()
                    pending_message_store.hold()
                    held_since = time.monotonic()
        finally:
            if holding:
                self._release_held()

    def _receive(self, channels: list[str]) -> list[tuple[str, dict]]:
        """The next messages to handle: a batch while consumers are quick
        (one round trip for several messages of a backlog), else one."""
        limit = self._batch_limit()
        if limit > 1 and self._receive_batch is not None:
            return self._receive_batch(channels, block=True, limit=limit)
        channel, content = self.channel_layer.receive(channels, block=True)
        return [] if channel is None else [(channel, content)]

    def _batch_limit(self) -> int:
        """How many messages to take at once: as many as the recent average
        consumer runs through in ``batch_budget`` seconds, at most
        ``batch_size``. A slow consumer gets one message at a time, so
        messages never wait in one busy worker while another is idle."""
        average = self._average_handle
        if average <= 0:
            return 1
        return max(1, min(self.batch_size, int(self.batch_budget / average)))

    def _handled(self, count: int, elapsed: float) -> None:
        self.activity.note(count)
        # moving average of the time one message takes, over ~10 batches
        per_message = elapsed / count
        if self._average_handle <= 0:
            self._average_handle = per_message
        else:
            self._average_handle += (per_message - self._average_handle) * 0.1

    def _receive_failed(self, exc: Exception) -> None:
        """Log a failed receive (loudly the first time) and pause before the next try."""
        self._receive_failures += 1
        delay = backoff(
            self.receive_retry_delay, self._receive_failures - 1, self.receive_retry_max
        )
        log = logger.warning if self._receive_failures == 1 else logger.debug
        log("Receiving from the channel layer failed (%s); retrying in %.1fs", exc, delay)
        self.sleep(delay)

    # -- one message -------------------------------------------------------------

    def handle(self, channel: str, content: dict) -> None:  # noqa: C901 - one branch per 1.x consumer exception
        """Route and consume one message; never raises for consumer errors."""
        try:
            message = Message(content, channel, self.channel_layer)
        except (TypeError, AttributeError, UnicodeDecodeError) as exc:
            logger.error("Dropping a malformed message on %s: %s", channel, exc)
            _drops.report_drop(_drops.MALFORMED, channel)
            return
        if content.get("__retries__", 0) >= self.message_retries:
            message.__doomed__ = True
        try:
            match = self.channel_layer.router.match(message)
        except Exception:
            logger.exception("Routing failed for a message on %s", channel)
            _drops.report_drop(_drops.NO_ROUTE, channel)
            return
        if match is None:
            logger.error("Could not find match for message on %s! Check your routing.", channel)
            _drops.report_drop(_drops.NO_ROUTE, channel)
            return
        consumer, kwargs = match
        if self.callback is not None:
            try:
                self.callback(channel, message)
            except Exception:
                logger.exception("Worker callback failed for a message on %s", channel)
        pending_message_store.track_sends()
        self._send_signal(consumer_started, environ={})
        metrics, failed = self.metrics, False
        started = time.perf_counter() if metrics is not None else 0.0
        try:
            consumer(message, **kwargs)
            if channel == "websocket.connect":
                self._check_handshake_answered(message, consumer)
        except DenyConnection:
            self._deny(message)
        except ChannelSocketException as exc:
            try:
                exc.run(message)
            except Exception:
                logger.exception("%s.run() failed on %s", type(exc).__name__, channel)
        except ConsumeLater:
            pending_message_store.discard()
            self.requeue(channel, content)
        except Exception:
            failed = True
            dropped = pending_message_store.discard()
            logger.exception(
                "Error processing message with consumer %s (%d pending send(s) dropped)",
                name_that_thing(consumer),
                dropped,
            )
            _drops.report_drop(_drops.CONSUMER_ERROR, channel, 1 + dropped)
        finally:
            if metrics is not None:
                metrics.consumed(channel, consumer, time.perf_counter() - started, failed)
            self._send_signal(consumer_finished)

    @staticmethod
    def _check_handshake_answered(message: Message, consumer: Any) -> None:
        # Since 1.0 a handshake waits for an explicit accept; a connect
        # consumer that forgets it leaves the client hanging until the
        # server's timeout, the most common 1.0 upgrade problem.
        reply = message.reply_channel
        if reply is not None and reply.name not in pending_message_store.sent_to():
            logger.warning(
                "websocket.connect consumer %s returned without answering on %s; the "
                'handshake waits until it gets {"accept": True} (or a close) and will '
                "time out otherwise",
                name_that_thing(consumer),
                reply.name,
            )

    def _deny(self, message: Message) -> None:
        if message.channel.name != "websocket.connect":
            logger.error(
                "DenyConnection raised by a consumer of %s; it is only valid on websocket.connect",
                message.channel.name,
            )
            return
        if message.reply_channel is not None:
            message.reply_channel.send({"close": True})

    def requeue(self, channel: str, content: dict) -> None:
        """Put a ``ConsumeLater`` message back, counting the retry."""
        retries = content.get("__retries__", 0)
        if retries >= self.message_retries:
            logger.warning(
                "Dropping a message on %s: it was retried %d times (ConsumeLater)", channel, retries
            )
            _drops.report_drop(_drops.RETRIES_EXHAUSTED, channel)
            return
        content = dict(content, __retries__=retries + 1)
        layer = self.channel_layer
        try:
            requeued = retry_while_full(
                lambda: layer.send(channel, content),
                layer.ChannelFull,
                attempts=self.requeue_attempts,
                interval=self.requeue_interval,
                sleep=self.sleep,
            )
        except Exception:
            logger.exception("Could not requeue a message on %s", channel)
            _drops.report_drop(_drops.LAYER_DOWN, channel)
            return
        if not requeued:
            logger.warning("Could not requeue a message on %s: the channel stayed full", channel)
            _drops.report_drop(_drops.CHANNEL_FULL, channel)

    @staticmethod
    def _release_held() -> None:
        try:
            pending_message_store.release()
        except Exception as exc:
            logger.error(
                "Sending the consumers' held messages failed: %s",
                exc,
                exc_info=(type(exc), exc, exc.__traceback__),
            )

    @staticmethod
    def _send_signal(sig: Any, **kwargs: Any) -> None:
        for receiver, result in sig.send_robust(sender=Worker, **kwargs):
            if isinstance(result, Exception):
                logger.error(
                    "%s failed: %s",
                    name_that_thing(receiver),
                    result,
                    exc_info=(type(result), result, result.__traceback__),
                )


class WorkerGroup(Worker):
    """This worker plus ``n_threads - 1`` more in daemon threads, stopped together."""

    def __init__(self, *args: Any, n_threads: int | None = None, **kwargs: Any) -> None:
        n_threads = n_threads or os.cpu_count() or 1
        super().__init__(*args, **kwargs)
        kwargs["signal_handlers"] = False
        self.workers = [Worker(*args, **kwargs) for _ in range(n_threads - 1)]
        for worker in self.workers:
            worker.activity = self.activity  # one process, one count
        self.threads: list[threading.Thread] = []

    def sigterm_handler(self, signo: int, stack_frame: Any) -> None:
        for worker in self.workers:
            worker.stop()
        super().sigterm_handler(signo, stack_frame)

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        super().stop()

    def ready(self) -> None:
        super().ready()
        for worker in self.workers:
            worker.ready()

    def run(self) -> None:
        for index, worker in enumerate(self.workers, start=1):
            thread = threading.Thread(target=worker.run, name=f"channels-worker-{index}")
            thread.daemon = True
            thread.start()
            self.threads.append(thread)
        try:
            super().run()
        finally:
            for worker in self.workers:
                worker.stop()
            self.wait_for_workers()

    def wait_for_workers(self, timeout: float | None = None) -> None:
        """Wait for the thread workers to finish their current message and stop."""
        for thread in self.threads:
            thread.join(timeout)
