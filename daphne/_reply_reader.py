"""Reading a server's process-specific reply channels without polling.

Interface servers own one ``prefix!`` channel name and receive every reply
addressed to any of its ``prefix!local`` channels. :class:`ReplyReader`
runs one thread that blocks in ``layer.receive([prefix], block=True)`` and
hands each ``(channel, message)`` to the reactor thread with
``callFromThread``; the protocol code itself never touches a thread. Used
by the UDP and IRC-client servers (email has no replies); see docs/topics/daphne.rst,
"How replies reach daphne". The Slack server also passes ``channels``: normal
channels read in the same receive (its ``slack.send``), the prefix then
only carrying the stop wake-up.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from asgi.types import ChannelLayer

from . import _drops
from ._offload import send_in_background

__all__ = ["ReplyReader"]

logger = logging.getLogger(__name__)

#: Local part of the message :meth:`ReplyReader.stop` sends to wake the thread.
_WAKEUP = "reply-reader-wakeup"

Handler = Callable[[str, dict], None]


class ReplyReader:
    """A daemon thread feeding replies on ``prefix`` to ``handler`` in the reactor.

    ``prefix`` must end in ``!``. A layer error is logged and retried after
    a pause that doubles up to ``max_error_delay`` seconds; a layer that
    ignores ``block=True`` and returns at once with nothing is given a short
    pause (``idle_pause``) so the thread cannot spin. ``channels`` are
    normal channel names received along with ``prefix``.
    """

    def __init__(
        self,
        channel_layer: ChannelLayer,
        prefix: str,
        reactor: Any,
        handler: Handler,
        *,
        max_error_delay: float = 5.0,
        idle_pause: float = 0.05,
        channels: Sequence[str] = (),
    ) -> None:
        if not prefix.endswith("!"):
            raise ValueError(
                f"ReplyReader needs a process-specific prefix ending in '!', got {prefix!r}"
            )
        self.channel_layer = channel_layer
        self.prefix = prefix
        self.channels = [prefix, *channels]
        self.reactor = reactor
        self.handler = handler
        self.max_error_delay = max_error_delay
        self.idle_pause = idle_pause
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the reader thread (once)."""
        if self._thread is not None:
            raise RuntimeError(f"ReplyReader for {self.prefix!r} is already started")
        self._thread = threading.Thread(
            target=self._run, name=f"reply-reader {self.prefix}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float | None = 5.0) -> None:
        """Ask the thread to finish and wait for it.

        A wake-up message on the reader's own prefix ends the blocking
        receive at once (if the layer takes it; otherwise the receive ends at
        the layer's own blocking timeout).
        """
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self.running:
            # from a thread of its own: a layer that does not answer costs
            # the join's timeout below, not its socket timeout on top
            send_in_background(self.channel_layer, self.prefix + _WAKEUP, {"wakeup": True})
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        error_delay = 0.1
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                channel, message = self.channel_layer.receive(self.channels, block=True)
            except Exception:
                logger.exception(
                    "Receiving on %s failed; retrying in %.1f s", self.prefix, error_delay
                )
                self._stopping.wait(error_delay)
                error_delay = min(error_delay * 2, self.max_error_delay)
                continue
            error_delay = 0.1
            if channel is None:
                if time.monotonic() - started < self.idle_pause / 5:
                    self._stopping.wait(self.idle_pause)
                continue
            if self._stopping.is_set():
                if channel == self.prefix + _WAKEUP:
                    break
                logger.warning("Dropping a reply on %s that arrived during shutdown", channel)
                _drops.report_drop(_drops.SHUTDOWN, self.prefix)
                break
            self.reactor.callFromThread(self._deliver, channel, message)

    def _deliver(self, channel: str, message: dict) -> None:
        try:
            self.handler(channel, message)
        except Exception:
            logger.exception("Handling the reply on %s failed", channel)
