"""The plain counting under the Prometheus metrics, and the door to ``prometheus_client``.

See docs/operating.rst, "Prometheus metrics".

daphne and the worker count with plain ints and :class:`Histogram` (a list
of bucket counts), on their own threads, without locks and without
``prometheus_client``: that package is imported only when metrics are
enabled (:func:`import_prometheus`), and its families are built from these
plain values at scrape time (:func:`histogram_family`). So the hot path of a
process without ``--metrics-port`` holds a ``None`` and nothing else, and
one with it adds an int increment or a ``bisect`` per event.
"""

from __future__ import annotations

import importlib
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from types import ModuleType
from typing import Any

__all__ = [
    "INSTALL_HINT",
    "LATENCY_BUCKETS",
    "Histogram",
    "MetricsUnavailable",
    "histogram_family",
    "import_prometheus",
]

#: What to install for metrics (named in every error about it).
INSTALL_HINT = "pip install channels-classic[metrics]"

#: Upper bounds (seconds) of the latency histograms: 0.5 ms to 30 s.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)


class MetricsUnavailable(ImportError):
    """Raised when metrics are asked for but ``prometheus_client`` is not installed."""


def import_prometheus() -> ModuleType:
    """``prometheus_client`` (with its ``core`` submodule loaded), or
    ``MetricsUnavailable`` naming the extra to install."""
    try:
        importlib.import_module("prometheus_client.core")
        return importlib.import_module("prometheus_client")
    except ImportError as exc:
        raise MetricsUnavailable(
            f"Prometheus metrics need the prometheus_client package, which is not "
            f"installed ({exc}); install the extra: {INSTALL_HINT}"
        ) from exc


class Histogram:
    """Counts of observations per bucket, plus their sum: ``observe`` is one
    ``bisect`` and two additions. Not locked: each instance is written by
    one thread (read at scrape time, where a count one event behind is fine)."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: Sequence[float] = LATENCY_BUCKETS) -> None:
        self.bounds = tuple(bounds)
        #: ``counts[i]``: observations in bucket i (not cumulative); the last is +Inf.
        self.counts = [0] * (len(self.bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        # bisect_left: a value equal to a bound belongs to that bound's bucket (le)
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[str, int]]:
        """``(le, count)`` pairs as Prometheus wants them, ``+Inf`` last."""
        pairs, running = [], 0
        for bound, count in zip((*map(_le, self.bounds), "+Inf"), self.counts):
            running += count
            pairs.append((bound, running))
        return pairs

    def merge(self, other: Histogram) -> None:
        """Add ``other``'s counts (same bounds) into this one."""
        if other.bounds != self.bounds:
            raise ValueError(
                f"cannot merge histograms with bounds {other.bounds} into {self.bounds}"
            )
        for index, count in enumerate(other.counts):
            self.counts[index] += count
        self.total += other.total


def _le(bound: float) -> str:
    return repr(float(bound))


def histogram_family(
    name: str,
    documentation: str,
    labels: Sequence[str],
    histograms: Mapping[tuple[str, ...], Histogram] | Iterable[tuple[tuple[str, ...], Histogram]],
) -> Any:
    """A ``prometheus_client`` ``HistogramMetricFamily`` with one series per
    label values in ``histograms``."""
    core = importlib.import_module("prometheus_client.core")
    family = core.HistogramMetricFamily(name, documentation, labels=list(labels))
    items = histograms.items() if isinstance(histograms, Mapping) else histograms
    for values, histogram in items:
        family.add_metric(list(values), histogram.cumulative(), histogram.total)
    return family
