"""Deprecated: ``HttpClient`` is the 1.0 name of :class:`~channels.test.WSClient`."""

import warnings

from .websocket import WSClient

__all__ = ["HttpClient"]


class HttpClient(WSClient):
    """Deprecated alias of ``WSClient``; warns when instantiated."""

    def __init__(self, *args, **kwargs):
        warnings.warn(
            "channels.test.HttpClient is deprecated; use channels.test.WSClient",
            DeprecationWarning,
            stacklevel=2,
        )
        super().__init__(*args, **kwargs)
