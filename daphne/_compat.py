"""The one door to the private names of Twisted and Autobahn daphne relies on.

daphne's fast paths lean on internals that Twisted's compatibility policy
(and Autobahn's, which has none for them) lets change in any release. Every
such access is in this module, each one says what it relies on and which
versions were checked, and each fast path is a :class:`FastPath`: checked
once at start-up, and when what it relies on is not there, logged in one
INFO line and replaced by the stock path doing the same job the slower,
public way:

======================  =====================================  ==============================
fast path               relies on                              stock path
======================  =====================================  ==============================
``reactor``             EPollReactor's fd tables, poller and   Twisted's own ``EPollReactor``
                        dispatch (:class:`EPollInternals`)
``websocket_frames``    Autobahn's parser state and hooks      Autobahn's ``dataReceived`` and
                        (:class:`SimpleFrameReader`)           ``sendData``
``http2_negotiation``   ``twisted.web.http.                    ``HTTPChannel`` alone: HTTP/1.x
                        _GenericHTTPChannelProtocol``          only, ALPN offers http/1.1
``upgrade_buffer``      ``HTTPChannel._dataBuffer``            bytes a client sent after an
                                                               upgrade request's *body* are lost
``chunk_sizes``         ``_ChunkedTransferDecoder`` states     the body is bounded as its
                                                               bytes arrive
======================  =====================================  ==============================

Checked against Twisted 23.10.0 and 26.10.0, Autobahn 23.1.2 and 26.11.1
(the ``py311-oldest`` and ``py311-newest`` tox environments).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Container, Mapping, Sequence
from typing import Any, NamedTuple

from autobahn import websocket as autobahn_websocket
from autobahn.twisted.websocket import WebSocketServerProtocol
from autobahn.websocket.xormasker import create_xor_masker
from twisted.internet import posixbase
from twisted.internet.epollreactor import EPollReactor
from twisted.web import http

from asgi._fast_path import FastPath

from ._ws_frames import OP_BINARY, frame_end, take_simple_frames, unmask

__all__ = [
    "CHUNK_SIZES",
    "FAST_PATHS",
    "HTTP2_NEGOTIATION",
    "REACTOR",
    "SIMPLE_FRAME_MAX",
    "UPGRADE_BUFFER",
    "WEBSOCKET_FRAMES",
    "EPollInternals",
    "FastPath",
    "SimpleFrameReader",
    "epoll_internals",
    "hand_over_connection",
    "negotiating_protocol",
    "partial_line_buffered",
    "stock_frames_protocol",
    "watch_chunk_sizes",
]

logger = logging.getLogger("daphne.compat")


def _missing_attributes(owner: Any, names: Sequence[str], label: str = "") -> list[str]:
    if owner is None:
        return [label or "?"]
    label = label or getattr(owner, "__name__", type(owner).__name__)
    return [f"{label}.{name}" for name in names if not hasattr(owner, name)]


def _unassigned(function: Any, names: Sequence[str]) -> list[str]:
    """The ``names`` that ``function`` never names (it assigns instance
    attributes, so a name it does not mention is not set up there)."""
    code = getattr(function, "__code__", None)
    used = set(code.co_names) if code is not None else set()
    label = getattr(function, "__qualname__", repr(function))
    return [f"{name} (set in {label})" for name in names if name not in used]


# -- the reactor ---------------------------------------------------------------------

#: Instance attributes ``EPollReactor.__init__`` sets up (Twisted 23.10-26.10).
_EPOLL_STATE = ("_writes", "_selectables", "_poller", "_continuousPolling")


def _check_epoll() -> list[str]:
    return (
        _unassigned(EPollReactor.__init__, _EPOLL_STATE)
        + _missing_attributes(EPollReactor, ["_doReadOrWrite"])
        + _missing_attributes(
            getattr(posixbase, "_ContinuousPolling", None),
            ["isWriting"],
            "twisted.internet.posixbase._ContinuousPolling",
        )
    )


REACTOR = FastPath("reactor", "Twisted's own epoll reactor", _check_epoll, logger)


class EPollInternals(NamedTuple):
    """What :class:`daphne._reactor.DaphneReactor` uses of its base class,
    resolved once when it is built (no lookup on the per-write paths)."""

    #: ``_writes``: the fds epoll watches for writability (a set).
    writes: Container[int]
    #: ``_selectables``: fd -> the selectable registered for it (a dict).
    selectables: Mapping[int, Any]
    #: ``_poller``: the ``select.epoll`` object (``poll(timeout, maxevents)``).
    poller: Any
    #: ``_continuousPolling.isWriting``: whether a writer that epoll cannot
    #: watch (a regular file) is polled instead.
    polled_writer: Callable[[Any], bool]
    #: ``_doReadOrWrite(selectable, fd, event)``: one event's dispatch,
    #: with the reactor's own error handling.
    read_or_write: Callable[[Any, int, int], None]


def epoll_internals(reactor: EPollReactor) -> EPollInternals:
    """The internals of ``reactor`` (an ``EPollReactor`` that has run its
    ``__init__``). Only called when :data:`REACTOR` is available; the
    tables are never replaced after ``__init__`` (Twisted 23.10-26.10), so
    holding them is holding the reactor's own."""
    return EPollInternals(
        writes=reactor._writes,
        selectables=reactor._selectables,
        poller=reactor._poller,
        polled_writer=reactor._continuousPolling.isWriting,
        read_or_write=reactor._doReadOrWrite,
    )


# -- twisted.web ---------------------------------------------------------------------


def _check_generic_channel() -> list[str]:
    generic = getattr(http, "_GenericHTTPChannelProtocol", None)
    if generic is None:
        return ["twisted.web.http._GenericHTTPChannelProtocol"]
    return _missing_attributes(generic, ["dataReceived", "factory", "requestFactory", "timeOut"])


HTTP2_NEGOTIATION = FastPath(
    "http2_negotiation",
    "twisted.web's HTTPChannel alone (HTTP/1.x only; ALPN offers http/1.1)",
    _check_generic_channel,
    logger,
)


def negotiating_protocol(channel: http.HTTPChannel) -> Any:
    """``channel`` inside twisted.web's ``_GenericHTTPChannelProtocol``,
    which swaps it for an ``H2Connection`` when TLS's ALPN picked ``h2``
    (Twisted 23.10-26.10: the wrapper proxies ``factory``, ``requestFactory``,
    ``timeOut`` and ``callLater`` to the channel and keeps them for the
    swap). Only called when :data:`HTTP2_NEGOTIATION` is available; the
    channel must be configured before it is wrapped."""
    return http._GenericHTTPChannelProtocol(channel)


def connection_kind(protocol: Any) -> str | None:
    """``"http"`` or ``"http2"`` for an open connection ``HTTPFactory`` built,
    None once it is closed or handed over to a WebSocket (read at scrape
    time by the metrics). Looks through twisted.web's negotiating wrapper
    at its ``_channel``, an ``H2Connection`` once ALPN picked ``h2``
    (Twisted 23.10-26.10; without the attribute the connection counts as
    HTTP/1), and down the transports (TLS over TCP) for ``disconnected``."""
    channel = getattr(protocol, "_channel", protocol)
    if getattr(channel, "handed_over", False):
        return None
    transport = getattr(channel, "transport", None)
    if transport is None:
        return None
    for _ in range(4):  # TLS over TCP is two; never follow a cycle
        if getattr(transport, "disconnected", False) or getattr(transport, "disconnecting", False):
            return None
        transport = getattr(transport, "transport", None)
        if transport is None:
            break
    return "http2" if type(channel).__name__ == "H2Connection" else "http"


def _check_data_buffer() -> list[str]:
    return _unassigned(http.HTTPChannel.__init__, ["_dataBuffer"])


UPGRADE_BUFFER = FastPath(
    "upgrade_buffer",
    "no replay of bytes twisted.web buffered after an upgrade request's body",
    _check_data_buffer,
    logger,
)


def hand_over_connection(channel: http.HTTPChannel, protocol: Any) -> bytes:
    """From now on, route the bytes and the loss of ``channel``'s connection
    to ``protocol``; return the bytes twisted.web had already buffered
    after the request (to be given to ``protocol`` first).

    Relies on twisted.web looking ``dataReceived`` (and, in raw mode, for
    the rest of the read that carried the request, ``rawDataReceived``) up
    on the channel instance for every read, and on ``HTTPChannel._dataBuffer``
    being the list of bytes it holds back while a request is handled
    (Twisted 23.10-26.10). Without :data:`UPGRADE_BUFFER` nothing is
    replayed: only bytes sent after an upgrade request's body are affected.
    """
    buffered = b""
    if UPGRADE_BUFFER.available():
        buffered = b"".join(channel._dataBuffer)
        channel._dataBuffer = []
    channel.dataReceived = protocol.dataReceived
    channel.rawDataReceived = protocol.dataReceived
    channel.connectionLost = protocol.connectionLost
    return buffered


def partial_line_buffered(channel: http.HTTPChannel) -> bool:
    """Whether ``channel`` holds the start of a line it has not seen the end
    of yet (``LineReceiver._buffer``, Twisted 23.10-26.10). Read once, when
    a request head times out; without it (False) a client that sent only
    part of its first line is closed quietly instead of answered 408."""
    return bool(getattr(channel, "_buffer", b""))


def _check_chunk_decoder() -> list[str]:
    decoder = getattr(http, "_ChunkedTransferDecoder", None)
    if decoder is None:
        return ["twisted.web.http._ChunkedTransferDecoder"]
    return _missing_attributes(decoder, ["_dataReceived_CHUNK_LENGTH"]) + _unassigned(
        http.HTTPChannel.__init__, ["_transferDecoder"]
    )


CHUNK_SIZES = FastPath(
    "chunk_sizes", "bounding a chunked body as its bytes arrive", _check_chunk_decoder, logger
)


def watch_chunk_sizes(channel: http.HTTPChannel, on_size: Callable[[int], None]) -> bool:
    """Call ``on_size(size)`` as each chunk-size line of the chunked request
    body ``channel`` is reading is parsed, before that chunk's bytes are read.

    Relies on ``HTTPChannel._transferDecoder`` holding a
    ``_ChunkedTransferDecoder`` whose ``dataReceived`` dispatches through
    ``getattr(self, "_dataReceived_" + state)`` and whose
    ``_dataReceived_CHUNK_LENGTH`` sets ``state`` to ``"BODY"`` and
    ``length`` to the announced size (Twisted 23.10-26.10). Returns False
    and watches nothing when :data:`CHUNK_SIZES` is off (or the body is not
    chunked); the caller then bounds the body as its bytes arrive.
    """
    if not CHUNK_SIZES.available():
        return False
    decoder = getattr(channel, "_transferDecoder", None)
    if not isinstance(decoder, http._ChunkedTransferDecoder):
        return False
    read_size_line = decoder._dataReceived_CHUNK_LENGTH

    def read_size_line_and_report() -> bool:
        more = read_size_line()
        if more and decoder.state == "BODY":
            on_size(decoder.length)
        return more

    decoder._dataReceived_CHUNK_LENGTH = read_size_line_and_report
    return True


# -- Autobahn ------------------------------------------------------------------------

#: The largest payload ``SimpleFrameReader`` reads itself; bigger frames, rare
#: and dominated by copying anyway, go through Autobahn.
SIMPLE_FRAME_MAX = 64 * 1024

#: From this size on Autobahn's native (NVX) XOR masker, with its fixed cost
#: of about 2.3 us a frame, is faster than ``_ws_frames.unmask``: 2.7 us
#: against 4.9 us at 4 KiB, 7.7 us against 64 us at 64 KiB (CPython 3.11).
_NVX_UNMASK_FROM = 2048

#: Autobahn's incoming-message hooks that ``read_frames`` skips for a simple
#: frame; a subclass that overrides any of them gets Autobahn's parser only.
_MESSAGE_HOOKS = (
    "_dataReceived processData onFrameBegin onFrameData onFrameEnd"
    " _onMessageBegin onMessageBegin _onMessageFrameBegin onMessageFrameBegin"
    " _onMessageFrameData onMessageFrameData _onMessageFrameEnd onMessageFrameEnd"
    " _onMessageFrame onMessageFrame _onMessageEnd onMessageEnd _onMessage"
).split()

#: Autobahn's methods and class attributes the reader calls or reads
#: (Autobahn 23.1-26.11): ``_dataReceived`` (``dataReceived`` without the
#: Twisted adapter's debug line), ``consumeData`` (parse ``self.data``),
#: ``_listeners`` (txaio's event listeners, None until one is added).
_READER_NAMES = ("consumeData", "sendData", "_listeners", "STATE_OPEN")

#: Connection state set up by the opening handshake (Autobahn 23.1-26.11):
#: the parser's buffer (``data``), the frame being read (``current_frame``,
#: with its ``current_frame_masker.pointer()``), whether a fragmented
#: message is under way (``inside_message``), the traffic counters, the
#: outgoing queue, and the options that rule simple frames out.
_CONNECTION_STATE = (
    "data",
    "current_frame",
    "inside_message",
    "trafficStats",
    "send_queue",
    "autoPingTimeoutCall",
    "_perMessageCompress",
    "logOctets",
    "logFrames",
    "trackedTimings",
    "applyMask",
    "utf8validateIncoming",
    "websocket_version",
    "maxFramePayloadSize",
    "maxMessagePayloadSize",
)


def _check_autobahn() -> list[str]:
    return _missing_attributes(WebSocketServerProtocol, [*_MESSAGE_HOOKS, *_READER_NAMES])


WEBSOCKET_FRAMES = FastPath(
    "websocket_frames", "Autobahn's own frame parser and sendData", _check_autobahn, logger
)


def _unmask_nvx(payload: bytes, mask: bytes) -> bytes:
    """``_ws_frames.unmask``, with Autobahn's native masker for large payloads."""
    if len(payload) < _NVX_UNMASK_FROM:
        return unmask(payload, mask)
    return create_xor_masker(mask, len(payload)).process(payload)


#: Whether Autobahn's masker is its native (NVX) one. Autobahn 23.1 has no
#: ``USES_NVX`` (its masker is pure Python, or wsaccel's); there
#: ``_ws_frames.unmask`` is used for every size.
_unmasker = _unmask_nvx if getattr(autobahn_websocket, "USES_NVX", False) else unmask


@functools.cache
def _keeps_message_hooks(cls: type) -> bool:
    """Whether ``cls`` leaves every hook in ``_MESSAGE_HOOKS`` as Autobahn's."""
    return all(
        getattr(cls, name) is getattr(WebSocketServerProtocol, name) for name in _MESSAGE_HOOKS
    )


#: Per protocol class: whether its first open connection had every
#: attribute of ``_CONNECTION_STATE`` (asked once per class).
_connection_state_ok: dict[type, bool] = {}


def _has_connection_state(protocol: Any) -> bool:
    """Whether ``protocol`` (an open connection) has Autobahn's connection
    state as :class:`SimpleFrameReader` knows it; one INFO line per class if not."""
    cls = type(protocol)
    ok = _connection_state_ok.get(cls)
    if ok is None:
        missing = [name for name in _CONNECTION_STATE if not hasattr(protocol, name)]
        if missing:
            logger.info(
                "Fast path websocket_frames is off for %s (not found: %s); using %s",
                cls.__name__,
                ", ".join(missing),
                WEBSOCKET_FRAMES.stock,
            )
        ok = _connection_state_ok[cls] = not missing
    return ok


class SimpleFrameReader:
    """Reads a WebSocket connection's simple frames without Autobahn's parser.

    Autobahn's general frame parser (and its native masker and UTF-8
    validator, with their fixed cost per frame) took about a quarter of
    daphne's reactor time under a 50-connection echo load. This mixin,
    placed before an Autobahn server protocol in the bases, reads the common
    case itself (whole, unfragmented, masked text and binary frames;
    ``_ws_frames`` parses them) and hands Autobahn everything else, a frame
    at a time, only while Autobahn's own parser is idle, so Autobahn sees
    the same connection state it would have built itself. ``onOpen`` must
    set ``_simple_frame_limit`` from :meth:`_simple_frame_limit_for_connection`.

    With :data:`WEBSOCKET_FRAMES` off, the factory builds
    :func:`stock_frames_protocol` of its protocol instead: Autobahn's own
    ``dataReceived`` and ``sendData``.
    """

    #: The largest payload :meth:`read_frames` reads without Autobahn; 0
    #: (until ``onOpen`` has seen what was negotiated) means none.
    _simple_frame_limit = 0

    def read_frames(self, data: bytes) -> None:
        """Deliver the simple frames in ``data`` directly and hand Autobahn
        the rest, a frame at a time, so that its parser is idle again as soon
        as it can be and the frames after it can be read here too.

        autobahn's Twisted dataReceived formats a debug line for every read
        before handing the bytes on (eagerly, whatever the log level): about
        4 % of the reactor thread under echo load, so it is skipped as well.
        """
        # Besides the connection's settings (the limit), what may change and
        # rules simple frames out: not open; an auto-ping awaiting its pong (a
        # data frame may cancel its timeout); listeners for the "message" event.
        if not (
            self._simple_frame_limit
            and self.state == self.STATE_OPEN
            and self.autoPingTimeoutCall is None
            and self._listeners is None
        ):
            self._dataReceived(data)
            return
        # Autobahn counts a whole read at once, in the state it finds on arrival.
        self.trafficStats.incomingOctetsWireLevel += len(data)
        pos, size = 0, len(data)
        while pos < size and self.state == self.STATE_OPEN:
            # Autobahn idle: all it was given ended on a frame boundary, so a
            # frame starts at pos and no fragmented message is under way.
            if self.current_frame is None and not self.inside_message and not self.data:
                pos = self._deliver_simple_frames(data, pos)
                if pos == size or self.state != self.STATE_OPEN:
                    break
            end = self._autobahn_frame_end(data, pos)
            if end is None:
                break
            self._feed_autobahn(data[pos:end])
            pos = end
        if pos < size:
            self._feed_autobahn(data[pos:] if pos else data)

    def sendData(self, data: bytes, sync: bool = False, chopsize: int | None = None) -> None:  # noqa: N802 - Autobahn's name
        """autobahn's ``sendData`` without its per-write debug line, in the
        common case (an open connection, nothing queued); any other case
        goes through autobahn's own."""
        if chopsize or sync or self.send_queue or self.logOctets or self.state != self.STATE_OPEN:
            super().sendData(data, sync, chopsize)
            return
        self.transport.write(data)
        self.trafficStats.outgoingOctetsWireLevel += len(data)

    def _simple_frame_limit_for_connection(self) -> int:
        """The largest payload this connection's simple frames may have, or 0
        when Autobahn must see every frame: a compression extension, frame or
        octet logging, timing, no masking or UTF-8 checks, an old protocol
        version, or a subclass that hooks into Autobahn's message assembly."""
        if not _has_connection_state(self):
            return 0
        if (
            self._perMessageCompress is not None
            or self.logOctets
            or self.logFrames
            or self.trackedTimings
            or not self.applyMask
            or not self.utf8validateIncoming
            or self.websocket_version not in (8, 13)
            or not _keeps_message_hooks(type(self))
        ):
            return 0
        # Autobahn refuses a frame only when it is *larger* than a limit.
        return min(
            limit
            for limit in (SIMPLE_FRAME_MAX, self.maxFramePayloadSize, self.maxMessagePayloadSize)
            if limit > 0
        )

    def _deliver_simple_frames(self, data: bytes, pos: int) -> int:
        """Deliver the simple frames from ``data[pos]`` on, with Autobahn's
        counters, while the connection stays open; returns where they stopped."""
        frames, stop = take_simple_frames(data, pos, self._simple_frame_limit, _unmasker)
        stats = self.trafficStats
        for opcode, payload, end in frames:
            size = len(payload)
            stats.incomingOctetsWebSocketLevel += size
            stats.incomingOctetsAppLevel += size
            stats.incomingWebSocketFrames += 1
            stats.incomingWebSocketMessages += 1
            self.onMessage(payload, opcode == OP_BINARY)
            if self.state != self.STATE_OPEN:
                # closed (or closing) by onMessage: the rest is Autobahn's
                return end
        return stop

    def _autobahn_frame_end(self, data: bytes, pos: int) -> int | None:
        """Where, in ``data``, the frame Autobahn is reading (or will read
        next, from ``pos``) ends; None if not in ``data`` or not known (a
        header split between reads), and then Autobahn gets all the rest."""
        if self.data:
            return None
        if self.current_frame is None:
            end = frame_end(data, pos)
        else:
            end = pos + self.current_frame.length - self.current_frame_masker.pointer()
        if end is None or end <= pos or end > len(data):
            return None
        return end

    def _feed_autobahn(self, data: bytes) -> None:
        """Autobahn's ``_dataReceived`` without its wire-level count, which
        ``read_frames`` made for the whole read (octet logging is off here)."""
        self.data += data
        self.consumeData()


class _StockFrames:
    """Autobahn's own reading and writing, in front of a
    :class:`SimpleFrameReader` protocol (see :func:`stock_frames_protocol`)."""

    def read_frames(self, data: bytes) -> None:
        WebSocketServerProtocol.dataReceived(self, data)

    def sendData(self, data: bytes, sync: bool = False, chopsize: int | None = None) -> None:  # noqa: N802 - Autobahn's name
        WebSocketServerProtocol.sendData(self, data, sync, chopsize)

    def _simple_frame_limit_for_connection(self) -> int:
        return 0


@functools.cache
def stock_frames_protocol(cls: type) -> type:
    """``cls`` (a :class:`SimpleFrameReader` protocol) reading and writing
    through Autobahn's own ``dataReceived`` and ``sendData``: what a factory
    builds when :data:`WEBSOCKET_FRAMES` is off. A subclass, so
    ``isinstance`` checks and the subclass's own methods still hold."""
    return type(cls.__name__ + "OnAutobahn", (_StockFrames, cls), {"__module__": cls.__module__})


#: Every fast path, for tests that force them all off and for the docs.
FAST_PATHS = (REACTOR, WEBSOCKET_FRAMES, HTTP2_NEGOTIATION, UPGRADE_BUFFER, CHUNK_SIZES)
