"""HTTP/1.x and HTTP/2 on twisted.web, and the hand-over to WebSocket.

See docs/asgi/www.rst, "HTTP", and docs/topics/daphne.rst, "HTTP".

``WebRequest`` is one request: when twisted.web has read it whole, it sends
``http.request`` (streaming big bodies over a ``http.request.body?``
channel), then writes whatever the reply channel brings. ``HTTPFactory``
owns every live connection of the process and routes reply messages to them
(``dispatch_reply``). The decisions live in ``_scope`` and ``_http_state``;
this module only moves bytes.
"""

from __future__ import annotations

import logging
import operator
import random
import string
import weakref
from collections.abc import Iterable
from typing import Any

from twisted.internet import address
from twisted.internet.interfaces import IProtocolNegotiationFactory
from twisted.python.failure import Failure
from twisted.web import http
from zope.interface import implementer

from asgi import www
from asgi.types import ChannelLayer

from . import _drops
from ._body_upload import BodyUpload, Retry, Step
from ._compat import (
    CHUNK_SIZES,
    HTTP2_NEGOTIATION,
    UPGRADE_BUFFER,
    hand_over_connection,
    negotiating_protocol,
    watch_chunk_sizes,
)
from ._deadlines import DeadlineSet
from ._fair_queue import DEFAULT_DELIVER_TIMEOUT
from ._health import HealthChecker, HealthReport
from ._http_channel import DaphneHTTPChannel, WriteBudget, raw_error_response
from ._http_head import chunk_refusal
from ._http_state import Finish, Phase, RequestBody, ResponseState, Start, Write, error_page
from ._layer_errors import OUTAGE_NOTE, LayerOutage, layer_unavailable
from ._offload import OffReactorSend
from ._proxy import TrustedProxies
from ._scope import NO_PROXY, ProxyHeaders, request_fields
from ._sender import DEFAULT_FULL_TIMEOUT, LayerSender
from .exceptions import BadRequest, InvalidReply
from .ws_protocol import WebSocketFactory, WebSocketProtocol

__all__ = ["HTTPFactory", "WebRequest"]

logger = logging.getLogger(__name__)

#: Bodies up to this size travel inline in ``http.request``; larger ones are
#: chunked onto a ``http.request.body?`` channel.
DEFAULT_BODY_INLINE_LIMIT = 512 * 1024
DEFAULT_BODY_CHUNK_SIZE = 256 * 1024
#: Request bodies above this get 413 (None = no limit).
DEFAULT_MAX_REQUEST_BODY_SIZE = 100 * 1024 * 1024
#: Request line plus headers above this get 431.
DEFAULT_MAX_HEADER_SIZE = 16 * 1024
#: Seconds to receive a whole request head before answering 408 (slowloris, idle sockets).
DEFAULT_REQUEST_HEAD_TIMEOUT = 20.0
#: Seconds daphne keeps retrying one body chunk the layer refuses as full
#: (and, after that, the ``closed`` chunk) before it abandons the upload.
DEFAULT_BODY_SEND_TIMEOUT = 10.0
#: Seconds daphne sends no ``http.disconnect`` after the layer refused one
#: (full, as it is when no consumer reads the channel): while it would only
#: be refused again, that saves a command to the layer per request.
HTTP_DISCONNECT_PAUSE = 1.0


def _address(addr: Any) -> list | None:
    if isinstance(addr, address.IPv4Address | address.IPv6Address):
        return [str(addr.host), addr.port]
    return None


class WebRequest(http.Request):
    """One HTTP request: sends it to the layer and writes the reply back."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.factory: HTTPFactory = self.channel.factory
        #: Set when the connection is lost (twisted.web's own flag is private).
        self._connection_lost = False
        self.reply_channel: str | None = None
        #: The client address after proxy headers (the access log's host).
        self.client_addr: list | None = None
        #: The application got ``http.request``, so ``http.disconnect`` is due once it ends.
        self._disconnect_due = False
        self.response = ResponseState()
        self.path_text = ""
        self.start_time = self.factory.clock.seconds()
        self.raw_header_list: list[tuple[bytes, bytes]] = []
        self._received_body = 0
        self._too_large = False
        self._upload: BodyUpload | None = None
        self._body_channel: str | None = None
        self._body_call = None
        self._retry_after: bytes | None = None
        self._budget: WriteBudget | None = None

    # -- receiving (called by twisted.web) -------------------------------------

    def gotLength(self, length: int | None) -> None:
        limit = self.factory.max_request_body_size
        if limit is not None and length is not None and length > limit:
            self._reject_body_too_large()
            length = 0
        elif limit is not None and length is None and isinstance(self.channel, http.HTTPChannel):
            # chunked: refuse a chunk when its size line says it is too big
            watch_chunk_sizes(self.channel, self._chunk_announced)
        super().gotLength(length)

    def _chunk_announced(self, size: int) -> None:
        refusal = chunk_refusal(self._received_body, size, self.factory.max_request_body_size)
        if refusal is not None and not self._too_large:
            logger.info("Refused a request (%s): %d", refusal.reason, refusal.status)
            self._reject_body_too_large()

    def handleContentChunk(self, data: bytes) -> None:
        if self._too_large:
            return
        self._received_body += len(data)
        limit = self.factory.max_request_body_size
        if limit is not None and self._received_body > limit:
            self._reject_body_too_large()
            return
        super().handleContentChunk(data)

    def _reject_body_too_large(self) -> None:
        self._too_large = True
        # no "100 Continue" for a body we refuse
        self.requestHeaders.removeHeader(b"expect")
        if isinstance(self.channel, http.HTTPChannel):
            # Answer before reading a body we will not take, then hang up.
            self.channel.transport.write(
                raw_error_response(413, "Request body exceeds the server's limit.")
            )
            self.channel.loseConnection()

    def process(self) -> None:
        """The whole request is in: hand it to WebSocket or to the layer."""
        try:
            if self._too_large:
                if isinstance(self.channel, http.HTTPChannel):
                    return  # answered already, as soon as the size was known
                self.basic_error(413, b"Payload Too Large", "Request body exceeds the limit.")
                return
            if self.factory.shutting_down:
                self.responseHeaders.setRawHeaders(b"Connection", [b"close"])
                _drops.report_drop(_drops.SHUTDOWN, "http.request")
                self.basic_error(503, b"Service Unavailable", "Server shutting down.")
                return
            if self.factory.health_path is not None and self.path == self.factory.health_path:
                self._answer_health()
                return
            upgrade = (self.requestHeaders.getRawHeaders(b"upgrade") or [b""])[0]
            if upgrade.lower() == b"websocket" and isinstance(self.channel, http.HTTPChannel):
                self._upgrade_to_websocket()
                return
            self._send_request()
        except BadRequest as exc:
            logger.info("Bad request from %s: %s", self.client_text(), exc)
            self.basic_error(exc.status, http.RESPONSES.get(exc.status, b"Error"), str(exc))
        except Exception:
            logger.exception("Error processing an HTTP request")
            self.basic_error(500, b"Internal Server Error", "Daphne hit an internal error.")

    def _answer_health(self) -> None:
        """The health path: answered here, never sent to the layer (see
        ``daphne/_health.py``); GET and HEAD only."""
        self.path_text = self.path.decode("utf-8", "replace")
        if self.method not in (b"GET", b"HEAD"):
            self.responseHeaders.setRawHeaders(b"Allow", [b"GET, HEAD"])
            self.basic_error(405, b"Method Not Allowed", "The health check takes GET or HEAD.")
            return
        self.factory.health.check().addCallback(self._write_health)

    def _write_health(self, report: HealthReport) -> None:
        if self._connection_lost or self.finished:
            return
        # answered here, not by the application: the exchange goes straight
        # to its end, as for an error page
        if not self.response.fail(report.status):
            return
        body = report.body()
        self.setResponseCode(report.status)
        self.responseHeaders.setRawHeaders(b"Content-Type", [b"application/json"])
        self.responseHeaders.setRawHeaders(b"Cache-Control", [b"no-store"])
        self.responseHeaders.setRawHeaders(b"Content-Length", [b"%d" % len(body)])
        self.write(body)
        self._complete()

    def _headers(self) -> list[tuple[bytes, bytes]]:
        if self.raw_header_list:
            return self.raw_header_list
        return [(n, v) for n, values in self.requestHeaders.getAllRawHeaders() for v in values]

    def _fields(self, websocket: bool):
        factory = self.factory
        return request_fields(
            target=self.uri,
            raw_headers=self._headers(),
            secure=self.isSecure(),
            websocket=websocket,
            client=_address(self.client),
            server=_address(self.getHost()),
            root_path=factory.root_path,
            proxy=factory.proxy_headers,
        )

    def _send_request(self) -> None:
        factory = self.factory
        fields = self._fields(websocket=False)
        self.path_text = fields.path
        self.client_addr = fields.client
        length = self.content.seek(0, 2)
        self.content.seek(0)
        body = RequestBody(self.content, length, factory.body_inline_limit, factory.body_chunk_size)
        first = body.first()
        body_channel = (
            factory.channel_layer.new_channel("http.request.body?") if body.streamed else None
        )
        self.reply_channel = factory.make_send_channel()
        version = self.clientproto.decode("ascii", "replace").split("/")[-1]
        message = www.http_request(
            reply_channel=self.reply_channel,
            http_version="2" if version.startswith("2") else version,
            method=self.method.decode("ascii", "replace"),
            path=fields.path,
            query_string=fields.query_string,
            headers=fields.headers,
            scheme=fields.scheme,
            root_path=fields.root_path,
            body=first,
            body_channel=body_channel,
            client=fields.client,
            server=fields.server,
        )
        # Registered before the send: with a threaded sender the reply can
        # come back before the send call has even been made.
        factory.reply_protocols[self.reply_channel] = self
        factory.request_deadlines.add(self.reply_channel, factory.timeout)
        if body.streamed:
            self._upload = BodyUpload(body, factory.body_send_timeout)
            self._body_channel = body_channel
            self._body_call = factory.clock.callLater(0, self._pump_body)
        self._disconnect_due = True
        factory.sender.send("http.request", message, self._request_not_sent)

    def _request_not_sent(self, exc: BaseException) -> None:
        """The layer refused ``http.request``: answer 503/413 (or re-raise)."""
        if self.reply_channel is None or self.finished or self._connection_lost:
            return
        layer, factory = self.factory.channel_layer, self.factory
        self._disconnect_due = False  # the application never heard of it
        self._unregister()
        self.reply_channel = None
        if self._body_call is not None and self._body_call.active():
            self._body_call.cancel()
        self._body_call = self._upload = None
        if isinstance(exc, layer.ChannelFull):
            _drops.report_drop(_drops.CHANNEL_FULL, "http.request")
            self._retry_after = b"%d" % factory.retry_after
            self.basic_error(503, b"Service Unavailable", "Request queue full.")
        elif isinstance(exc, layer.MessageTooLarge):
            _drops.report_drop(_drops.TOO_LARGE, "http.request")
            self.basic_error(413, b"Payload Too Large", "Request too large for the layer.")
        else:
            self._layer_failed(exc, "sending http.request", "http.request", "http.request")

    # -- request body streaming ------------------------------------------------

    def _pump_body(self) -> None:
        """Send the body-channel message ``BodyUpload`` says is due now.

        It goes through ``factory.offload``, so a layer that is slow to
        answer never holds up the reactor; ``_body_sent`` applies the outcome.
        """
        self._body_call = None
        upload = self._upload
        message = upload.message() if upload is not None else None
        if message is None:
            return
        landing = self.factory.offload.send(self._body_channel, message)
        landing.addCallbacks(
            lambda _: self._body_sent(upload, None),
            lambda failure: self._body_sent(upload, failure.value),
        )

    def _body_sent(self, upload: BodyUpload, error: BaseException | None) -> None:
        if upload is not self._upload:
            return  # the request was given up without a closed chunk (never delivered)
        clock = self.factory.clock
        now = clock.seconds()
        if error is None:
            step = upload.landed(now)
        else:
            full = isinstance(error, self.factory.channel_layer.ChannelFull)
            step = upload.refused(now, full=full)
        if isinstance(step, Retry):
            self._body_call = clock.callLater(step.delay, self._pump_body)
            return
        if step is Step.ABORTED:
            self._body_not_delivered(error)
        elif step is Step.GAVE_UP:
            logger.warning(
                "Could not tell %s that the body of %s is incomplete: %s",
                self._body_channel,
                self.path_text,
                error,
            )
        if step is not Step.FINISHED and step is not Step.GAVE_UP:
            self._body_call = clock.callLater(0, self._pump_body)

    def _body_not_delivered(self, error: BaseException | None) -> None:
        """The body cannot be completed: answer the client (the worker gets ``closed``)."""
        if isinstance(error, self.factory.channel_layer.ChannelFull):
            _drops.report_drop(_drops.CHANNEL_FULL, "http.request.body!")
            logger.warning(
                "Body channel of %s stayed full for %gs; abandoning the upload",
                self.path_text,
                self.factory.body_send_timeout,
            )
            self._retry_after = b"%d" % self.factory.retry_after
            self._fail_request(503, "Request body could not be delivered.")
        else:
            self._layer_failed(
                error, "during the upload", "a request body chunk", "http.request.body!"
            )

    def _layer_failed(self, exc: BaseException, when: str, what: str, channel: str) -> None:
        """Answer a send to the layer that failed other than by a refusal:
        503 with ``Retry-After`` while the layer is unreachable, else 500
        (logged with its traceback)."""
        if layer_unavailable(exc):
            _drops.report_drop(_drops.LAYER_DOWN, channel)
            first = self.factory.layer_outage.failed()
            logger.log(
                logging.WARNING if first else logging.DEBUG,
                "Channel layer unavailable %s; answering 503 to %s%s: %s",
                when,
                self.path_text,
                OUTAGE_NOTE if first else "",
                exc,
            )
            self._retry_after = b"%d" % self.factory.retry_after
            self._fail_request(503, "Channel layer unavailable.")
        else:
            logger.error("Sending %s failed", what, exc_info=(type(exc), exc, exc.__traceback__))
            self._fail_request(500, "Daphne hit an internal error.")

    def _fail_request(self, status: int, detail: str) -> None:
        """Answer ``status`` now, unless the response has started (then cut
        it off); later replies from the application are dropped."""
        if self.response.fail(status):
            self._write_error(status, detail)
        else:
            self.drop()

    def _abandon_body(self) -> None:
        """The client left mid-upload: the worker gets a ``closed`` chunk,
        retried like any body message until it lands or ``body_send_timeout``."""
        upload = self._upload
        if upload is None or not upload.abandon(self.factory.clock.seconds()):
            return
        if upload.in_flight:
            return  # the outcome of the chunk on its way sends the closed chunk
        if self._body_call is not None and self._body_call.active():
            self._body_call.cancel()
        self._body_call = self.factory.clock.callLater(0, self._pump_body)

    # -- replies (called by HTTPFactory.dispatch_reply) ------------------------

    def serverResponse(self, message: Any) -> None:
        """Apply one message from this request's reply channel.

        A malformed message (no ``status`` first, a second ``status``, bad
        headers) is answered with 500, or cuts off a response already
        started, and then raises ``InvalidReply``, a ``ValueError`` as in
        1.x; the inbox reader logs it.
        """
        try:
            actions = self.response.reply(message)
        except InvalidReply:
            self._fail_request(500, "Daphne got an invalid response from the application.")
            raise
        for action in actions:
            if isinstance(action, Start):
                self.setResponseCode(action.status)
                for name, value in action.headers:
                    self.responseHeaders.addRawHeader(name, value)
                if self.response.phase is Phase.STREAMING and not self._connection_lost:
                    self._budget = WriteBudget(self.factory.http_buffer_limit)
                    self.registerProducer(self._budget, True)
            elif isinstance(action, Write):
                if self._connection_lost or self.finished:
                    return
                self.write(action.data)
                if self._budget is not None and self._budget.over(len(action.data)):
                    _drops.report_drop(_drops.SLOW_READER, "http.response!")
                    logger.warning(
                        "Client at %s reads too slowly (%d bytes queued); dropping %s",
                        self.client_text(),
                        self._budget.queued,
                        self.path_text,
                    )
                    self.drop()
                    return
            elif isinstance(action, Finish):
                self._complete()

    def response_timed_out(self) -> None:
        if self.response.timed_out():
            factory = self.factory
            _drops.report_drop(_drops.TIMEOUT, "http.request")
            report = factory.health.latest(factory.explain_max_age)
            if report is None:
                factory.health.check()  # fresh for the next one; this 503 does not wait
            why = report.reason if report is not None and report.no_worker() else ""
            logger.warning(
                "No response within %ss for %s%s",
                factory.timeout,
                self.path_text,
                f" ({why})" if why else "",
            )
            detail = "Worker server failed to respond within time limit."
            if why and factory.explain_errors:
                detail += f" Daphne found that {why}: is a worker running (manage.py runworker)?"
            self._write_error(503, detail)

    def _write_error(self, status: int, detail: str) -> None:
        if self._connection_lost or self.finished:
            return
        status, headers, body = error_page(status, detail)
        self.setResponseCode(status)
        for name, value in headers:
            self.responseHeaders.setRawHeaders(name, [value])
        if self._retry_after is not None:
            self.responseHeaders.setRawHeaders(b"Retry-After", [self._retry_after])
        self.write(body)
        self._complete()

    def basic_error(self, status: int, status_text: bytes, body: str) -> None:
        """Answer with a small HTML error page (1.x name; ``status_text`` is unused)."""
        self.response.fail(status)
        self._write_error(status, body)

    def _complete(self) -> None:
        self._end_exchange(completed=True)
        if not (self._connection_lost or self.finished):
            self.finish()
        metrics = self.factory.metrics
        if metrics is not None:
            metrics.response(self.code, self.duration())
        self.factory.log_action(
            "http",
            "complete",
            {
                "path": self.path_text or self.uri.decode("latin-1"),
                "status": self.code,
                "method": self.method.decode("ascii", "replace"),
                "client": self._address_text(self.client_addr) or self.client_text(),
                "time_taken": self.duration(),
                "size": self.sentLength,
            },
        )

    def drop(self) -> None:
        """Cut this response off: abort an HTTP/1 connection (its buffered
        bytes are discarded), reset an HTTP/2 stream."""
        self._end_exchange(completed=False)
        if self.channel is None:
            return
        if isinstance(self.channel, http.HTTPChannel):
            if self.channel.transport is not None:
                self.channel.transport.abortConnection()
        else:
            self.channel.loseConnection()

    def _unregister(self) -> None:
        if self._budget is not None:
            self._budget = None
            if self.producer is not None and self.channel is not None:
                self.unregisterProducer()
            else:
                # Twisted's connectionLost has already let go of the channel
                # (and the transport of its producer): only our end is left.
                self.producer = None
        if self.reply_channel is not None:
            self.factory.request_deadlines.discard(self.reply_channel)
            self.factory.reply_protocols.pop(self.reply_channel, None)

    def _end_exchange(self, completed: bool) -> None:
        """The request is over: unregister its reply channel and send
        ``http.disconnect`` once, as 1.x did after every request the
        application saw, whether its response ``completed`` or not (unless
        ``http_disconnect_after_response`` is off and it completed)."""
        self._unregister()
        if not self._disconnect_due:
            return
        self._disconnect_due = False
        if completed and not self.factory.http_disconnect_after_response:
            return
        self.factory.send_http_disconnect(self.reply_channel, self.path_text)

    def connectionLost(self, reason: Failure) -> None:
        self._connection_lost = True
        super().connectionLost(reason)
        if self.reply_channel is not None and self.response.client_gone():
            self._abandon_body()
        self._end_exchange(completed=False)

    # -- WebSocket hand-over ---------------------------------------------------

    def _upgrade_to_websocket(self) -> None:
        channel = self.channel
        protocol = self.factory.ws_factory.buildProtocol(channel.transport.getPeer())
        if protocol is None:
            self.basic_error(500, b"Internal Server Error", "Could not build WebSocket protocol")
            return
        fields = self._fields(websocket=True)
        protocol.upgrade_fields = fields
        raw = b"%s %s HTTP/1.1\r\n" % (self.method, self.uri)
        raw += b"".join(b"%s: %s\r\n" % (n, v) for n, v in self._headers()) + b"\r\n"
        # From here on the channel's bytes go to the WebSocket protocol.
        buffered = hand_over_connection(channel, protocol)
        channel.handed_over = True
        if self in channel.requests:
            channel.requests.remove(self)
        protocol.makeConnection(channel.transport)
        channel.registerProducer(protocol, True)
        # twisted.web paused reading while it handled the request
        channel.transport.resumeProducing()
        protocol.dataReceived(raw + buffered)

    # -- helpers -----------------------------------------------------------------

    def duration(self) -> float:
        return self.factory.clock.seconds() - self.start_time

    def client_text(self) -> str | None:
        """The peer's ``host:port`` (the transport's, not a proxy header's)."""
        return self._address_text(_address(self.client))

    @staticmethod
    def _address_text(address: list | None) -> str | None:
        return f"{address[0]}:{address[1]}" if address else None


@implementer(IProtocolNegotiationFactory)
class HTTPFactory(http.HTTPFactory):
    """All the HTTP and WebSocket connections of one daphne process.

    ``reply_protocols`` maps each live reply channel to its request or
    WebSocket; ``dispatch_reply`` routes a message from the inbox to it.
    """

    def __init__(
        self,
        channel_layer: ChannelLayer,
        action_logger: Any = None,
        send_channel: str | None = None,
        timeout: float = 120,
        websocket_timeout: float = 86400,
        ping_interval: float = 20,
        ping_timeout: float = 30,
        ws_protocols: list[str] | None = None,
        root_path: str = "",
        websocket_connect_timeout: float = 30,
        proxy_forwarded_address_header: str | None = None,
        proxy_forwarded_port_header: str | None = None,
        proxy_forwarded_proto_header: str | None = None,
        websocket_handshake_timeout: float = 5,
        *,
        reactor: Any = None,
        max_request_body_size: int | None = DEFAULT_MAX_REQUEST_BODY_SIZE,
        body_inline_limit: int = DEFAULT_BODY_INLINE_LIMIT,
        body_chunk_size: int = DEFAULT_BODY_CHUNK_SIZE,
        body_send_timeout: float = DEFAULT_BODY_SEND_TIMEOUT,
        max_header_size: int = DEFAULT_MAX_HEADER_SIZE,
        websocket_max_message_size: int | None = None,
        websocket_buffer_limit: int = 4 * 1024 * 1024,
        http_buffer_limit: int = 4 * 1024 * 1024,
        retry_after: int = 5,
        request_head_timeout: float | None = DEFAULT_REQUEST_HEAD_TIMEOUT,
        websocket_rate_limit: float | None = None,
        websocket_queue_timeout: float = DEFAULT_FULL_TIMEOUT,
        http_disconnect_after_response: bool = True,
        websocket_join_repeated_headers: bool = True,
        strict_http: bool = False,
        proxy_trusted_ips: TrustedProxies | str | Iterable[str] | None = None,
        disconnect_retry_timeout: float = DEFAULT_DELIVER_TIMEOUT,
        health_path: str | None = None,
        explain_errors: bool = False,
        explain_max_age: float = 15.0,
    ) -> None:
        super().__init__(reactor=reactor)
        #: The path daphne answers itself with its health (None: no health check).
        self.health_path = health_path.encode("utf-8") if health_path else None
        #: Say in the body of a timed-out request's 503 why, when daphne can tell
        #: (in the log line it always says so); ``-v 2`` / runserver with DEBUG.
        self.explain_errors = explain_errors
        #: How old the health answer behind that explanation may be (seconds).
        self.explain_max_age = explain_max_age
        #: Asks the layer which processes are alive (cached; off the reactor).
        self.health = HealthChecker(channel_layer, self.reactor)
        self.request_head_timeout = request_head_timeout
        #: Messages per second one WebSocket may send (None: no limit); more closes it with 1008.
        self.websocket_rate_limit = websocket_rate_limit
        #: Seconds a WebSocket frame may wait for room on a full
        #: ``websocket.receive`` before its socket is closed with 1013.
        self.websocket_queue_timeout = websocket_queue_timeout
        #: Seconds ``websocket.disconnect`` messages are held and retried while
        #: the layer is unreachable before they are dropped (with a WARNING).
        self.disconnect_retry_timeout = disconnect_retry_timeout
        self.clock = self.reactor
        self.channel_layer = channel_layer
        self.action_logger = action_logger
        self.send_channel = send_channel or make_process_channel()
        self.timeout = timeout
        self.websocket_timeout = websocket_timeout
        self.websocket_connect_timeout = websocket_connect_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.root_path = root_path
        # Plain attributes read per request, as in 1.x (code may set them later).
        self.proxy_forwarded_address_header = proxy_forwarded_address_header
        self.proxy_forwarded_port_header = proxy_forwarded_port_header
        self.proxy_forwarded_proto_header = proxy_forwarded_proto_header
        self.proxy_trusted_ips = proxy_trusted_ips
        #: Send ``http.disconnect`` after a completed response too (1.x); False
        #: sends it only when the request ends otherwise (the client left,
        #: daphne cut the response off).
        self.http_disconnect_after_response = http_disconnect_after_response
        #: Seconds without ``http.disconnect`` after the layer refused one.
        self.http_disconnect_pause = HTTP_DISCONNECT_PAUSE
        self._disconnect_paused_until = 0.0
        self.max_request_body_size = max_request_body_size
        self.body_inline_limit = body_inline_limit
        self.body_chunk_size = body_chunk_size
        #: Seconds one refused body chunk (or the closed chunk) is retried.
        self.body_send_timeout = body_send_timeout
        self.max_header_size = max_header_size
        self.retry_after = retry_after
        self.http_buffer_limit = http_buffer_limit
        #: One ``websocket.connect`` header per name, repeats joined with ``,``
        #: (1.x); False keeps every occurrence as its own pair.
        self.websocket_join_repeated_headers = websocket_join_repeated_headers
        #: Refuse HTTP/1.1 requests without exactly one ``Host`` with 400 (RFC
        #: 9112 3.2); off by default because 1.x accepted them.
        self.strict_http = strict_http
        self.reply_protocols: dict[str, Any] = {}
        #: Whether the layer is refusing sends now (one WARNING per outage).
        self.layer_outage = LayerOutage()
        #: Response deadlines of HTTP requests (``timeout``), by reply channel.
        self.request_deadlines = DeadlineSet(self.reactor, self._request_timed_out)
        #: Idle and request-head deadlines of HTTP/1.x connections.
        self.idle_deadlines = DeadlineSet(self.reactor, operator.methodcaller("_idle_timed_out"))
        self.head_deadlines = DeadlineSet(self.reactor, operator.methodcaller("_head_timed_out"))
        #: Makes the hot-path sends; ``Server`` swaps in a threaded one for
        #: network layers so the reactor never waits on the broker.
        self.sender = self.make_sender(threaded=False)
        #: Sends ``websocket.connect`` (and the disconnect of a socket that
        #: never opened, which must follow its connect): a lane of its own, so
        #: handshakes waiting on a layer that does not answer hold up no
        #: frames or requests; ``Server`` swaps it like ``sender``.
        self.connect_sender = self.make_sender(threaded=False)
        #: Makes the sends whose outcome matters before the next step (request
        #: body chunks) off the reactor thread; ``Server`` swaps it like ``sender``.
        self.offload = OffReactorSend(channel_layer, self.reactor, "inline")
        #: Set by ``Server.stop()``: requests on open connections get 503.
        self.shutting_down = False
        #: The counts behind ``--metrics-port`` (a ``_metrics.DaphneMetrics``);
        #: None, and nothing counted, unless metrics are enabled.
        self.metrics: Any = None
        self.connections: weakref.WeakSet = weakref.WeakSet()
        #: Whether connections can switch to HTTP/2 (see ``_compat``); the
        #: other fast paths of twisted.web are checked here too, at start-up.
        self.http2_negotiation = HTTP2_NEGOTIATION.available()
        UPGRADE_BUFFER.available()
        CHUNK_SIZES.available()
        if websocket_max_message_size is None:
            # leave room for the message's other keys under the layer's limit
            layer_limit = getattr(channel_layer, "max_message_size", 1024 * 1024)
            websocket_max_message_size = max(layer_limit - 4096, 1024)
        self.ws_factory = WebSocketFactory(
            self,
            protocols=ws_protocols,
            server="Daphne",
            max_message_size=websocket_max_message_size,
            buffer_limit=websocket_buffer_limit,
            handshake_timeout=websocket_handshake_timeout,
        )

    @property
    def proxy_trusted_ips(self) -> TrustedProxies | None:
        """The peers whose proxy headers count (None: every peer, as in 1.x).

        Set it to a ``TrustedProxies``, a comma-separated string or a list of
        addresses and networks; it is parsed once here, not per request.
        Raises ``ValueError`` for an entry that is not an address or network.
        """
        return self._proxy_trusted_ips

    @proxy_trusted_ips.setter
    def proxy_trusted_ips(self, value: TrustedProxies | str | Iterable[str] | None) -> None:
        if isinstance(value, str):
            value = TrustedProxies.parse(value)
        elif value is not None and not isinstance(value, TrustedProxies):
            value = TrustedProxies(value)
        self._proxy_trusted_ips = value

    @property
    def proxy_headers(self) -> ProxyHeaders:
        """The ``proxy_forwarded_*_header`` and ``proxy_trusted_ips`` attributes
        as they are now (read per request, so setting them on a running factory
        takes effect)."""
        address = self.proxy_forwarded_address_header
        if not address:
            return NO_PROXY
        return ProxyHeaders(
            address,
            self.proxy_forwarded_port_header,
            self.proxy_forwarded_proto_header,
            self._proxy_trusted_ips,
        )

    def send_http_disconnect(self, reply_channel: str, path: str) -> None:
        """Send ``http.disconnect`` through the non-blocking sender.

        A refusal is dropped silently, as in 1.x (docs/asgi/www.rst, "HTTP": on ChannelFull, give
        up); after one, none is sent for ``http_disconnect_pause`` seconds, so
        a channel nobody reads costs at most one refused command per pause,
        not one per request.
        """
        if self.clock.seconds() < self._disconnect_paused_until:
            return
        try:
            self.sender.send(
                "http.disconnect",
                www.http_disconnect(reply_channel=reply_channel, path=path),
                self._http_disconnect_failed,
            )
        except RuntimeError:
            # the sender stopped (server shutting down): nothing more goes out
            logger.debug("Sender stopped; http.disconnect for %s not sent", reply_channel)

    def _http_disconnect_failed(self, exc: BaseException) -> None:
        now = self.clock.seconds()
        full = isinstance(exc, self.channel_layer.ChannelFull)
        # counted like any drop, but logged at DEBUG only: 1.x gave up on a
        # refused http.disconnect without a word (docs/asgi/www.rst)
        reason = _drops.CHANNEL_FULL if full else _drops.LAYER_DOWN
        _drops.report_drop(reason, "http.disconnect", level=logging.DEBUG)
        if now >= self._disconnect_paused_until and not isinstance(
            exc, self.channel_layer.ChannelFull
        ):
            logger.debug("Could not send http.disconnect (pausing them): %s", exc)
        self._disconnect_paused_until = now + self.http_disconnect_pause

    def make_sender(self, threaded: bool, on_reactor: bool = False) -> LayerSender:
        """A sender to the layer (``Server`` asks for a threaded one, or one
        on the reactor, for network layers)."""
        return LayerSender(
            self.channel_layer,
            self.reactor,
            threaded=threaded,
            full_timeout=self.websocket_queue_timeout,
            on_reactor=on_reactor,
            outage=self.layer_outage,
            deliver_timeout=self.disconnect_retry_timeout,
        )

    # twisted.web's own access log ticks a clock every second; daphne logs
    # through action_logger instead, so an idle server sleeps.
    def startFactory(self) -> None:
        pass

    def stopFactory(self) -> None:
        pass

    def log(self, request: Any) -> None:
        pass

    def buildProtocol(self, addr: Any) -> Any:
        channel = DaphneHTTPChannel()
        channel.totalHeadersSize = self.max_header_size
        channel.MAX_LENGTH = self.max_header_size + 2
        channel.head_timeout = self.request_head_timeout
        channel.strict_http = self.strict_http
        channel.idle_deadlines = self.idle_deadlines
        channel.head_deadlines = self.head_deadlines
        protocol = negotiating_protocol(channel) if self.http2_negotiation else channel
        protocol.factory = self
        protocol.requestFactory = WebRequest
        protocol.callLater = self.reactor.callLater
        protocol.timeOut = self.timeOut
        self.connections.add(protocol)
        return protocol

    def acceptableProtocols(self) -> list[bytes]:
        """ALPN: HTTP/2 when Twisted can speak it, and HTTP/1.1."""
        return [b"h2", b"http/1.1"] if http.H2_ENABLED and self.http2_negotiation else [b"http/1.1"]

    # -- reply routing -----------------------------------------------------------

    def make_send_channel(self) -> str:
        """A new reply channel under this process's inbox."""
        return self.send_channel + "".join(random.choices(string.ascii_letters, k=10))

    def reply_channels(self) -> list[str]:
        return list(self.reply_protocols)

    def dispatch_reply(self, channel: str, message: Any) -> None:
        """Route one message from the inbox to its request or WebSocket."""
        protocol = self.reply_protocols.get(channel)
        if protocol is None:
            logger.debug("Reply for unknown channel %s dropped", channel)
            _drops.report_drop(_drops.CLIENT_GONE, channel)
            return
        if isinstance(protocol, WebRequest):
            protocol.serverResponse(message)
        elif isinstance(protocol, WebSocketProtocol):
            protocol.handle_reply(message)
        else:
            raise TypeError(f"Unknown protocol {protocol!r} registered for {channel}")

    def _request_timed_out(self, reply_channel: str) -> None:
        request = self.reply_protocols.get(reply_channel)
        if isinstance(request, WebRequest):
            request.response_timed_out()

    def log_action(self, protocol: str, action: str, details: dict) -> None:
        if self.action_logger is not None:
            try:
                self.action_logger(protocol, action, details)
            except Exception:
                logger.exception("action_logger failed")

    def check_timeouts(self) -> None:
        """1.x hook. Timeouts are per-connection timers now; this only sweeps
        reply channels whose connection vanished without telling us."""
        for channel, protocol in list(self.reply_protocols.items()):
            if isinstance(protocol, WebRequest) and protocol.finished:
                self.reply_protocols.pop(channel, None)

    # -- shutdown ---------------------------------------------------------------

    def websockets(self) -> list[WebSocketProtocol]:
        return list(self.ws_factory.protocols_alive)

    def http_requests_in_flight(self) -> list[WebRequest]:
        return [p for p in self.reply_protocols.values() if isinstance(p, WebRequest)]


def make_process_channel() -> str:
    """The process's inbox: ``daphne.response.<10 random letters>!``."""
    return "daphne.response.{}!".format("".join(random.choices(string.ascii_letters, k=10)))
