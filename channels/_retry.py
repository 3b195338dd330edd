"""Retrying a send into a full channel, and exponential pauses.

See docs/topics/concepts.rst, "Delivery and ordering".

A channel at capacity refuses a send with the layer's ``ChannelFull``
(``asgi`` spec, "Capacity"). Several places in ``channels`` then try again
for a while before they give up: the flush of a consumer's buffered sends,
the HTTP reply of ``ViewConsumer``, the ordering code sending a parked
message back, and the worker requeueing a ``ConsumeLater`` message. They
differ only in how long they insist (a deadline, or a number of attempts)
and in what they say when they give up, so the loop lives here once and the
caller keeps its own message. The clock and the pause are passed in, so a
test drives the loop without waiting.

``backoff`` is the doubling pause shared by the worker after a failed
receive and the delay server after a full channel.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["backoff", "retry_while_full"]

#: Called once for every ``ChannelFull`` the loop meets (set by the worker's
#: metrics exporter; None, and nothing counted, otherwise).
full_observer: Callable[[], object] | None = None

#: More doublings than any pause needs to reach its cap (2**64 times the first).
_MAX_DOUBLINGS = 64


def retry_while_full(
    send: Callable[[], object],
    full: type[BaseException] | tuple[type[BaseException], ...],
    *,
    interval: float,
    timeout: float | None = None,
    attempts: int | None = None,
    sleep: Callable[[float], object] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> bool:
    """Call ``send`` until it stops raising ``full``; True once it went through.

    Give exactly one bound: ``timeout`` seconds (measured on ``clock`` from
    the call; the attempt that finds the clock past the deadline is the
    last) or ``attempts`` calls in all. Between two attempts it pauses
    ``interval`` seconds with ``sleep``; it never pauses after the last one.
    Returns False when the bound is reached with the channel still full, so
    that the caller logs or raises in its own words. Any other exception
    from ``send`` propagates at once: only a full channel is worth waiting for.
    """
    if (timeout is None) == (attempts is None):
        raise TypeError("retry_while_full() takes exactly one of timeout= and attempts=")
    if attempts is not None:
        for attempt in range(attempts):
            try:
                send()
                return True
            except full:
                _note_full()
                if attempt + 1 >= attempts:
                    return False
            sleep(interval)
        return False
    deadline = clock() + timeout
    while True:
        try:
            send()
            return True
        except full:
            _note_full()
            if clock() > deadline:
                return False
        sleep(interval)


def _note_full() -> None:
    observer = full_observer
    if observer is not None:
        observer()


def backoff(first: float, failures: int, cap: float) -> float:
    """The pause after ``failures`` earlier failures: ``first`` doubled each time, at most ``cap``.

    ``failures`` counts from 0 (the first pause is ``first``). Integer
    arguments give an integer, so a pause counted in milliseconds stays one.
    The exponent stops growing once the cap is surely reached: a float
    doubled past 2**1023 overflows, which a long outage would otherwise hit.
    """
    return min(cap, first * 2 ** min(failures, _MAX_DOUBLINGS))
