"""Console logging for the management commands."""

from __future__ import annotations

import logging

__all__ = ["setup_logger"]

handler = logging.StreamHandler()


def setup_logger(name: str, verbosity: int = 1) -> logging.Logger:
    """Log ``name`` (and daphne's loggers) to stderr; DEBUG above verbosity 1."""
    formatter = logging.Formatter(fmt="%(asctime)s - %(levelname)s - %(module)s - %(message)s")
    handler.setFormatter(formatter)
    level = logging.DEBUG if verbosity > 1 else logging.INFO
    logger = logging.getLogger(name)
    for target in (logger, logging.getLogger("daphne"), logging.getLogger("channels.drops")):
        target.setLevel(level)
        if handler not in target.handlers:
            target.addHandler(handler)
        target.propagate = False
    return logger
