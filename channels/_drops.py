"""The worker's drop log: every message it drops, on the ``channels.drops`` logger.

One call per drop, ``report_drop(reason, channel, count)``: a rate-limited
WARNING line (reason, channel and count as ``extra`` fields and in the text)
and a call to every observer added with ``add_drop_observer`` (the metrics
exporter counts there). See docs/operating.rst, "Logs of dropped and refused
messages", and ``asgi/_drop_log.py`` for the rate limit.
"""

from __future__ import annotations

import logging

from asgi._drop_log import DropLog, DropObserver

__all__ = [
    "CHANNEL_FULL",
    "CONSUMER_ERROR",
    "LAYER_DOWN",
    "MALFORMED",
    "NO_ROUTE",
    "RETRIES_EXHAUSTED",
    "add_drop_observer",
    "remove_drop_observer",
    "report_drop",
]

#: A ``ConsumeLater`` requeue found the channel full through all its attempts.
CHANNEL_FULL = "channel_full"
#: The layer failed while the worker requeued a message.
LAYER_DOWN = "layer_down"
#: The consumer raised; its message is lost (count: 1 plus its pending sends).
CONSUMER_ERROR = "consumer_error"
#: No route matched the message (or routing itself raised).
NO_ROUTE = "no_route"
#: The message could not be read as a message (not a dict of the right types).
MALFORMED = "malformed"
#: A ``ConsumeLater`` message was retried ``message_retries`` times already.
RETRIES_EXHAUSTED = "retries_exhausted"

_LOG = DropLog(logging.getLogger("channels.drops"))


def report_drop(reason: str, channel: str | None, count: int = 1, level: int | None = None) -> None:
    """Log (rate limited) and tell the observers that ``count`` messages were dropped;
    ``level`` overrides the reason's log level for this drop."""
    _LOG.report(reason, channel, count, level)


def add_drop_observer(fn: DropObserver) -> None:
    """Call ``fn(reason, channel, count)`` for every drop the worker reports from now on."""
    _LOG.add_observer(fn)


def remove_drop_observer(fn: DropObserver) -> None:
    """Stop calling ``fn`` (no error if it was not added)."""
    _LOG.remove_observer(fn)
