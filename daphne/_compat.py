"""The one door to twisted.web internals daphne relies on.

See docs/topics/daphne.rst, "daphne's reactor".

Each access says what it relies on and which Twisted versions were checked,
and has a public fallback: when the internals are not there, the function
says so and daphne does the same job the slower public way.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.web import http

__all__ = ["watch_chunk_sizes"]


def watch_chunk_sizes(channel: http.HTTPChannel, on_size: Callable[[int], None]) -> bool:
    """Call ``on_size(size)`` as each chunk-size line of the chunked request
    body ``channel`` is reading is parsed, before that chunk's bytes are read.

    Relies on ``HTTPChannel._transferDecoder`` holding a
    ``_ChunkedTransferDecoder`` whose ``dataReceived`` dispatches through
    ``getattr(self, "_dataReceived_" + state)`` and whose
    ``_dataReceived_CHUNK_LENGTH`` sets ``state`` to ``"BODY"`` and
    ``length`` to the announced size (checked: Twisted 26.10). Returns False
    and watches nothing when any of that is missing (or the body is not
    chunked); the caller then bounds the body as its bytes arrive.
    """
    chunked = getattr(http, "_ChunkedTransferDecoder", None)
    decoder = getattr(channel, "_transferDecoder", None)
    if chunked is None or not isinstance(decoder, chunked):
        return False
    read_size_line = getattr(decoder, "_dataReceived_CHUNK_LENGTH", None)
    if read_size_line is None:
        return False

    def read_size_line_and_report() -> bool:
        more = read_size_line()
        if more and decoder.state == "BODY":
            on_size(decoder.length)
        return more

    decoder._dataReceived_CHUNK_LENGTH = read_size_line_and_report
    return True
