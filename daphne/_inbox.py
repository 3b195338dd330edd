"""The reader of the process inbox ``daphne.response.<random>!``.

See docs/topics/daphne.rst, "How replies reach daphne".

One receive channel per process, read with a blocking call, never a sleep
loop: with a layer offering the ``twisted`` extension a chain of
``receive_twisted`` Deferreds; otherwise (or with ``force_sync``) one
thread blocking in ``layer.receive([inbox], block=True)`` that hands each
message to the reactor with ``callFromThread``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from twisted.internet import defer
from twisted.python.failure import Failure

from asgi.types import ChannelLayer

from ._layer_errors import OUTAGE_NOTE, RECOVERED, LayerOutage, layer_unavailable
from ._offload import send_in_background
from .exceptions import InvalidReply

__all__ = ["InboxReader"]

logger = logging.getLogger(__name__)

#: Seconds to wait after a failed receive (the layer is down) before retrying.
ERROR_BACKOFF = 1.0

#: Messages a layer hands over at once that are handled before the reactor
#: gets a turn.
SYNC_BURST = 64


class InboxReader:
    """Delivers every message on ``inbox`` to ``dispatch(channel, message)``
    in the reactor thread, until ``stop()``."""

    def __init__(
        self,
        layer: ChannelLayer,
        inbox: str,
        dispatch: Callable[[str, Any], None],
        reactor: Any,
        force_sync: bool = False,
        outage: LayerOutage | None = None,
    ) -> None:
        self.layer = layer
        #: Shared with the sender: an outage is logged once, whichever side meets it.
        self.outage = outage or LayerOutage()
        #: True from a receive that met an outage to the next one that works.
        self._receive_failing = False
        self.inbox = inbox
        self.dispatch = dispatch
        self.reactor = reactor
        self.mode = (
            "twisted"
            if "twisted" in getattr(layer, "extensions", []) and not force_sync
            else "thread"
        )
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._pending: defer.Deferred | None = None

    def start(self) -> None:
        if self.mode == "twisted":
            self._receive_twisted()
        else:
            self._thread = threading.Thread(
                target=self._thread_loop, name=f"daphne inbox {self.inbox}", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop reading; waits up to ``timeout`` for the thread's last receive."""
        self._stopping.set()
        # wake the blocking receive now rather than at its internal timeout;
        # from a thread of its own, so a layer that does not answer cannot
        # hold up the reactor
        send_in_background(self.layer, self.inbox + "stop", {"stop": True})
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.addErrback(lambda failure: None)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    # -- thread mode ---------------------------------------------------------------

    def _thread_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                channel, message = self.layer.receive([self.inbox], block=True)
            except Exception as exc:  # noqa: BLE001 - any layer's errors
                self._receive_failed(exc)
                self._stopping.wait(ERROR_BACKOFF)
                continue
            if self._receive_failing:
                self._receive_worked()
            if channel is not None and not self._stopping.is_set():
                try:
                    self.reactor.callFromThread(self._deliver, channel, message)
                except Exception:  # noqa: BLE001 - the reactor is gone
                    # the reactor is gone (process shutting down)
                    return

    # -- twisted mode --------------------------------------------------------------

    def _receive_twisted(self) -> None:
        # A layer may answer at once (a message it already holds, e.g. the
        # rest of a batch it popped): those are handled here in a loop, a
        # bounded burst at a time, instead of one reactor turn each.
        for _ in range(SYNC_BURST):
            if self._stopping.is_set():
                return
            pending = defer.maybeDeferred(self.layer.receive_twisted, [self.inbox])
            if not pending.called:
                self._pending = pending
                pending.addCallbacks(self._got, self._failed)
                return
            outcome: list = []
            pending.addCallbacks(outcome.append, outcome.append)
            if isinstance(outcome[0], Failure):
                self._failed(outcome[0])
                return
            if self._receive_failing:
                self._receive_worked()
            channel, message = outcome[0]
            if channel is None:
                break  # an immediate "nothing": wait a reactor turn, never spin
            self._deliver(channel, message)
        self.reactor.callLater(0, self._receive_twisted)

    def _got(self, result: Any) -> None:
        self._pending = None
        if self._receive_failing:
            self._receive_worked()
        channel, message = result
        if channel is not None:
            self._deliver(channel, message)
        # called from the Deferred's callback, not from _receive_twisted: no recursion
        self._receive_twisted()

    def _failed(self, failure: Any) -> None:
        self._pending = None
        if self._stopping.is_set():
            return
        self._receive_failed(failure.value)
        self.reactor.callLater(ERROR_BACKOFF, self._receive_twisted)

    def _receive_failed(self, exc: BaseException) -> None:
        """Log a failed receive: an unavailable layer once per outage (a
        WARNING, then DEBUG while it lasts: the retry comes every
        ``ERROR_BACKOFF`` seconds), anything else (a bug) every time."""
        if not layer_unavailable(exc):
            logger.error(
                "Receiving from the inbox %s failed; retrying",
                self.inbox,
                exc_info=(type(exc), exc, exc.__traceback__),
            )
            return
        self._receive_failing = True
        first = self.outage.failed()
        logger.log(
            logging.WARNING if first else logging.DEBUG,
            "Channel layer unavailable; receiving from the inbox %s failed, retrying every %gs%s: %s",
            self.inbox,
            ERROR_BACKOFF,
            OUTAGE_NOTE if first else "",
            exc,
        )

    def _receive_worked(self) -> None:
        """A receive worked after some met an outage: the layer is back
        (its reads, and for READONLY / MISCONF / LOADING its writes too)."""
        self._receive_failing = False
        refused = self.outage.recovered()
        if refused:
            logger.info(RECOVERED, refused)

    # -- both ------------------------------------------------------------------------

    def _deliver(self, channel: str, message: Any) -> None:
        if self._stopping.is_set():
            return
        try:
            self.dispatch(channel, message)
        except InvalidReply as exc:
            # the application's mistake, already answered (500 / close 1011)
            logger.error("Invalid reply on %s: %s", channel, exc)
        except Exception:
            logger.exception("Error dispatching a reply on %s", channel)
