"""``--log-format json``: one JSON object per log line, for log collectors.

Shared by ``daphne`` (and its protocol servers) and ``manage.py runworker``,
so neither package imports the other (docs/operating.rst, "Logs of dropped
and refused messages"). Each line holds ``time`` (UTC, ISO 8601 with
milliseconds), ``level``, ``logger`` and ``message``, then every ``extra``
field the call passed (the drop log's ``reason``, ``channel``, ``count``,
``suppressed``), and ``exc_info`` as text when there is a traceback.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

__all__ = ["LOG_FORMATS", "JsonFormatter", "formatter_for"]

#: The values of ``--log-format``; the first is the default.
LOG_FORMATS = ("text", "json")

# The attributes every LogRecord has: anything else came from ``extra``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
}


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc_info"] = record.exc_text
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=repr, ensure_ascii=False)


def formatter_for(log_format: str, text_format: str) -> logging.Formatter:
    """The formatter for ``--log-format``: ``text`` uses ``text_format``.

    Raises ``ValueError`` naming the choices for anything else.
    """
    if log_format == "json":
        return JsonFormatter()
    if log_format == "text":
        return logging.Formatter(text_format)
    raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}")
