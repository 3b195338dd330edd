"""The reactor the ``daphne`` command runs on: Twisted's epoll reactor
without a logging context per event.

Twisted's poll reactors hand every ready descriptor to ``log.callWithLogger``,
which pushes a legacy-log context (the descriptor's log prefix, for
``twisted.python.log.msg`` lines) around each read or write. daphne logs
through the standard ``logging`` module and never reads that context, and
under load the push and pop cost 3-7 % of the reactor thread's time (py-spy
on the benchmark app). :class:`DaphneReactor` dispatches events directly;
everything else, errors included (``_doReadOrWrite`` logs an exception and
drops that one connection), is Twisted's own code.

Only ``install`` decides: where epoll or the internals it relies on are
missing, or another reactor is already installed, Twisted's default is used.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

__all__ = ["DaphneReactor", "install"]

logger = logging.getLogger(__name__)

try:
    from twisted.internet.epollreactor import EPollReactor
except ImportError:  # no epoll (not Linux): Twisted's default reactor is used
    EPollReactor = None  # type: ignore[assignment,misc]

#: What the dispatch below uses of EPollReactor's internals.
_NEEDED = ("_poller", "_selectables", "_doReadOrWrite")


if EPollReactor is not None:

    class DaphneReactor(EPollReactor):  # type: ignore[misc,valid-type]
        """``EPollReactor`` whose ``doPoll`` calls each ready descriptor's
        handler without ``log.callWithLogger`` around it."""

        def doPoll(self, timeout: float | None) -> None:
            try:
                events = self._poller.poll(
                    -1 if timeout is None else timeout, len(self._selectables)
                )
            except InterruptedError:
                return
            selectables = self._selectables
            dispatch = self._doReadOrWrite
            for fd, event in events:
                selectable = selectables.get(fd)
                if selectable is not None:  # removed by an earlier event of this poll
                    dispatch(selectable, fd, event)

        doIteration = doPoll

else:  # pragma: no cover - non-Linux
    DaphneReactor = None  # type: ignore[assignment,misc]


def install() -> Any:
    """Install a :class:`DaphneReactor` as Twisted's global reactor and
    return it; None (Twisted's default reactor will be used) when another
    reactor is installed already or this one cannot run here."""
    if "twisted.internet.reactor" in sys.modules or DaphneReactor is None:
        return None
    reactor = DaphneReactor()
    if not all(hasattr(reactor, name) for name in _NEEDED):
        logger.debug("Twisted's epoll reactor changed; using Twisted's default reactor")
        return None
    from twisted.internet.main import installReactor

    installReactor(reactor)
    logger.debug("Installed daphne's epoll reactor (no logging context per event)")
    return reactor
