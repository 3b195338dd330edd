"""Console logging for the management commands."""

from __future__ import annotations

import logging

from asgi._json_log import formatter_for

__all__ = ["TEXT_FORMAT", "setup_logger"]

#: The text format of the management commands' lines.
TEXT_FORMAT = "%(asctime)s - %(levelname)s - %(module)s - %(message)s"

handler = logging.StreamHandler()


def setup_logger(name: str, verbosity: int = 1, log_format: str = "text") -> logging.Logger:
    """Log ``name`` (and daphne's loggers, and the drop log) to stderr;
    DEBUG above verbosity 1. ``log_format="json"``: one JSON object per line."""
    handler.setFormatter(formatter_for(log_format, TEXT_FORMAT))
    level = logging.DEBUG if verbosity > 1 else logging.INFO
    logger = logging.getLogger(name)
    for target in (logger, logging.getLogger("daphne"), logging.getLogger("channels.drops")):
        target.setLevel(level)
        if handler not in target.handlers:
            target.addHandler(handler)
        target.propagate = False
    return logger
