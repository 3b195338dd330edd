"""A fast path that leans on a dependency's internals, with its stock fallback.

Shared by ``daphne._compat`` and ``asgi_redis._compat`` (``asgi`` is the one
package both may import); each passes its own logger, so the INFO line is
logged under ``daphne.compat`` or ``asgi_redis.compat``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

__all__ = ["FastPath"]


class FastPath:
    """One fast path: what it relies on, the check that it is there, and
    whether it is on in this process.

    ``check`` returns what is missing (empty: all there). It runs once, on
    the first :meth:`available` (at start-up); when something is missing,
    one INFO line on ``logger`` says what and which stock path is used
    instead. Tests force the stock path by replacing ``check`` and clearing
    the remembered answer (``tests/support/fast_paths.py``).
    """

    def __init__(
        self,
        name: str,
        stock: str,
        check: Callable[[], Sequence[str]],
        logger: logging.Logger,
    ) -> None:
        self.name = name
        self.stock = stock
        self.check = check
        self.logger = logger
        self._available: bool | None = None

    def available(self) -> bool:
        """Whether this fast path is on (checked once, then remembered)."""
        if self._available is None:
            missing = list(self.check())
            self._available = not missing
            if missing:
                self.logger.info(
                    "Fast path %s is off (not found: %s); using %s",
                    self.name,
                    ", ".join(missing),
                    self.stock,
                )
        return self._available

    def reset(self) -> None:
        """Forget the check's answer; the next :meth:`available` checks again."""
        self._available = None
