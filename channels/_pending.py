"""Consumer atomicity: sends made inside a consumer wait for its end.

See docs/topics/concepts.rst, "Consumer atomicity".

``channels.message`` re-exports these names; they live here so that
``channels.channel`` can use the store without an import cycle. The store
keeps plain ``(sender, message)`` tuples and never imports ``Channel``: a
sender whose ``batchable`` attribute is true is a channel whose sends may
ride in one ``send_batch`` round trip.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from . import _drops
from ._retry import retry_while_full
from .signals import consumer_finished, consumer_started

__all__ = ["PendingMessageStore", "pending_message_store"]

logger = logging.getLogger("channels.message")


class PendingMessageStore:
    """Per-thread buffer of ``(sender, message)`` pairs sent inside a consumer.

    ``prepare`` (on ``consumer_started``) opens the buffer; at
    ``consumer_finished`` everything is sent in order. While no consumer
    runs, ``active`` is False and sends go straight to the layer.

    A worker handling a batch of messages (taken off the layer in one round
    trip) calls ``hold``: the sends of each consumer that finishes join the
    held ones, and ``release`` sends them all in one round trip when the
    batch ends. Any operation that must come after them (a send with
    ``immediately=True``, a group add or discard, ``send_and_flush``) sends
    what is held first, so the layer sees the operations in the order the
    consumers made them.
    """

    #: How long a flush keeps retrying a full channel, and how often.
    retry_time = 2.0
    retry_interval = 0.2

    def __init__(self) -> None:
        self.threadlocal = threading.local()

    @property
    def active(self) -> bool:
        return getattr(self.threadlocal, "messages", None) is not None

    @property
    def messages(self) -> list | None:
        return getattr(self.threadlocal, "messages", None)

    def prepare(self, **kwargs: Any) -> None:
        """Start buffering for the consumer about to run in this thread."""
        self.threadlocal.messages = []

    def track_sends(self) -> None:
        """Start recording which channels this thread sends to (the worker
        calls it before each consumer; ``prepare`` may run again mid-consumer)."""
        self.threadlocal.sent_to = set()

    def note_sent(self, channel_name: str) -> None:
        """Record a send to ``channel_name`` by the running consumer (buffered or not)."""
        sent_to = getattr(self.threadlocal, "sent_to", None)
        if sent_to is not None:
            sent_to.add(channel_name)

    def sent_to(self) -> set[str]:
        """Names of the channels sent to since ``track_sends()``."""
        return getattr(self.threadlocal, "sent_to", None) or set()

    def append(self, sender: Any, message: dict) -> None:
        """Buffer one send; ``sender`` is a ``Channel`` or ``Group``."""
        messages = self.messages
        if messages is None:
            raise RuntimeError("append() called outside a consumer; send immediately instead")
        messages.append((sender, message))

    def discard(self) -> int:
        """Drop the buffered sends (the consumer failed); return how many."""
        messages = self.messages or []
        self.threadlocal.messages = None
        return len(messages)

    def hold(self) -> None:
        """Keep the sends of the consumers that finish in this thread from now
        on until :meth:`release`: one round trip for them all instead of one
        per consumer, in the same order."""
        self.threadlocal.held = []

    @property
    def held(self) -> list | None:
        """This thread's held sends, or None while it does not hold."""
        return getattr(self.threadlocal, "held", None)

    @property
    def holding(self) -> bool:
        """Whether this thread holds sends for a batch (see :meth:`hold`)."""
        return self.held is not None

    def send_held(self, sender: Any, message: dict) -> None:
        """Send ``message`` as a send with ``immediately=True`` would, but
        while this thread holds, with the held sends: it counts as made now
        (a consumer that raises later does not take it back) and the layer
        gets it in its place among them. Outside a hold it is sent now."""
        held = self.held
        if held is None:
            sender.send(message, immediately=True)
            return
        # Ahead of the running consumer's own held-back sends, which join
        # the held ones when it finishes: the order an immediate send keeps.
        held.append((sender, message))
        self.note_sent(sender.name)

    def release(self) -> None:
        """Stop holding and send what was held (raises as :meth:`send_and_flush`)."""
        held = self.held
        self.threadlocal.held = None
        if held:
            self._deliver(held)

    def flush_held(self) -> None:
        """Send what is held now, and go on holding (a no-op when nothing is).

        The held messages are earlier consumers' sends: one that cannot be
        delivered is logged here, not raised into the consumer running now.
        """
        held = self.held
        if held:
            messages = held[:]
            held.clear()
            try:
                self._deliver(messages)
            except RuntimeError as exc:
                logger.error("%s", exc)

    def consumer_finished(self, **kwargs: Any) -> None:
        """The ``consumer_finished`` receiver: send the consumer's messages, or
        keep them with the held ones while a worker holds."""
        held = self.held
        if held is None:
            self.send_and_flush()
            return
        messages = self.messages
        self.threadlocal.messages = None
        if messages:
            held.extend(messages)

    def send_and_flush(self, **kwargs: Any) -> None:
        """Send every buffered message (after any held ones), retrying full
        channels for ``retry_time``.

        Stops buffering first, so a send that fails cannot leave the thread
        in buffering mode. Raises ``RuntimeError`` naming the channels whose
        message could not be delivered.
        """
        messages = self.messages
        self.threadlocal.messages = None
        self.flush_held()
        if messages:
            self._deliver(messages)

    def _deliver(self, messages: list[tuple[Any, dict]]) -> None:
        """Send ``messages`` in order, retrying full channels for ``retry_time``."""
        undelivered = []
        for (sender, message), error in zip(messages, self._send_all(messages)):
            if error is None:
                continue
            if not isinstance(error, sender.channel_layer.ChannelFull):
                # A lost layer server (one Redis shard down) fails only the
                # sends that go to it; the consumer's other sends still go out.
                logger.warning("Could not send a message to %s: %s", sender, error)
                _drops.report_drop(_drops.LAYER_DOWN, _target(sender))
                continue
            try:
                delivered = self._send_with_retry(sender, message)
            except Exception as exc:  # noqa: BLE001 - same as above, on a retry
                logger.warning("Could not send a message to %s: %s", sender, exc)
                _drops.report_drop(_drops.LAYER_DOWN, _target(sender))
                continue
            if not delivered:
                _drops.report_drop(_drops.CHANNEL_FULL, _target(sender))
                undelivered.append(str(sender))
        if undelivered:
            raise RuntimeError(
                f"Could not send {len(undelivered)} message(s) after retrying for "
                f"{self.retry_time}s because the channel stayed full: {undelivered}. "
                "Add workers or interface servers, or raise the layer's capacity."
            )

    @staticmethod
    def _send_all(messages: list[tuple[Any, dict]]) -> list[BaseException | None]:
        """Try every buffered send once, in order; each one's error or None.

        Consecutive sends of batchable senders (a ``Channel``: it sends
        ``(name, message)`` with ``layer.send``) on a layer with
        ``send_batch`` go together (one round trip); that layer refuses every later message to a channel
        once one is refused, so retrying the refused ones in order keeps each
        channel's order.
        """
        errors: list[BaseException | None] = []
        run: list[tuple[str, dict]] = []
        run_layer: Any = None

        def end_run() -> None:
            if len(run) == 1:
                errors.append(_try(run_layer.send, *run[0]))
            elif run:
                errors.extend(run_layer.send_batch(run))
            run.clear()

        for sender, message in messages:
            layer = sender.channel_layer
            if not getattr(sender, "batchable", False) or not hasattr(layer, "send_batch"):
                end_run()
                errors.append(_try(sender.send, message, immediately=True))
                continue
            if layer is not run_layer:
                end_run()
                run_layer = layer
            run.append((sender.name, message))
        end_run()
        return errors

    def _send_with_retry(self, sender: Any, message: dict) -> bool:
        return retry_while_full(
            lambda: sender.send(message, immediately=True),
            sender.channel_layer.ChannelFull,
            timeout=self.retry_time,
            interval=self.retry_interval,
        )


def _target(sender: Any) -> str:
    """The channel (or group) name a ``Channel`` or ``Group`` sends to."""
    return str(getattr(sender, "name", sender))


def _try(function: Any, *args: Any, **kwargs: Any) -> BaseException | None:
    try:
        function(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - reported per message
        return exc
    return None


#: The process-wide store the signals below feed.
pending_message_store = PendingMessageStore()

consumer_started.connect(pending_message_store.prepare, dispatch_uid="channels.pending.prepare")
consumer_finished.connect(
    pending_message_store.consumer_finished, dispatch_uid="channels.pending.flush"
)
