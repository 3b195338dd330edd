"""Which HTTP/1.x request heads daphne refuses, and with which status.

See docs/topics/daphne.rst, "HTTP", and RFC 9112.

Pure functions over plain values (a raw field line, the request's version,
header counts, sizes); ``_http_channel`` calls them while twisted.web parses
a request and answers the ``Refusal`` they return. twisted.web already
refuses a malformed request line, a field line without a colon, an invalid
field name and NUL/CR/LF in a value; these add what RFC 9112 asks on top.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "Refusal",
    "chunk_refusal",
    "field_line_refusal",
    "field_count_refusal",
    "head_refusal",
]

#: Control characters other than HTAB (RFC 9110 5.5); bytes 0x80-0xFF
#: (obs-text) stay allowed. Deleted with ``bytes.translate``, one C-level
#: pass per line: on a typical 80-byte line that costs about a third of a
#: ``re`` character-class search, whose engine steps byte by byte.
_CONTROLS = bytes([*range(0x00, 0x09), *range(0x0A, 0x20), 0x7F])


@dataclass(frozen=True)
class Refusal:
    """An answer to a request daphne will not pass on: ``status``, the
    ``detail`` for the error page and the ``reason`` for the log."""

    status: int
    detail: str
    reason: str


_FOLDED = Refusal(400, "Obsolete line folding in a header.", "obsolete line folding")
_CONTROL = Refusal(400, "Control character in a header.", "control character in a header")


def field_line_refusal(line: bytes) -> Refusal | None:
    """The refusal for one raw header field line, or None if it is acceptable.

    A line starting with whitespace continues the previous field (obs-fold),
    which servers must reject or unfold; unfolding is how request smuggling
    between a proxy and daphne starts, so daphne answers 400.
    """
    if line[:1] in (b" ", b"\t"):
        return _FOLDED
    if len(line.translate(None, _CONTROLS)) != len(line):
        return _CONTROL
    return None


def field_count_refusal(count: int, limit: int) -> Refusal | None:
    """431 once a request has more than ``limit`` header fields."""
    if count <= limit:
        return None
    return Refusal(431, "Too many request headers.", f"more than {limit} header fields")


def head_refusal(
    *, version: bytes, count_fields: Callable[[bytes], int], strict: bool
) -> Refusal | None:
    """The refusal for a complete request head, or None.

    ``count_fields(name)`` says how many fields named ``name`` (lowercase)
    the head has; it is called only when the answer matters, so a usual
    HTTP/1.1 request costs no header lookup.

    ``Transfer-Encoding`` on HTTP/1.0 means faulty framing (RFC 9112 6.1):
    a 1.0 hop before daphne may have framed the body by ``Content-Length``.
    With ``strict``, an HTTP/1.1 request needs exactly one ``Host`` (RFC 9112
    3.2); 1.x accepted requests without one, so that is opt-in.
    """
    if version == b"HTTP/1.0" and count_fields(b"transfer-encoding"):
        return Refusal(400, "Transfer-Encoding is not allowed in HTTP/1.0.", "HTTP/1.0 with TE")
    if strict and version == b"HTTP/1.1" and (hosts := count_fields(b"host")) != 1:
        what = "no Host header" if hosts == 0 else "more than one Host header"
        return Refusal(400, f"HTTP/1.1 request with {what}.", what)
    return None


def chunk_refusal(received: int, size: int, limit: int | None) -> Refusal | None:
    """413 when a chunk of ``size`` bytes announced after ``received`` body
    bytes would take the body past ``limit`` (None: no limit), so it is
    refused when its size line is read instead of after its bytes arrive."""
    if limit is None or received + size <= limit:
        return None
    return Refusal(413, "Request body exceeds the server's limit.", f"a {size}-byte chunk")
