"""daphne's drop log: every message it drops or refuses, on the ``daphne.drops`` logger.

One call per drop, ``report_drop(reason, channel, count)``: a rate-limited
WARNING line (reason, channel and count as ``extra`` fields and in the text)
and a call to every observer added with ``add_drop_observer`` (the metrics
exporter counts there). See docs/operating.rst, "Logs of dropped and refused
messages", and ``asgi/_drop_log.py`` for the rate limit.

The channel is the general name the message was for (``http.request``,
``websocket.receive``, ``http.response!``), never one client's reply
channel, so that observers can use it as a label.
"""

from __future__ import annotations

import logging

from asgi._drop_log import DropLog, DropObserver

__all__ = [
    "CHANNEL_FULL",
    "CLIENT_GONE",
    "LAYER_DOWN",
    "RATE_LIMIT",
    "SHUTDOWN",
    "SLOW_READER",
    "TIMEOUT",
    "TOO_LARGE",
    "add_drop_observer",
    "remove_drop_observer",
    "report_drop",
]

#: The layer refused the send: the channel is at capacity (HTTP 503, close 1013).
CHANNEL_FULL = "channel_full"
#: The layer could not be reached (503 / 1013).
LAYER_DOWN = "layer_down"
#: A WebSocket client sent more than ``--websocket-rate-limit`` messages a second (1008).
RATE_LIMIT = "rate_limit"
#: A client read its response too slowly; the connection was dropped (or closed 1013).
SLOW_READER = "slow_reader"
#: No answer in time: ``http.request`` unanswered (503), ``websocket.connect`` unanswered.
TIMEOUT = "timeout"
#: The message was larger than the layer takes (413, or the datagram/mail dropped).
TOO_LARGE = "too_large"
#: A reply arrived for a client that had already gone (logged at DEBUG: routine).
CLIENT_GONE = "client_gone"
#: Messages not sent, or replies not delivered, because the server was stopping.
SHUTDOWN = "shutdown"

_LOG = DropLog(logging.getLogger("daphne.drops"), levels={CLIENT_GONE: logging.DEBUG})


def report_drop(reason: str, channel: str | None, count: int = 1, level: int | None = None) -> None:
    """Log (rate limited) and tell the observers that ``count`` messages were dropped;
    ``level`` overrides the reason's log level for this drop."""
    _LOG.report(reason, channel, count, level)


def add_drop_observer(fn: DropObserver) -> None:
    """Call ``fn(reason, channel, count)`` for every drop daphne reports from now on."""
    _LOG.add_observer(fn)


def remove_drop_observer(fn: DropObserver) -> None:
    """Stop calling ``fn`` (no error if it was not added)."""
    _LOG.remove_observer(fn)
