"""The access log: ``AccessLogGenerator``, an ``action_logger``.

See docs/topics/daphne.rst, "Running it".

An action logger is any callable ``(protocol, action, details)``; daphne
calls it for ``http``/``complete`` and ``websocket``/``connecting``,
``rejected``, ``connected`` and ``disconnected``. This one writes NCSA-like
lines: ``host ident user [dd/Mon/YYYY:HH:MM:SS] "request" status length``.
"""

from __future__ import annotations

import datetime
from typing import IO, Any

__all__ = ["AccessLogGenerator"]

_WS_REQUESTS = {
    "connecting": "WSCONNECTING",
    "rejected": "WSREJECT",
    "connected": "WSCONNECT",
    "disconnected": "WSDISCONNECT",
}


class AccessLogGenerator:
    """Writes one line per finished request or WebSocket event to ``stream``."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def __call__(self, protocol: str, action: str, details: dict[str, Any]) -> None:
        if protocol == "http" and action == "complete":
            self.write_entry(
                host=details.get("client"),
                date=datetime.datetime.now(),
                request=f"{details.get('method', '-')} {details.get('path', '-')}",
                status=details.get("status"),
                length=details.get("size"),
            )
        elif protocol == "websocket" and action in _WS_REQUESTS:
            self.write_entry(
                host=details.get("client"),
                date=datetime.datetime.now(),
                request=f"{_WS_REQUESTS[action]} {details.get('path', '-')}",
            )

    def write_entry(
        self,
        host: str | None,
        date: datetime.datetime,
        request: str,
        status: int | None = None,
        length: int | None = None,
        ident: str | None = None,
        user: str | None = None,
    ) -> None:
        """Write one log line; missing fields are ``-``."""
        line = '{} {} {} [{}] "{}" {} {}\n'.format(
            host or "-",
            ident or "-",
            user or "-",
            date.strftime("%d/%b/%Y:%H:%M:%S"),
            request,
            "-" if status is None else status,
            "-" if length is None else length,
        )
        self.stream.write(line)
        flush = getattr(self.stream, "flush", None)
        if flush is not None:
            flush()
