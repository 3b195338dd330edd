"""Scraping a Prometheus endpoint in tests: the samples of its exposition text.

``scrape(url)`` fetches ``url`` and parses the text with
``prometheus_client.parser`` (the same parser a Prometheus-compatible
scraper would use), so a test asserts what the endpoint really serves.
"""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Samples", "scrape"]


class Samples:
    """The samples of one scrape, looked up by name and labels."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.types: dict[str, str] = {}
        self.values: dict[tuple[str, frozenset], float] = {}
        for family in text_string_to_metric_families(text):
            self.types[family.name] = family.type
            for sample in family.samples:
                self.values[(sample.name, frozenset(sample.labels.items()))] = sample.value

    def get(self, name: str, default: float | None = 0.0, **labels: str) -> float | None:
        """The value of ``name`` with exactly ``labels`` (``default`` if absent)."""
        return self.values.get((name, frozenset(labels.items())), default)

    def __getitem__(self, name: str) -> float:
        value = self.get(name, None)
        if value is None:
            raise KeyError(f"{name} not in the scrape:\n{self.text}")
        return value

    def series(self, name: str) -> dict[frozenset, float]:
        """Every sample named ``name``, by its labels."""
        return {labels: v for (n, labels), v in self.values.items() if n == name}


def scrape(url: str) -> Samples:
    response = httpx.get(url, timeout=10)
    response.raise_for_status()
    assert response.headers["content-type"].startswith("text/plain"), response.headers
    return Samples(response.text)
