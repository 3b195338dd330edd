"""daphne's ``--metrics-port``: the ``daphne_*`` collector and its own HTTP listener.

See docs/operating.rst, "Prometheus metrics".

Imported only when metrics are enabled (it imports ``prometheus_client``).
The listener is a small twisted.web site on its own port in daphne's
reactor, so no route of the served application can shadow it. A scrape
first reads, on the reactor thread, what is cheaper to read than to count
(open connections by kind, the senders' backlog) together with a copy of
the counters; the exposition text is then written in the reactor's thread
pool, so that the layer collector's round trips to Redis
(``--metrics-layer``) never run on the reactor thread.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from twisted.internet import endpoints, threads
from twisted.web import resource, server

from asgi._layer_metrics import LayerCollector
from asgi._metrics import Histogram, histogram_family, import_prometheus

from . import _drops
from ._compat import connection_kind
from ._metrics import DaphneMetrics

__all__ = ["DaphneCollector", "MetricsService", "metrics_endpoint"]

logger = logging.getLogger("daphne.metrics")

#: The path Prometheus scrapes (every other path is 404).
METRICS_PATH = b"/metrics"


def metrics_endpoint(bind: str, port: int) -> str:
    """The Twisted endpoint string of the metrics listener."""
    return f"tcp:port={int(port)}:interface={bind.strip('[]').replace(':', chr(92) + ':')}"


class DaphneCollector:
    """Builds the ``daphne_*`` families from the snapshot ``refresh`` took."""

    def __init__(self, metrics: DaphneMetrics, factory: Any) -> None:
        self.metrics = metrics
        self.factory = factory
        self._snapshot: dict[str, Any] = {}

    def refresh(self) -> None:
        """Read the live state and copy the counters (on the reactor thread)."""
        factory, metrics = self.factory, self.metrics
        kinds = {"http": 0, "http2": 0, "websocket": len(factory.ws_factory.protocols_alive)}
        for protocol in list(factory.connections):
            kind = connection_kind(protocol)
            if kind is not None:
                kinds[kind] += 1
        self._snapshot = {
            "connections": kinds,
            "backlog": {
                "frames": factory.sender.pending(),
                "connect": factory.connect_sender.pending(),
            },
            "responses": dict(metrics.responses),
            "response_seconds": _copy(metrics.response_seconds),
            "handshake_seconds": {k: _copy(h) for k, h in metrics.handshake_seconds.items()},
            "frames": {"in": metrics.frames_in, "out": metrics.frames_out},
            "drops": metrics.drop_counts(),
        }

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        core = import_prometheus().core
        snap = self._snapshot
        if not snap:
            return
        gauge, counter = core.GaugeMetricFamily, core.CounterMetricFamily
        connections = gauge(
            "daphne_connections_open", "Open client connections by kind", labels=["kind"]
        )
        for kind, count in sorted(snap["connections"].items()):
            connections.add_metric([kind], count)
        yield connections
        responses = counter(
            "daphne_http_responses",
            "HTTP responses daphne finished, by status code",
            labels=["status"],
        )
        for status, count in sorted(snap["responses"].items()):
            responses.add_metric([str(status)], count)
        yield responses
        yield histogram_family(
            "daphne_http_response_seconds",
            "Seconds from a request's arrival to the end of its response",
            [],
            {(): snap["response_seconds"]},
        )
        yield histogram_family(
            "daphne_websocket_handshake_seconds",
            "Seconds from a WebSocket handshake's start to the application's answer",
            ["outcome"],
            {(outcome,): h for outcome, h in sorted(snap["handshake_seconds"].items())},
        )
        frames = counter(
            "daphne_websocket_frames",
            "WebSocket messages received from clients (in) and sent to them (out)",
            labels=["direction"],
        )
        for direction, count in sorted(snap["frames"].items()):
            frames.add_metric([direction], count)
        yield frames
        backlog = gauge(
            "daphne_sender_backlog",
            "Messages queued for the channel layer and not yet sent, by sender lane",
            labels=["lane"],
        )
        for lane, count in sorted(snap["backlog"].items()):
            backlog.add_metric([lane], count)
        yield backlog
        drops = counter(
            "daphne_drops",
            "Messages dropped or refused, by reason and channel",
            labels=["reason", "channel"],
        )
        for (reason, channel), count in sorted(snap["drops"].items()):
            drops.add_metric([reason, channel], count)
        yield drops


def _copy(histogram: Histogram) -> Histogram:
    copy = Histogram(histogram.bounds)
    copy.merge(histogram)
    return copy


class _MetricsPage(resource.Resource):
    isLeaf = True  # noqa: N815 - twisted.web's name

    def __init__(self, service: MetricsService) -> None:
        super().__init__()
        self.service = service

    def render_GET(self, request: Any) -> Any:  # noqa: N802 - twisted.web's name
        if request.path != METRICS_PATH:
            request.setResponseCode(404)
            return b"Not found: metrics are at /metrics\n"
        service = self.service
        service.collector.refresh()
        prometheus = import_prometheus()
        reactor = service.reactor
        rendering = threads.deferToThreadPool(
            reactor, reactor.getThreadPool(), prometheus.generate_latest, service.registry
        )
        gone: list[bool] = []
        request.notifyFinish().addErrback(lambda _: gone.append(True))

        def write(body: bytes) -> None:
            if gone:
                return
            request.setHeader(b"Content-Type", prometheus.CONTENT_TYPE_LATEST.encode())
            request.write(body)
            request.finish()

        def failed(failure: Any) -> None:
            logger.error("Rendering the metrics failed: %s", failure.getErrorMessage())
            if gone:
                return
            request.setResponseCode(500)
            request.write(b"rendering the metrics failed\n")
            request.finish()

        rendering.addCallbacks(write, failed)
        return server.NOT_DONE_YET


class MetricsService:
    """The registry (daphne's collector, the process collector and, with
    ``layer``, the layer collector) and its listener on ``bind:port``."""

    def __init__(
        self,
        factory: Any,
        reactor: Any,
        *,
        layer: Any = None,
        layer_channels: list[str] | None = None,
    ) -> None:
        prometheus = import_prometheus()
        self.reactor = reactor
        self.metrics = DaphneMetrics()
        self.collector = DaphneCollector(self.metrics, factory)
        self.registry = prometheus.CollectorRegistry(auto_describe=False)
        self.registry.register(self.collector)
        prometheus.ProcessCollector(registry=self.registry)
        self.layer_collector: LayerCollector | None = None
        if layer is not None:
            self.layer_collector = LayerCollector(layer, layer_channels or [])
            self.registry.register(self.layer_collector)
        self.listener: Any = None
        factory.metrics = self.metrics
        _drops.add_drop_observer(self.metrics.dropped)

    async def listen(self, bind: str, port: int) -> tuple[str, int]:
        """Start listening; the address actually bound (``port`` 0 picks one)."""
        site = server.Site(_MetricsPage(self))
        site.log = lambda request: None  # scrapes stay out of the access log
        endpoint = endpoints.serverFromString(self.reactor, metrics_endpoint(bind, port))
        self.listener = await endpoint.listen(site)
        host = self.listener.getHost()
        logger.info("Serving Prometheus metrics at http://%s:%d/metrics", host.host, host.port)
        return host.host, host.port

    async def stop(self) -> None:
        _drops.remove_drop_observer(self.metrics.dropped)
        if self.listener is not None:
            listener, self.listener = self.listener, None
            await listener.stopListening()
