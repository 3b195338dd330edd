"""Which channel-layer failures mean "the layer is unreachable right now".

daphne never imports a layer's client library, so it recognises an outage by
shape: a builtin ``OSError`` (refused, reset, timed out), or any exception
whose class hierarchy has a ``ConnectionError`` or ``TimeoutError`` (redis-py's
errors and ``asgi_redis.RedisUnavailable`` among them). Such a failure is
temporary, so clients get 503 / close 1013 ("try again later") rather than
the 500 / 1011 reserved for bugs.
"""

from __future__ import annotations

__all__ = ["layer_unavailable"]

_OUTAGE_NAMES = frozenset({"ConnectionError", "TimeoutError"})


def layer_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` says the layer's server could not be reached or answered too late."""
    if isinstance(exc, OSError):
        return True
    return any(cls.__name__ in _OUTAGE_NAMES for cls in type(exc).__mro__)
