"""Reading a WebSocket connection's simple frames without Autobahn's parser.

Autobahn's general frame parser (and its native masker and UTF-8 validator,
with their fixed cost per frame) took about a quarter of daphne's reactor
time under a 50-connection echo load. :class:`SimpleFrameReader` reads the
common case itself (whole, unfragmented, masked text and binary frames;
``_ws_frames`` parses them) and hands Autobahn everything else, a frame at a
time, only while Autobahn's own parser is idle, so Autobahn sees the same
connection state it would have built itself.
"""

from __future__ import annotations

import functools

from autobahn.twisted.websocket import WebSocketServerProtocol
from autobahn.websocket import USES_NVX
from autobahn.websocket.xormasker import create_xor_masker

from ._ws_frames import OP_BINARY, frame_end, take_simple_frames, unmask

__all__ = ["SIMPLE_FRAME_MAX", "SimpleFrameReader"]

#: The largest payload ``dataReceived`` reads itself; bigger frames, rare
#: and dominated by copying anyway, go through Autobahn.
SIMPLE_FRAME_MAX = 64 * 1024

#: From this size on Autobahn's native (NVX) XOR masker, with its fixed cost
#: of about 2.3 us a frame, is faster than ``_ws_frames.unmask``: 2.7 us
#: against 4.9 us at 4 KiB, 7.7 us against 64 us at 64 KiB (CPython 3.11).
_NVX_UNMASK_FROM = 2048

#: Autobahn's incoming-message hooks that ``dataReceived`` skips for a simple
#: frame; a subclass that overrides any of them gets Autobahn's parser only.
_MESSAGE_HOOKS = (
    "_dataReceived processData onFrameBegin onFrameData onFrameEnd"
    " _onMessageBegin onMessageBegin _onMessageFrameBegin onMessageFrameBegin"
    " _onMessageFrameData onMessageFrameData _onMessageFrameEnd onMessageFrameEnd"
    " _onMessageFrame onMessageFrame _onMessageEnd onMessageEnd _onMessage"
).split()


def _unmask_nvx(payload: bytes, mask: bytes) -> bytes:
    """``_ws_frames.unmask``, with Autobahn's native masker for large payloads."""
    if len(payload) < _NVX_UNMASK_FROM:
        return unmask(payload, mask)
    return create_xor_masker(mask, len(payload)).process(payload)


_unmasker = _unmask_nvx if USES_NVX else unmask


@functools.cache
def _keeps_message_hooks(cls: type) -> bool:
    """Whether ``cls`` leaves every hook in ``_MESSAGE_HOOKS`` as Autobahn's."""
    return all(
        getattr(cls, name) is getattr(WebSocketServerProtocol, name) for name in _MESSAGE_HOOKS
    )


class SimpleFrameReader:
    """Mixed into an Autobahn server protocol (before it in the bases):
    :meth:`read_frames` replaces ``_dataReceived`` for a read's bytes, and
    ``onOpen`` must set ``_simple_frame_limit`` from
    :meth:`_simple_frame_limit_for_connection`."""

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

    def _simple_frame_limit_for_connection(self) -> int:
        """The largest payload this connection's simple frames may have, or 0
        when Autobahn must see every frame: a compression extension, frame or
        octet logging, timing, no masking or UTF-8 checks, an old protocol
        version, or a subclass that hooks into Autobahn's message assembly."""
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
        ``dataReceived`` made for the whole read (octet logging is off here)."""
        self.data += data
        self.consumeData()
