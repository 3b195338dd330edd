"""twisted.web's HTTP/1.x channel, adjusted for daphne.

See docs/topics/daphne.rst, "HTTP".

``DaphneHTTPChannel`` answers 431 for oversized request heads, refuses the
heads ``_http_head`` says to refuse (obsolete line folding, control
characters, ``Transfer-Encoding`` on HTTP/1.0, too many fields, and with
``strict_http`` a missing ``Host``) and keeps the raw header order (with duplicates) for the ``http.request`` message;
``WriteBudget`` bounds what a streaming response may queue for a client that
does not read; ``raw_error_response`` is an error answer written straight to
the transport, before twisted.web has a request to answer through.
"""

from __future__ import annotations

import logging

from twisted.web import http

from ._compat import partial_line_buffered
from ._deadlines import DeadlineSet
from ._http_head import Refusal, field_count_refusal, field_line_refusal, head_refusal
from ._http_state import STATUS_PHRASES, error_page

__all__ = ["DaphneHTTPChannel", "WriteBudget", "raw_error_response"]

logger = logging.getLogger("daphne.http_protocol")


def raw_error_response(status: int, detail: str) -> bytes:
    """A complete ``Connection: close`` HTTP/1.1 error response."""
    _, headers, body = error_page(status, detail)
    head = b"".join(b"%s: %s\r\n" % pair for pair in headers)
    phrase = STATUS_PHRASES.get(status, "Error").encode("ascii")
    return b"HTTP/1.1 %d %s\r\nConnection: close\r\n%s\r\n%s" % (status, phrase, head, body)


class WriteBudget:
    """Registered as the producer of a streaming response: counts the bytes
    written while the transport reports its buffer full, so a client that
    does not read cannot make daphne buffer without bound."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.paused = False
        self.queued = 0

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False
        self.queued = 0

    def stopProducing(self) -> None:
        self.paused = True

    def over(self, size: int) -> bool:
        """Note ``size`` more bytes written; True once past the limit."""
        if self.paused:
            self.queued += size
        return self.queued > self.limit


class DaphneHTTPChannel(http.HTTPChannel):
    """twisted.web's HTTP/1.x channel, answering 431 for oversized headers and
    keeping the raw header order (with duplicates) for the message.

    Its two timeouts live in deadline sets its factory shares among all its
    connections instead of in a reactor timer each (see ``_deadlines``):

    * twisted.web's idle timeout (``timeOut``), on while no request is being
      handled and pushed back by every byte received;
    * the head deadline (``head_timeout``): a client has that long to deliver
      a whole request head, counted from the connection's start or the end of
      the previous response. A client trickling header bytes (slowloris) or
      sending nothing gets 408 (or, if it sent nothing, a quiet close). It
      stops when the head is complete: a slow request *body* is bounded by
      the idle timeout only, so a long upload that keeps sending is never
      cut off.
    """

    #: Seconds for a whole request head; None: no limit.
    head_timeout: float | None = None
    #: Refuse an HTTP/1.1 request without exactly one ``Host`` (RFC 9112);
    #: off by default, as 1.x accepted such requests.
    strict_http: bool = False
    #: The next non-empty line is a request line (not a header field line).
    _awaiting_request_line = True
    #: The version from the current request line, e.g. ``b"HTTP/1.1"``.
    _request_version = b""
    #: This connection's request was refused and answered already.
    _refused = False
    #: Bytes of the current request head so far, counted as twisted.web
    #: counts them against ``totalHeadersSize`` (line lengths without CRLF).
    _head_size = 0
    #: The factory's sets (``HTTPFactory.buildProtocol`` gives them).
    idle_deadlines: DeadlineSet
    head_deadlines: DeadlineSet
    _host = None
    #: The connection was handed over to a WebSocket (which now owns it).
    handed_over = False

    def getHost(self):
        # twisted.web asks for every request on a connection, and each ask is
        # a getsockname() system call; a connection's local address is fixed.
        if self._host is None:
            self._host = super().getHost()
        return self._host

    # twisted.web turns the idle timeout off (None) once a request has been
    # received whole (and when switching to HTTP/2 or losing the connection)
    # and back on after the response: exactly when a new head may begin.
    def setTimeout(self, period):
        previous, self.timeOut = self.timeOut, period
        if period is None:
            self.idle_deadlines.discard(self)
            self.head_deadlines.discard(self)
        else:
            self.idle_deadlines.add(self, period)
            if self.head_timeout:
                self.head_deadlines.add(self, self.head_timeout)
        return previous

    def resetTimeout(self):
        if self.timeOut is not None and self in self.idle_deadlines:
            self.idle_deadlines.add(self, self.timeOut)

    def allHeadersReceived(self):
        self.head_deadlines.discard(self)
        headers = self.requests[-1].requestHeaders
        refusal = head_refusal(
            version=self._request_version,
            count_fields=lambda name: len(headers.getRawHeaders(name, ())),
            strict=self.strict_http,
        )
        if refusal is not None:
            self._refuse(refusal)
            return
        super().allHeadersReceived()

    def allContentReceived(self):
        self._awaiting_request_line = True
        self._head_size = 0
        if self._refused:
            return  # twisted.web ends a bodiless head here; it was answered
        super().allContentReceived()

    def _idle_timed_out(self) -> None:
        self.timeoutConnection()

    def _head_timed_out(self) -> None:
        self.dataReceived = lambda data: None
        if self._head_size == 0 and not partial_line_buffered(self):
            # An idle connection: close quietly, since an unasked-for 408 could
            # be read as the answer to a request the client is sending now.
            logger.debug("Closing a connection idle for %ss", self.head_timeout)
        else:
            logger.info("No complete request head within %ss: 408", self.head_timeout)
            self.transport.write(raw_error_response(408, "Request head not received in time."))
        self.loseConnection()

    def connectionLost(self, reason) -> None:
        self.idle_deadlines.discard(self)
        self.head_deadlines.discard(self)
        super().connectionLost(reason)

    def lineReceived(self, line: bytes) -> None:
        head_size = self._head_size + len(line)
        if head_size > self.totalHeadersSize:
            self._respond_431()
            return
        self._head_size = head_size
        if self._awaiting_request_line:
            if line:  # an empty line before a request line is tolerated (RFC 9112 2.2)
                self._awaiting_request_line = False
                self._request_version = line.rpartition(b" ")[2]
        elif line:
            # checked here, before twisted.web unfolds continuation lines
            refusal = field_line_refusal(line)
            if refusal is not None:
                self._refuse(refusal)
                return
        super().lineReceived(line)

    def lineLengthExceeded(self, line: bytes) -> None:
        self._respond_431()

    def headerReceived(self, line: bytes) -> bool:
        if self.requests:
            # counted before twisted.web does, whose own limit answers 400
            fields = self.requests[-1].raw_header_list
            refusal = field_count_refusal(len(fields) + 1, self.maxHeaders)
            if refusal is not None:
                self._refuse(refusal)
                return False
        ok = super().headerReceived(line)
        if ok and self.requests:
            name, _, value = line.partition(b":")
            self.requests[-1].raw_header_list.append((name.strip(), value.strip(b" \t")))
        return ok

    def _respond_431(self) -> None:
        logger.info("Request headers larger than %d bytes: 431", self.totalHeadersSize)
        self._answer_and_close(431, "Request headers are too large.")

    def _refuse(self, refusal: Refusal) -> None:
        logger.info("Refused a request (%s): %d", refusal.reason, refusal.status)
        self._answer_and_close(refusal.status, refusal.detail)

    def _answer_and_close(self, status: int, detail: str) -> None:
        self._refused = True
        self.transport.write(raw_error_response(status, detail))
        self.dataReceived = lambda data: None
        self.loseConnection()
