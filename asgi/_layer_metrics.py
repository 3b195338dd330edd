"""The ``asgi_layer_*`` metrics: what waits in the channel layer, read at scrape time.

See docs/operating.rst, "Prometheus metrics".

:class:`LayerCollector` is a ``prometheus_client`` collector usable from
daphne (``--metrics-layer``) and from ``runworker`` (on with
``--metrics-port``). At scrape time it asks a layer with the ``inspect``
extension (docs/asgi/layers.rst) for the depth and oldest message age of
the named channels, the groups and the shards. The answers are kept for
``cache_seconds``, and one scrape at a time asks, so that however often
Prometheus (or several of them) scrape, the layer answers at most one
inspection per period. A layer that cannot be reached gives
``asgi_layer_up 0`` and the shards' reachability, not a failed scrape.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ._metrics import import_prometheus

__all__ = ["DEFAULT_CACHE_SECONDS", "STANDARD_CHANNELS", "LayerCollector", "has_inspect"]

logger = logging.getLogger(__name__)

#: The channels always reported, besides those an operator names.
STANDARD_CHANNELS = (
    "http.request",
    "websocket.connect",
    "websocket.receive",
    "websocket.disconnect",
)
#: Seconds one inspection of the layer serves scrapes for.
DEFAULT_CACHE_SECONDS = 5.0


def has_inspect(layer: Any) -> bool:
    """Whether ``layer`` lists the ``inspect`` extension."""
    return "inspect" in (getattr(layer, "extensions", None) or ())


class LayerCollector:
    """Collects ``asgi_layer_*`` from a layer's ``inspect`` extension.

    ``channels`` are reported besides :data:`STANDARD_CHANNELS`; ``clock``
    (monotonic seconds) is injectable for the cache's tests.
    """

    def __init__(
        self,
        layer: Any,
        channels: Iterable[str] = (),
        *,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not has_inspect(layer):
            raise ValueError(
                f"layer metrics need a layer with the 'inspect' extension; {layer!r} lists "
                f"{list(getattr(layer, 'extensions', []) or [])}"
            )
        self.layer = layer
        self.channels = list(dict.fromkeys([*STANDARD_CHANNELS, *channels]))
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._families: list[Any] = []
        self._taken_at: float | None = None
        #: How many times the layer was inspected (the cache's tests read it).
        self.inspections = 0

    def describe(self) -> list[Any]:
        # Registration must not inspect the layer (prometheus_client calls
        # collect() to learn the names of a collector without describe()).
        return []

    def collect(self) -> Iterator[Any]:
        with self._lock:
            now = self.clock()
            if self._taken_at is None or now - self._taken_at >= self.cache_seconds:
                self._families = self._inspect()
                self._taken_at = self.clock()
            families = list(self._families)
        yield from families

    # -- one inspection ------------------------------------------------------------

    def _inspect(self) -> list[Any]:
        core = import_prometheus().core
        self.inspections += 1
        started = self.clock()
        families: list[Any] = []
        up = 1
        try:
            families += self._channel_families(core, self.layer.inspect_channels(self.channels))
            families += self._group_families(core, self.layer.inspect_groups())
        except Exception as exc:  # noqa: BLE001 - any layer's connection errors
            logger.warning("Inspecting the channel layer for metrics failed: %s", exc)
            up = 0
        try:
            families += self._shard_families(core, self.layer.inspect_shards())
        except Exception as exc:  # noqa: BLE001 - inspect_shards should not raise; a bug must not fail the scrape
            logger.warning("Inspecting the channel layer's shards failed: %s", exc)
            up = 0
        families.append(
            core.GaugeMetricFamily(
                "asgi_layer_up",
                "1 when the last inspection of the channel layer succeeded, else 0",
                value=up,
            )
        )
        families.append(
            core.GaugeMetricFamily(
                "asgi_layer_inspect_seconds",
                "Seconds the last inspection of the channel layer took",
                value=max(self.clock() - started, 0.0),
            )
        )
        return families

    @staticmethod
    def _channel_families(core: Any, rows: list[dict[str, Any]]) -> list[Any]:
        depth = core.GaugeMetricFamily(
            "asgi_layer_channel_depth", "Messages waiting in the channel", labels=["channel"]
        )
        capacity = core.GaugeMetricFamily(
            "asgi_layer_channel_capacity",
            "Messages the channel holds before sends are refused (ChannelFull)",
            labels=["channel"],
        )
        age = core.GaugeMetricFamily(
            "asgi_layer_channel_oldest_message_age_seconds",
            "Seconds since the oldest waiting message was sent (0 when empty)",
            labels=["channel"],
        )
        for row in rows:
            labels = [row["channel"]]
            depth.add_metric(labels, row["depth"])
            capacity.add_metric(labels, row["capacity"])
            age.add_metric(labels, row["oldest_age"] or 0.0)
        return [depth, capacity, age]

    @staticmethod
    def _group_families(core: Any, rows: list[dict[str, Any]]) -> list[Any]:
        return [
            core.GaugeMetricFamily(
                "asgi_layer_groups", "Groups with at least one member", value=len(rows)
            ),
            core.GaugeMetricFamily(
                "asgi_layer_group_members",
                "Members of all groups together (a channel in two groups counts twice)",
                value=sum(row["size"] for row in rows),
            ),
            core.GaugeMetricFamily(
                "asgi_layer_group_largest_size",
                "Members of the largest group",
                value=max((row["size"] for row in rows), default=0),
            ),
        ]

    @staticmethod
    def _shard_families(core: Any, rows: list[dict[str, Any]]) -> list[Any]:
        reachable = core.GaugeMetricFamily(
            "asgi_layer_shard_up", "1 when the shard answered a PING, else 0", labels=["shard"]
        )
        latency = core.GaugeMetricFamily(
            "asgi_layer_shard_latency_seconds",
            "Seconds of one PING round trip to the shard (absent when unreachable)",
            labels=["shard"],
        )
        for row in rows:
            reachable.add_metric([row["shard"]], 1 if row["reachable"] else 0)
            if row["latency"] is not None:
                latency.add_metric([row["shard"]], row["latency"])
        return [reachable, latency]
