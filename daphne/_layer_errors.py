"""Which channel-layer failures mean "the layer is unreachable right now".

daphne never imports a layer's client library, so it recognises an outage by
shape: a builtin ``OSError`` (refused, reset, timed out), or any exception
whose class hierarchy has a ``ConnectionError`` or ``TimeoutError`` (redis-py's
errors and ``asgi_redis.RedisUnavailable`` among them). Such a failure is
temporary, so clients get 503 / close 1013 ("try again later") rather than
the 500 / 1011 reserved for bugs.
"""

from __future__ import annotations

__all__ = ["OUTAGE_NOTE", "RECOVERED", "LayerOutage", "layer_unavailable"]

#: Added to the one WARNING of an outage: the next failures are logged at DEBUG.
OUTAGE_NOTE = " (logged once per outage; the next ones at DEBUG)"
#: The INFO line that ends an outage (with the number of failures in it).
RECOVERED = "Channel layer available again (%d send(s) or receive(s) failed during the outage)"

_OUTAGE_NAMES = frozenset({"ConnectionError", "TimeoutError"})


def layer_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` says the layer's server could not be reached or answered too late."""
    if isinstance(exc, OSError):
        return True
    return any(cls.__name__ in _OUTAGE_NAMES for cls in type(exc).__mro__)


class LayerOutage:
    """Whether the layer is in an outage, so that an outage is logged once.

    Every request or frame that meets an unavailable layer is answered (503 /
    close 1013), but a busy server would write a WARNING per request for as
    long as Redis refuses writes. The first failure of an outage says so
    (:meth:`failed` is True); the next send that lands ends it
    (:meth:`recovered`). Plain attributes, read without a lock: a race costs
    at most one extra log line.
    """

    __slots__ = ("down", "refused")

    def __init__(self) -> None:
        #: True from the first failed send to the next one that lands.
        self.down = False
        #: Sends that failed during the current outage.
        self.refused = 0

    def failed(self) -> bool:
        """Note a send the unavailable layer refused; True for the first of an outage."""
        self.refused += 1
        if self.down:
            return False
        self.down = True
        return True

    def recovered(self) -> int:
        """Note a send that landed; how many sends the outage it ends refused (0: none)."""
        if not self.down:
            return 0
        refused, self.down, self.refused = self.refused, False, 0
        return refused
