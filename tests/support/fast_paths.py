"""Forcing the stock path of a fast path that leans on a dependency's internals.

``daphne._compat`` and ``asgi_redis._compat`` check once whether what each
fast path relies on is there; :func:`force_stock` makes that check report
it missing, as after an upgrade that moved it, for one test.
"""

from __future__ import annotations

from typing import Any

import pytest


def force_stock(monkeypatch: pytest.MonkeyPatch, *paths: Any) -> None:
    """Turn each of ``paths`` (``FastPath`` objects) off until the test ends.

    The remembered answer is cleared first, so the next ``available()``
    runs the forced check (and logs its INFO line); monkeypatch restores
    both the check and the real answer afterwards.
    """
    for path in paths:
        monkeypatch.setattr(path, "_available", None)
        monkeypatch.setattr(path, "check", lambda: ["forced off by the test"])
