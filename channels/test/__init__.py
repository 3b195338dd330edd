"""Testing helpers for consumers and whole Channels sites.

See docs/topics/testing.rst.

``ChannelTestCase`` and the clients run consumers against a fresh in-memory
layer inside the test process; ``ChannelLiveServerTestCase`` (in
``channels.test.liveserver``) runs a real daphne and real workers.
"""

from .base import (
    ChannelTestCase,
    ChannelTestCaseMixin,
    Client,
    TransactionChannelTestCase,
    apply_routes,
)
from .http import HttpClient
from .websocket import WSClient

__all__ = [
    "ChannelLiveServerTestCase",
    "ChannelTestCase",
    "ChannelTestCaseMixin",
    "Client",
    "HttpClient",
    "TransactionChannelTestCase",
    "WSClient",
    "apply_routes",
]


def __getattr__(name):
    # The live server imports daphne; load it only when asked for.
    if name == "ChannelLiveServerTestCase":
        from .liveserver import ChannelLiveServerTestCase

        return ChannelLiveServerTestCase
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
