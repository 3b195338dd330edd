"""daphne's counts for its ``daphne_*`` Prometheus metrics (sans-IO, no ``prometheus_client``).

See docs/operating.rst, "Prometheus metrics".

``HTTPFactory.metrics`` is ``None`` unless ``--metrics-port`` is given; the
protocols then call :class:`DaphneMetrics` on the reactor thread, each call
an int increment or a histogram ``bisect`` (no lock, nothing allocated per
frame). What is cheaper to read than to count (open connections, the
sender's backlog) is read at scrape time by ``daphne._metrics_server``.
Drops are reported by ``daphne._drops`` from whichever thread found them,
so only they take a lock (they are rare by nature).
"""

from __future__ import annotations

import threading

from asgi._metrics import Histogram

__all__ = ["DaphneMetrics", "channel_label"]


def channel_label(channel: str | None) -> str:
    """A channel name fit for a label: the part up to ``!`` or ``?`` of a
    process-specific or single-reader name (one series per kind, not one
    per connection), ``""`` for none."""
    if not channel:
        return ""
    for mark in "!?":
        index = channel.find(mark)
        if index >= 0:
            return channel[: index + 1]
    return channel


class DaphneMetrics:
    """The counters and histograms of one daphne process."""

    def __init__(self) -> None:
        #: HTTP responses daphne finished, by status code.
        self.responses: dict[int, int] = {}
        #: Seconds from a request's arrival to the end of its response.
        self.response_seconds = Histogram()
        #: Seconds from a WebSocket handshake's start to the application's
        #: answer, by outcome (``accepted``, ``rejected``).
        self.handshake_seconds = {"accepted": Histogram(), "rejected": Histogram()}
        self.frames_in = 0
        self.frames_out = 0
        #: Dropped or refused messages by (reason, channel label).
        self.drops: dict[tuple[str, str], int] = {}
        self._drops_lock = threading.Lock()

    def response(self, status: int, seconds: float) -> None:
        self.responses[status] = self.responses.get(status, 0) + 1
        self.response_seconds.observe(seconds)

    def handshake(self, accepted: bool, seconds: float) -> None:
        self.handshake_seconds["accepted" if accepted else "rejected"].observe(seconds)

    def frame_in(self) -> None:
        self.frames_in += 1

    def frame_out(self) -> None:
        self.frames_out += 1

    def dropped(self, reason: str, channel: str | None, count: int = 1) -> None:
        """A ``daphne._drops`` observer: ``count`` messages dropped for ``reason``."""
        key = (reason, channel_label(channel))
        with self._drops_lock:
            self.drops[key] = self.drops.get(key, 0) + count

    def drop_counts(self) -> dict[tuple[str, str], int]:
        with self._drops_lock:
            return dict(self.drops)
