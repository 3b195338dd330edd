"""A worker's counts for its ``channels_worker_*`` Prometheus metrics (no ``prometheus_client``).

See docs/operating.rst, "Prometheus metrics".

``Worker.metrics`` is ``None`` unless ``runworker --metrics-port`` is given.
Each worker thread then owns one :class:`WorkerMetrics` and is its only
writer, so counting takes no lock; the exporter adds the threads' counts up
at scrape time. ``ChannelFull`` retries happen in code that knows no worker
(``channels._retry``, called by consumers' sends too), so they are counted
once per process by :class:`FullRetries`, the one counter with a lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from asgi._metrics import Histogram

from .utils import name_that_thing

__all__ = ["BATCH_BUCKETS", "FullRetries", "WorkerMetrics"]

#: Upper bounds of the batch-size histogram (messages per receive).
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)


class WorkerMetrics:
    """The counts of one worker thread."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        #: Messages handled, by channel.
        self.handled: dict[str, int] = {}
        #: Seconds each consumer ran, by its dotted name.
        self.durations: dict[str, Histogram] = {}
        #: Exceptions consumers raised (other than 1.x's control exceptions), by dotted name.
        self.exceptions: dict[str, int] = {}
        #: Messages per receive.
        self.batches = Histogram(BATCH_BUCKETS)
        #: ``clock()`` when the last batch arrived (None: none yet).
        self.last_message: float | None = None
        self._names: dict[Any, str] = {}

    def batch(self, size: int) -> None:
        self.batches.observe(size)
        self.last_message = self.clock()

    def consumed(self, channel: str, consumer: Any, seconds: float, failed: bool) -> None:
        self.handled[channel] = self.handled.get(channel, 0) + 1
        name = self.name(consumer)
        histogram = self.durations.get(name)
        if histogram is None:
            histogram = self.durations[name] = Histogram()
        histogram.observe(seconds)
        if failed:
            self.exceptions[name] = self.exceptions.get(name, 0) + 1

    def name(self, consumer: Any) -> str:
        """The consumer's dotted name, worked out once per consumer."""
        try:
            return self._names[consumer]
        except KeyError:
            name = self._names[consumer] = name_that_thing(consumer)
            return name
        except TypeError:  # an unhashable consumer object
            return name_that_thing(consumer)


class FullRetries:
    """Sends the process retried because their channel was full (``ChannelFull``)."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            self.count += 1
