"""Fixtures of daphne's tests."""

from __future__ import annotations

import pytest

from daphne._compat import FAST_PATHS
from tests.support.fast_paths import force_stock


@pytest.fixture(params=["fast", "stock"])
def daphne_paths(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test twice: with daphne's fast paths, and with every one of
    them off (the stock paths daphne takes when a Twisted or Autobahn
    release moved the internals they rely on). Used by the protocol tests
    with ``pytest.mark.usefixtures``."""
    if request.param == "stock":
        force_stock(monkeypatch, *FAST_PATHS)
    return request.param
