"""Simple WebSocket frames read without Autobahn: the sans-IO parser on
hand-built frames, and ``WebSocketProtocol`` delivering exactly what
Autobahn alone would, however the bytes are cut into reads."""

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asgi import www
from asgi.inmemory import ChannelLayer
from daphne._ws_frames import OP_BINARY, OP_TEXT, frame_end, take_simple_frames, unmask
from daphne.ws_protocol import WebSocketProtocol
from tests.daphne.wire import Harness, server_frames

pytestmark = pytest.mark.unit

unit = pytest.mark.unit
protocol = pytest.mark.protocol

MASK = b"\x37\xfa\x21\x3d"
LIMIT = 64 * 1024


def client_frame(
    payload: bytes,
    opcode: int = OP_TEXT,
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bytes | None = MASK,
    length_bits: int | None = None,
) -> bytes:
    """A client frame built by hand: ``mask=None`` leaves it unmasked;
    ``length_bits`` (7, 16 or 64) forces a length encoding, minimal or not."""
    size = len(payload)
    if length_bits is None:
        length_bits = 7 if size < 126 else 16 if size < 65536 else 64
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    masked_bit = 0x80 if mask is not None else 0
    if length_bits == 7:
        head = bytes([first, masked_bit | size])
    elif length_bits == 16:
        head = bytes([first, masked_bit | 126]) + struct.pack("!H", size)
    else:
        head = bytes([first, masked_bit | 127]) + struct.pack("!Q", size)
    if mask is None:
        return head + payload
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def naive_unmask(payload: bytes, mask: bytes) -> bytes:
    return bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


# -- the parser ---------------------------------------------------------------


@unit
def test_a_small_masked_text_frame_is_read_unmasked_up_to_its_end():
    data = client_frame(b"hello")
    assert take_simple_frames(data, 0, LIMIT) == ([(OP_TEXT, b"hello", len(data))], len(data))


@unit
@pytest.mark.parametrize(
    ("size", "bits"), [(0, 7), (125, 7), (126, 16), (4096, 16), (65535, 16), (65536, 64)]
)
@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY])
def test_7_16_and_64_bit_lengths_are_read(size, bits, opcode):
    payload = bytes(i % 95 + 32 for i in range(size))
    data = client_frame(payload, opcode, length_bits=bits)
    frames, stop = take_simple_frames(data, 0, 70_000)
    assert frames == [(opcode, payload, len(data))] and stop == len(data)


@unit
def test_several_frames_in_one_read_come_out_in_order_from_the_start_offset():
    first = client_frame(b"one")
    second = client_frame(b"\x00\x01", OP_BINARY)
    third = client_frame("caf\u00e9 \u2603".encode())
    data = b"JUNK" + first + second + third
    frames, stop = take_simple_frames(data, 4, LIMIT)
    assert [(op, p) for op, p, _ in frames] == [
        (OP_TEXT, b"one"),
        (OP_BINARY, b"\x00\x01"),
        (OP_TEXT, "caf\u00e9 \u2603".encode()),
    ]
    assert [end for _, _, end in frames] == [
        4 + len(first),
        4 + len(first) + len(second),
        len(data),
    ]
    assert stop == len(data)


@unit
@pytest.mark.parametrize("size", [0, 5, 125, 126, 300, 65536])
def test_an_incomplete_frame_is_left_whole_for_the_next_read(size):
    whole = client_frame(b"x" * size, OP_BINARY)
    done = client_frame(b"done")
    header = len(whole) - size
    cuts = set(range(header + 3)) | {len(whole) - 1, len(whole) // 2}
    for cut in sorted(c for c in cuts if c < len(whole)):
        frames, stop = take_simple_frames(done + whole[:cut], 0, 70_000)
        assert [p for _, p, _ in frames] == [b"done"], cut
        assert stop == len(done), cut


REFUSED = {
    "not final": client_frame(b"part", fin=False),
    "continuation": client_frame(b"part", opcode=0x0),
    "rsv1": client_frame(b"x", rsv=4),
    "rsv2": client_frame(b"x", rsv=2),
    "rsv3": client_frame(b"x", rsv=1),
    "close": client_frame(struct.pack("!H", 1000), opcode=0x8),
    "ping": client_frame(b"p", opcode=0x9),
    "pong": client_frame(b"p", opcode=0xA),
    "reserved data opcode": client_frame(b"x", opcode=0x3),
    "reserved control opcode": client_frame(b"x", opcode=0xB),
    "unmasked": client_frame(b"hello", mask=None),
    "unmasked binary": client_frame(b"hello", OP_BINARY, mask=None),
    "16-bit length under 126": client_frame(b"short", length_bits=16),
    "64-bit length under 65536": client_frame(b"short", length_bits=64),
    "over the limit": client_frame(b"y" * 101, OP_BINARY),
    "truncated UTF-8": client_frame(b"ok \xe2\x82"),
    "lone continuation octet": client_frame(b"\x80abc"),
    "UTF-8 surrogate": client_frame(b"\xed\xa0\x80"),
    "overlong UTF-8": client_frame(b"\xc0\xaf"),
    "above U+10FFFF": client_frame(b"\xf4\x90\x80\x80"),
    "invalid octet": client_frame(b"abc\xff"),
}


@unit
@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_frame_that_is_not_simple_ends_the_run_before_it(name):
    good = client_frame(b"good")
    data = good + REFUSED[name] + client_frame(b"after")
    frames, stop = take_simple_frames(data, 0, 100)
    assert frames == [(OP_TEXT, b"good", len(good))]
    assert stop == len(good)


@unit
def test_the_limit_is_inclusive_and_invalid_utf8_is_fine_in_a_binary_frame():
    data = client_frame(b"\xff" * 100, OP_BINARY)
    assert take_simple_frames(data, 0, 100)[0] == [(OP_BINARY, b"\xff" * 100, len(data))]
    assert take_simple_frames(data, 0, 99) == ([], 0)


@unit
@given(payload=st.binary(max_size=5000), mask=st.binary(min_size=4, max_size=4))
def test_unmask_is_xor_with_the_repeated_mask(payload, mask):
    assert unmask(payload, mask) == naive_unmask(payload, mask)


simple_frames = st.lists(
    st.one_of(
        st.tuples(st.just(OP_TEXT), st.text(max_size=300).map(str.encode)),
        st.tuples(st.just(OP_BINARY), st.binary(max_size=1500)),
    ),
    max_size=8,
)


@unit
@given(frames=simple_frames, masks=st.lists(st.binary(min_size=4, max_size=4), min_size=8))
def test_any_run_of_simple_frames_is_read_back_exactly(frames, masks):
    data = b"".join(
        client_frame(payload, opcode, mask=mask) for (opcode, payload), mask in zip(frames, masks)
    )
    tail = client_frame(b"ping", opcode=0x9)
    read, stop = take_simple_frames(data + tail, 0, LIMIT)
    assert [(op, p) for op, p, _ in read] == frames
    assert stop == len(data)


@unit
@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536])
@pytest.mark.parametrize("mask", [MASK, None])
def test_frame_end_is_known_once_the_header_is_in(size, mask):
    data = client_frame(b"z" * size, OP_BINARY, mask=mask)
    header = len(data) - size
    for cut in range(header):
        assert frame_end(b"ab" + data[:cut], 2) is None
    for cut in (header, len(data)):
        assert frame_end(b"ab" + data[:cut], 2) == 2 + len(data)


@unit
def test_frame_end_reads_all_eight_octets_of_a_64_bit_length():
    # the most significant octet counts too (a length no server would take)
    header = bytes([0x82, 0x80 | 127]) + (2**56 + 5).to_bytes(8, "big") + MASK
    assert frame_end(header, 0) == 14 + 2**56 + 5


@unit
def test_a_64_bit_length_beyond_the_limit_is_not_read_modulo_anything():
    # 2**56 + 70000: its low seven octets alone would say 70000, under the limit
    payload = bytes(70_000)
    data = bytes([0x82, 0x80 | 127]) + (2**56 + 70_000).to_bytes(8, "big") + MASK + payload
    assert take_simple_frames(data, 0, 1 << 20) == ([], 0)


@unit
@pytest.mark.parametrize(("size", "called"), [(1023, False), (1024, True), (4096, True)])
def test_payloads_from_1024_octets_are_unmasked_by_the_unmasker_with_the_4_octet_mask(size, called):
    calls = []

    def unmasker(payload, mask):
        calls.append((len(payload), mask))
        return naive_unmask(payload, mask)

    payload = bytes(i % 251 for i in range(size))
    data = client_frame(payload, OP_BINARY)
    assert take_simple_frames(data, 0, LIMIT, unmasker) == (
        [(OP_BINARY, payload, len(data))],
        len(data),
    )
    assert calls == ([(size, MASK)] if called else [])


# -- the protocol: the fast path against Autobahn alone ---------------------------

MAX_MESSAGE = 3000


def autobahn_parses(ws, note) -> list:
    """A list that gets ``note()`` each time Autobahn's own frame parser
    (``processData``) runs on ``ws``."""
    seen = []
    parse = ws.processData

    def spy():
        seen.append(note())
        return parse()

    ws.processData = spy
    return seen


def open_protocol(action=None):
    """An accepted ``WebSocketProtocol`` that records every ``onMessage`` and,
    if ``action`` is ``(what, n)``, closes, drops or stops reading the
    connection from its ``onMessage`` once ``n`` messages are in."""
    harness = Harness(
        layer=ChannelLayer(capacity=10_000),
        websocket_connect_timeout=5,
        ping_interval=1000,
        ping_timeout=1000,
        websocket_max_message_size=MAX_MESSAGE,
    )
    conn = harness.connect()
    conn.upgrade()
    connect = harness.receive("websocket.connect")
    harness.factory.dispatch_reply(connect["reply_channel"], www.websocket_reply(accept=True))
    assert conn.output().startswith(b"HTTP/1.1 101 ")
    ws = harness.factory.websockets()[0]
    calls = []
    original = ws.onMessage

    def recording(payload, is_binary):
        calls.append((payload, is_binary))
        original(payload, is_binary)
        if action is not None and len(calls) == action[1]:
            if action[0] == "close":
                ws.handle_reply(www.websocket_reply(close=4000))
            elif action[0] == "drop":
                ws.dropConnection(abort=True)
            else:
                conn.transport.pauseProducing()

    ws.onMessage = recording
    return harness, conn, ws, calls


def outcome(harness, conn, ws, calls):
    """Everything the outside world can see of a connection after its bytes."""
    seen = {
        "messages": list(calls),
        "server frames": server_frames(conn.output()),
        "state": ws.state,
        "stats": dict(vars(ws.trafficStats)),
        "closing": (ws.closedByMe, ws.failedByMe, ws.localCloseCode, ws.remoteCloseCode),
        "hung up": conn.transport.disconnecting,
        "reading": conn.transport.producerState,
    }
    received = []
    while True:
        _, message = harness.layer.receive(["websocket.receive"])
        if message is None:
            break
        received.append((message["order"], message["text"], message["bytes"]))
    conn.lose()
    _, disconnect = harness.layer.receive(["websocket.disconnect"])
    seen["layer"] = received, (disconnect["code"], disconnect["order"])
    return seen


def both_ways(reads: list[bytes], action=None) -> dict:
    """Feed ``reads`` to one connection through ``dataReceived`` (the fast
    path, and Autobahn for the rest) and to another through Autobahn's parser
    only, as before the fast path; what the outside world saw, which must be
    the same."""
    fast = open_protocol(action)
    alone = open_protocol(action)
    for read in reads:
        fast[1].send(read)
        alone[2]._dataReceived(read)
    seen = outcome(*fast)
    assert seen == outcome(*alone)
    return seen


masks = st.binary(min_size=4, max_size=4)
texts = st.text(max_size=200).map(str.encode)
binaries = st.binary(max_size=40) | st.binary(max_size=MAX_MESSAGE)
control_payloads = st.binary(max_size=125)


@st.composite
def fragmented(draw):
    """A message in 2 to 4 fragments, maybe with a ping between two of them."""
    opcode = draw(st.sampled_from([OP_TEXT, OP_BINARY]))
    payload = draw(texts if opcode == OP_TEXT else st.binary(max_size=500))
    cuts = sorted(draw(st.lists(st.integers(0, len(payload)), min_size=1, max_size=3)))
    parts = [payload[a:b] for a, b in zip([0, *cuts], [*cuts, len(payload)])]
    frames = [
        client_frame(part, opcode if i == 0 else 0, fin=i == len(parts) - 1, mask=draw(masks))
        for i, part in enumerate(parts)
    ]
    if draw(st.booleans()):
        frames.insert(1, client_frame(draw(control_payloads), 0x9, mask=draw(masks)))
    return b"".join(frames)


common = st.one_of(
    st.builds(lambda p, m: client_frame(p, OP_TEXT, mask=m), texts, masks),
    st.builds(lambda p, m: client_frame(p, OP_BINARY, mask=m), binaries, masks),
)
rare = st.one_of(
    st.builds(lambda p, m: client_frame(p, 0x9, mask=m), control_payloads, masks),
    st.builds(lambda p, m: client_frame(p, 0xA, mask=m), control_payloads, masks),
    fragmented(),
    st.builds(lambda p, m: client_frame(p, OP_TEXT, fin=False, mask=m), texts, masks),
    st.builds(lambda m: client_frame(struct.pack("!H", 1000) + b"bye", 0x8, mask=m), masks),
    st.sampled_from([REFUSED[name] for name in sorted(REFUSED) if "UTF-8" in name]),
    st.builds(lambda p: client_frame(p, OP_TEXT, mask=None), texts),
    st.builds(lambda p: client_frame(p, OP_BINARY, rsv=4), st.binary(max_size=20)),
    st.builds(lambda p: client_frame(p, OP_BINARY, length_bits=16), st.binary(max_size=125)),
    st.builds(
        lambda n: client_frame(b"b" * n, OP_BINARY),
        st.integers(1, 200).map(lambda extra: MAX_MESSAGE + extra),
    ),
)
streams = st.lists(st.one_of(common, common, common, rare), min_size=1, max_size=12).map(b"".join)


@protocol
@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=streams, data=st.data())
def test_the_fast_path_delivers_exactly_what_autobahn_alone_delivers(stream, data):
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=4)))
    reads = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)])]
    action = data.draw(
        st.none() | st.tuples(st.sampled_from(["close", "drop", "pause"]), st.integers(1, 4))
    )
    both_ways(reads, action)


@protocol
def test_simple_frames_never_reach_autobahns_parser_and_a_ping_between_them_does():
    harness, conn, ws, calls = open_protocol()
    parsed = autobahn_parses(
        ws, lambda: ws.current_frame.opcode if ws.current_frame else ws.data[0] & 0x0F
    )
    ping = client_frame(b"are you there", 0x9)
    conn.send(client_frame(b"one") + ping + client_frame(b"\x02", OP_BINARY))
    conn.send(client_frame(b"three") + client_frame(b"four"))
    assert calls == [(b"one", False), (b"\x02", True), (b"three", False), (b"four", False)]
    assert set(parsed) == {0x9}, "Autobahn read the ping (header, then payload) and nothing else"
    assert server_frames(conn.output()) == [(0xA, b"are you there")]
    received = [harness.receive("websocket.receive") for _ in range(4)]
    assert [(m["order"], m["text"], m["bytes"]) for m in received] == [
        (1, "one", None),
        (2, None, b"\x02"),
        (3, "three", None),
        (4, "four", None),
    ]


@protocol
def test_a_frame_split_between_reads_is_finished_by_autobahn_and_the_next_ones_are_not():
    harness, conn, ws, calls = open_protocol()
    parsed = autobahn_parses(ws, lambda: len(calls))
    big = client_frame(b"b" * 1000, OP_BINARY)
    conn.send(client_frame(b"one") + big[:500])
    conn.send(big[500:] + client_frame(b"three"))
    assert calls == [(b"one", False), (b"b" * 1000, True), (b"three", False)]
    assert parsed and set(parsed) == {1}, "only the split frame went through Autobahn"
    assert ws.current_frame is None and ws.data == b"" and not ws.inside_message


@protocol
def test_the_fast_path_keeps_autobahns_traffic_counters():
    harness, conn, ws, calls = open_protocol()
    data = client_frame(b"hello") + client_frame(b"\x00" * 300, OP_BINARY)
    conn.send(data)
    stats = ws.trafficStats
    assert (stats.incomingWebSocketMessages, stats.incomingWebSocketFrames) == (2, 2)
    assert stats.incomingOctetsAppLevel == stats.incomingOctetsWebSocketLevel == 305
    assert stats.incomingOctetsWireLevel == len(data)


@protocol
@pytest.mark.parametrize("what", ["close", "drop", "pause"])
def test_what_onmessage_does_to_the_connection_decides_the_rest_of_the_read_as_before(what):
    read = client_frame(b"one") + client_frame(b"two") + client_frame(b"\x03", OP_BINARY)
    seen = both_ways([read], (what, 1))
    # closing: Autobahn still passes on what follows; dropped: nothing more; paused: all
    assert len(seen["messages"]) == {"close": 3, "drop": 1, "pause": 3}[what]
    assert seen["stats"]["incomingWebSocketMessages"] == {"close": 1, "drop": 1, "pause": 3}[what]


@protocol
def test_a_whole_frame_inside_a_fragmented_message_is_still_autobahns_protocol_error():
    read = client_frame(b"start", fin=False) + client_frame(b"not a continuation")
    seen = both_ways([read])
    assert seen["messages"] == []
    ((opcode, payload),) = seen["server frames"]
    assert opcode == 8 and payload[:2] == (1002).to_bytes(2, "big")


@protocol
@pytest.mark.parametrize(
    ("bad", "code"),
    [
        (client_frame(b"caf\xc3"), 1007),
        (client_frame(b"\xed\xa0\x80"), 1007),
        (client_frame(b"hello", mask=None), 1002),
        (client_frame(b"x", rsv=4), 1002),
        (client_frame(b"short", length_bits=16), 1002),
        (client_frame(b"b" * (MAX_MESSAGE + 1), OP_BINARY), 1009),
    ],
)
def test_a_bad_frame_after_good_ones_closes_with_autobahns_code_as_before(bad, code):
    read = client_frame(b"good") + bad + client_frame(b"after")
    seen = both_ways([read])
    assert seen["messages"] == [(b"good", False)]
    ((opcode, payload),) = seen["server frames"]
    assert opcode == 8 and payload[:2] == code.to_bytes(2, "big")


@protocol
def test_a_subclass_that_hooks_into_autobahns_message_assembly_gets_autobahn_only():
    frames_seen = []

    class Streaming(WebSocketProtocol):
        def onMessageFrame(self, payload):  # noqa: N802 - Autobahn's hook
            frames_seen.append(b"".join(payload))
            super().onMessageFrame(payload)

    harness = Harness(websocket_connect_timeout=5, ping_interval=1000, ping_timeout=1000)
    harness.factory.ws_factory.protocol = Streaming
    conn = harness.connect()
    conn.upgrade()
    connect = harness.receive("websocket.connect")
    harness.factory.dispatch_reply(connect["reply_channel"], www.websocket_reply(accept=True))
    conn.send(client_frame(b"one") + client_frame(b"two"))
    assert frames_seen == [b"one", b"two"]
    assert [harness.receive("websocket.receive")["text"] for _ in range(2)] == ["one", "two"]
