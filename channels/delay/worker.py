"""The delay server's loop: store ``asgi.delay`` messages, send them when due.

See docs/topics/delay.rst.

An ``asgi.delay`` message is ``{"channel": str, "delay": int milliseconds,
"content": dict}``. Differences from 1.x, same API:

* it blocks on the layer instead of polling it every 0.1 s, and wakes when
  the next stored message is due instead of every second;
* an invalid message is logged and skipped (1.x left its loop and stopped);
* a due message whose channel is full is retried with exponential backoff
  (1 s, 2 s, 4 s ... up to ``max_backoff``) instead of a fixed requeue;
* several delay servers may run: rows are claimed with ``SKIP LOCKED`` where
  the database supports it, so none is sent twice.
"""

from __future__ import annotations

import logging
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connections, router, transaction
from django.utils import timezone

from asgi.types import ChannelLayer

from .._retry import backoff
from .models import DelayedMessage, encode_content

__all__ = ["DELAY_CHANNEL", "InvalidDelayMessage", "Worker"]

logger = logging.getLogger("channels.delay")

#: The channel the delay server listens on.
DELAY_CHANNEL = "asgi.delay"


class InvalidDelayMessage(ValueError):
    """An ``asgi.delay`` message is not ``{"channel": str, "delay": int, "content": dict}``."""


def parse_delay_message(layer: ChannelLayer, message: Any) -> DelayedMessage:
    """Build an unsaved ``DelayedMessage``; ``InvalidDelayMessage`` says what is wrong."""
    if not isinstance(message, dict):
        raise InvalidDelayMessage(f"expected a dict, got {type(message).__name__}")
    missing = {"channel", "delay", "content"} - set(message)
    if missing:
        raise InvalidDelayMessage(f"missing key(s) {sorted(missing)}")
    channel, delay, content = message["channel"], message["delay"], message["content"]
    if not isinstance(channel, str):
        raise InvalidDelayMessage(f"'channel' must be a str, got {channel!r}")
    if isinstance(delay, bool) or not isinstance(delay, int) or delay < 0:
        raise InvalidDelayMessage(f"'delay' must be a non-negative int (ms), got {delay!r}")
    if not isinstance(content, dict):
        raise InvalidDelayMessage(f"'content' must be a dict, got {type(content).__name__}")
    try:
        layer.valid_channel_name(channel)
    except (TypeError, ValueError) as exc:
        raise InvalidDelayMessage(f"'channel' is not a valid channel name: {exc}") from None
    try:
        row = DelayedMessage(channel_name=channel, content=encode_content(content))
    except (TypeError, ValueError) as exc:
        raise InvalidDelayMessage(f"'content' cannot be stored: {exc}") from None
    row.delay = delay
    try:
        row.full_clean()
    except ValidationError as exc:
        raise InvalidDelayMessage(f"invalid: {exc.message_dict}") from None
    return row


class Worker:
    """Receives ``asgi.delay`` messages and sends stored messages once due."""

    #: Longest retry interval for a message whose channel stays full, in ms.
    max_backoff = 30_000
    #: Most rows sent per database sweep.
    batch_size = 500
    #: Most received messages waiting for the database thread.
    inbox_size = 100

    def __init__(
        self,
        channel_layer: ChannelLayer,
        signal_handlers: bool = True,
        database_sleep_duration: float = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self.channel_layer = channel_layer
        self.signal_handlers = signal_handlers
        self.database_sleep_duration = database_sleep_duration
        self.clock = clock
        self.sleep = sleep
        self.termed = False
        self.in_job = False
        self._full_attempts: dict[int, int] = {}
        self._next_sweep: float | None = None

    # -- signals ----------------------------------------------------------------------

    def install_signal_handler(self) -> None:
        signal.signal(signal.SIGTERM, self.sigterm_handler)
        signal.signal(signal.SIGINT, self.sigterm_handler)

    def sigterm_handler(self, signo: int, stack_frame: Any) -> None:
        self.termed = True
        if self.in_job:
            logger.info("Shutdown signal received while busy; stopping after this job")
        else:
            logger.info("Shutdown signal received while idle; stopping")
            sys.exit(0)

    # -- the loop ---------------------------------------------------------------------

    def run(self) -> None:
        """Loop until a signal (or ``termed``) stops it.

        A daemon thread blocks on the layer and hands messages over; this
        thread does all database work, waking for each message and when the
        next stored message is due (at least every ``database_sleep_duration``).
        """
        if self.signal_handlers:
            self.install_signal_handler()
        logger.info("Delay server listening on %s", DELAY_CHANNEL)
        inbox: queue.Queue = queue.Queue(maxsize=self.inbox_size)
        receiver = threading.Thread(
            target=self._receive_loop, args=(inbox,), name="delay-receiver", daemon=True
        )
        receiver.start()
        while not (self.termed and inbox.empty()):
            try:
                content = inbox.get(timeout=self._seconds_to_next_sweep())
            except queue.Empty:
                content = None
            self.in_job = True
            try:
                self._step(content)
            finally:
                self.in_job = False
        self._next_sweep = None
        self._step(None)  # send what became due meanwhile before stopping

    def _receive_loop(self, inbox: queue.Queue) -> None:
        while not self.termed:
            started = self.clock()
            try:
                _channel, content = self.channel_layer.receive([DELAY_CHANNEL], block=True)
            except Exception:
                logger.exception("Receiving from %s failed; retrying in 1 s", DELAY_CHANNEL)
                self.sleep(1)
                continue
            if content is not None:
                inbox.put(content)
            elif self.clock() - started < 0.01:
                self.sleep(0.1)  # the layer does not block on receive: do not spin

    def _seconds_to_next_sweep(self) -> float:
        if self._next_sweep is None:
            return 0.0
        return max(0.0, self._next_sweep - self.clock())

    def _step(self, content: Any) -> None:
        """Store ``content`` (if any) and send due rows when it is time; never raise."""
        try:
            if content is not None:
                self.store(content)
            if self._seconds_to_next_sweep() <= 0:
                self.send_due()
                self._plan_next_sweep()
        except Exception:
            # A database outage must not stop the server; try again shortly.
            logger.exception("Delay server step failed; retrying in 1 s")
            self._next_sweep = self.clock() + 1

    def _plan_next_sweep(self) -> None:
        """Wake when the next stored message is due, or after ``database_sleep_duration``."""
        wait = self.database_sleep_duration
        next_due = DelayedMessage.objects.order_by("due_date").values_list("due_date", flat=True)
        first = next_due.first()
        if first is not None:
            wait = min(wait, max(0.0, (first - timezone.now()).total_seconds()))
        self._next_sweep = self.clock() + wait

    def store(self, content: Any) -> DelayedMessage | None:
        """Save one ``asgi.delay`` message; log and skip it if invalid."""
        try:
            row = parse_delay_message(self.channel_layer, content)
        except InvalidDelayMessage as exc:
            logger.error("Skipped an invalid asgi.delay message: %s", exc)
            return None
        row.save()
        if self._next_sweep is not None:
            due_in = max(0.0, (row.due_date - timezone.now()).total_seconds())
            self._next_sweep = min(self._next_sweep, self.clock() + due_in)
        return row

    def send_due(self) -> int:
        """Send every due message (oldest first); return how many went out."""
        using = router.db_for_write(DelayedMessage)
        features = connections[using].features
        sent = 0
        with transaction.atomic(using=using):
            rows = DelayedMessage.objects.using(using).is_due().order_by("due_date", "id")
            if features.has_select_for_update_skip_locked:
                rows = rows.select_for_update(skip_locked=True)
            for row in rows[: self.batch_size]:
                sent += self._send_one(row)
        return sent

    def _send_one(self, row: DelayedMessage) -> int:
        pk = row.pk
        attempts = self._full_attempts.get(pk, 0)
        pause = backoff(1000, attempts, self.max_backoff)
        try:
            delivered = row.send(channel_layer=self.channel_layer, requeue_delay=pause)
        except Exception:
            logger.exception(
                "Dropped delayed message %s for %s: it cannot be sent", pk, row.channel_name
            )
            row.delete()
            self._full_attempts.pop(pk, None)
            return 0
        if delivered:
            self._full_attempts.pop(pk, None)
            return 1
        self._full_attempts[pk] = attempts + 1
        logger.warning(
            "Channel %s is full; delayed message %s retried in %d ms",
            row.channel_name,
            pk,
            pause,
        )
        return 0
