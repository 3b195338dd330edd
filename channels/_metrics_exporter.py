"""``runworker --metrics-port``: the ``channels_worker_*`` collector and its HTTP server.

See docs/operating.rst, "Prometheus metrics".

Imported only when metrics are enabled (it imports ``prometheus_client``).
``start_exporter`` gives every worker thread its own ``WorkerMetrics``,
hooks the ``ChannelFull`` retries and the worker's drop log, and serves a
registry (this collector, the layer's when it has the ``inspect``
extension, and the process collector) from ``prometheus_client``'s HTTP
server in a daemon thread. One port per process: several worker processes
are several scrape targets (docs/operating.rst says why not the
multiprocess mode).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from asgi._layer_metrics import LayerCollector, has_inspect
from asgi._metrics import Histogram, histogram_family, import_prometheus

from . import _drops, _retry
from ._worker_metrics import BATCH_BUCKETS, FullRetries, WorkerMetrics

__all__ = ["Exporter", "WorkerCollector", "start_exporter"]

logger = logging.getLogger("django.channels")


class WorkerCollector:
    """Adds up the worker threads' counts into the ``channels_worker_*`` families."""

    def __init__(
        self,
        workers: list[WorkerMetrics],
        full_retries: FullRetries,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.workers = workers
        self.full_retries = full_retries
        self.clock = clock
        self.started = clock()
        #: Messages the worker dropped, by (reason, channel).
        self.drops: dict[tuple[str, str], int] = {}
        self._drops_lock = threading.Lock()

    def dropped(self, reason: str, channel: str | None, count: int = 1) -> None:
        """A ``channels._drops`` observer, called by any worker thread (drops
        are rare, so a lock is cheap here)."""
        key = (reason, channel or "")
        with self._drops_lock:
            self.drops[key] = self.drops.get(key, 0) + count

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        core = import_prometheus().core
        handled: dict[str, int] = {}
        exceptions: dict[str, int] = {}
        durations: dict[str, Histogram] = {}
        batches = Histogram(BATCH_BUCKETS)
        last: float | None = None
        for worker in self.workers:
            for channel, count in list(worker.handled.items()):
                handled[channel] = handled.get(channel, 0) + count
            for name, count in list(worker.exceptions.items()):
                exceptions[name] = exceptions.get(name, 0) + count
            for name, histogram in list(worker.durations.items()):
                durations.setdefault(name, Histogram()).merge(histogram)
            batches.merge(worker.batches)
            if worker.last_message is not None:
                last = max(last or 0.0, worker.last_message)
        counter, gauge = core.CounterMetricFamily, core.GaugeMetricFamily
        family = counter(
            "channels_worker_messages",
            "Messages handed to a consumer, by channel",
            labels=["channel"],
        )
        for channel, count in sorted(handled.items()):
            family.add_metric([channel], count)
        yield family
        yield histogram_family(
            "channels_worker_consumer_seconds",
            "Seconds a consumer ran for one message, by consumer (dotted name)",
            ["consumer"],
            sorted(((name,), h) for name, h in durations.items()),
        )
        family = counter(
            "channels_worker_consumer_exceptions",
            "Exceptions consumers raised (their messages are lost), by consumer",
            labels=["consumer"],
        )
        for name, count in sorted(exceptions.items()):
            family.add_metric([name], count)
        yield family
        yield histogram_family(
            "channels_worker_batch_size",
            "Messages taken from the layer in one receive",
            [],
            {(): batches},
        )
        yield counter(
            "channels_worker_channel_full_retries",
            "Sends refused with ChannelFull and retried (requeues, consumers' sends)",
            value=self.full_retries.count,
        )
        yield gauge(
            "channels_worker_seconds_since_last_message",
            "Seconds since the last message arrived (since the start, before the first)",
            value=max(self.clock() - (last if last is not None else self.started), 0.0),
        )
        yield gauge(
            "channels_worker_threads", "Worker threads in this process", value=len(self.workers)
        )
        family = counter(
            "channels_worker_drops",
            "Messages the worker dropped, by reason and channel",
            labels=["reason", "channel"],
        )
        with self._drops_lock:
            drops = dict(self.drops)
        for (reason, channel), count in sorted(drops.items()):
            family.add_metric([reason, channel], count)
        yield family


class Exporter:
    """A running metrics server: its address, and ``stop()``."""

    def __init__(self, server: Any, thread: Any, collector: WorkerCollector) -> None:
        self.server = server
        self.thread = thread
        self.collector = collector
        self.address: tuple[str, int] = server.server_address[:2]

    def stop(self) -> None:
        _drops.remove_drop_observer(self.collector.dropped)
        if _retry.full_observer is self.collector.full_retries:
            _retry.full_observer = None
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def start_exporter(
    workers: list[Any],
    bind: str,
    port: int,
    *,
    layer: Any = None,
    layer_channels: list[str] | None = None,
) -> Exporter:
    """Count for ``workers`` (``Worker`` objects) and serve the metrics at
    ``http://bind:port/metrics`` (port 0: a free one); with a ``layer`` that
    has the ``inspect`` extension, the ``asgi_layer_*`` metrics too."""
    prometheus = import_prometheus()
    counts = []
    for worker in workers:
        worker.metrics = WorkerMetrics()
        counts.append(worker.metrics)
    full_retries = FullRetries()
    _retry.full_observer = full_retries
    collector = WorkerCollector(counts, full_retries)
    _drops.add_drop_observer(collector.dropped)
    registry = prometheus.CollectorRegistry(auto_describe=False)
    registry.register(collector)
    prometheus.ProcessCollector(registry=registry)
    if layer is not None and has_inspect(layer):
        registry.register(LayerCollector(layer, layer_channels or []))
    server, thread = prometheus.start_http_server(port, addr=bind, registry=registry)
    exporter = Exporter(server, thread, collector)
    host, bound = exporter.address
    logger.info("Serving Prometheus metrics at http://%s:%d/metrics", host, bound)
    return exporter
