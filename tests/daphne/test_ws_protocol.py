"""WebSocket over a fake transport and clock: the held handshake, frames,
pings, every timeout, back-pressure and exactly one disconnect."""

import pytest

from asgi import www
from asgi.inmemory import ChannelLayer
from tests.daphne.test_http_protocol import ReactorSendLayer
from tests.daphne.wire import BrokenLayer, Harness, close_frame, frame, server_frames

pytestmark = [pytest.mark.protocol, pytest.mark.usefixtures("daphne_paths")]


def make(**options):
    options.setdefault("websocket_connect_timeout", 5)
    options.setdefault("ping_interval", 20)
    options.setdefault("ping_timeout", 30)
    return Harness(**options)


def open_socket(harness, path=b"/ws/", extra=b""):
    conn = harness.connect()
    conn.upgrade(path, extra)
    connect = harness.receive("websocket.connect")
    harness.factory.dispatch_reply(connect["reply_channel"], www.websocket_reply(accept=True))
    assert conn.output().startswith(b"HTTP/1.1 101 ")
    return conn, connect["reply_channel"]


def disconnects(harness):
    found = []
    while True:
        name, message = harness.layer.receive(["websocket.disconnect"])
        if name is None:
            return found
        found.append(message)


def test_upgrade_sends_websocket_connect_with_every_key_and_holds_the_handshake():
    harness = make(root_path="/root")
    conn = harness.connect()
    conn.upgrade(b"/chat/room%201?token=abc", b"Cookie: a=1\r\nCookie: b=2\r\n")
    message = harness.receive("websocket.connect")
    www.validate("websocket.connect", message)
    assert message["path"] == "/chat/room 1" and message["query_string"] == b"token=abc"
    assert message["scheme"] == "ws" and message["root_path"] == "/root"
    assert message["order"] == 0 and message["client"] == ["10.0.0.1", 5555]
    # one pair per header name, repeats joined with "," (as 1.x)
    assert [(b"cookie", b"a=1,b=2")] == [h for h in message["headers"] if h[0] == b"cookie"]
    assert conn.output() == b"", "no handshake answer before the application replies"


def test_a_frame_sent_in_the_same_read_as_the_upgrade_request_is_delivered_after_accept():
    harness = make()
    conn = harness.connect()
    conn.upgrade(extra=b"", trailing=frame(b"early"))
    connect = harness.receive("websocket.connect")
    assert harness.nothing_on("websocket.receive"), "no frame before the accept"
    harness.factory.dispatch_reply(connect["reply_channel"], www.websocket_reply(accept=True))
    assert conn.output().startswith(b"HTTP/1.1 101 ")
    assert harness.receive("websocket.receive")["text"] == "early"


def test_accept_completes_the_handshake_and_frames_flow_both_ways():
    harness = make()
    conn, reply = open_socket(harness)
    conn.send(frame(b"hello") + frame(b"\x00\xff", opcode=2))
    first, second = harness.receive("websocket.receive"), harness.receive("websocket.receive")
    assert (first["text"], first["bytes"], first["order"]) == ("hello", None, 1)
    assert (second["text"], second["bytes"], second["order"]) == (None, b"\x00\xff", 2)
    harness.factory.dispatch_reply(reply, www.websocket_reply(text="caf\u00e9"))
    harness.factory.dispatch_reply(reply, www.websocket_reply(bytes=b"\x01"))
    assert server_frames(conn.output()) == [(1, "caf\u00e9".encode()), (2, b"\x01")]


def test_empty_text_and_bytes_replies_send_empty_frames():
    harness = make()
    conn, reply = open_socket(harness)
    harness.factory.dispatch_reply(reply, www.websocket_reply(text=""))
    harness.factory.dispatch_reply(reply, www.websocket_reply(bytes=b""))
    assert server_frames(conn.output()) == [(1, b""), (2, b"")]


def test_data_during_the_handshake_implies_accept():
    harness = make()
    conn = harness.connect()
    conn.upgrade()
    reply = harness.receive("websocket.connect")["reply_channel"]
    harness.factory.dispatch_reply(reply, www.websocket_reply(text="welcome"))
    out = conn.output()
    assert out.startswith(b"HTTP/1.1 101 ")
    assert server_frames(out.split(b"\r\n\r\n", 1)[1]) == [(1, b"welcome")]


@pytest.mark.parametrize(
    "message", [www.websocket_reply(accept=False), www.websocket_reply(close=True)]
)
def test_reject_or_close_during_handshake_is_403_and_one_disconnect(message):
    harness = make()
    conn = harness.connect()
    conn.upgrade()
    reply = harness.receive("websocket.connect")["reply_channel"]
    harness.factory.dispatch_reply(reply, message)
    assert conn.output().startswith(b"HTTP/1.1 403")
    conn.lose()
    (disconnect,) = disconnects(harness)
    assert disconnect["reply_channel"] == reply and disconnect["order"] == 1


def test_connect_timeout_rejects_a_handshake_nobody_answered():
    harness = make(websocket_connect_timeout=5)
    conn = harness.connect()
    conn.upgrade()
    reply = harness.receive("websocket.connect")["reply_channel"]
    harness.clock.advance(4.9)
    assert conn.output() == b""
    harness.clock.advance(0.2)
    assert conn.output().startswith(b"HTTP/1.1 403")
    harness.factory.dispatch_reply(reply, www.websocket_reply(accept=True))
    assert conn.output() == b"", "a late accept is ignored"


def test_subprotocol_is_the_first_offered_one_the_server_supports():
    harness = make(ws_protocols=["v2.chat", "v1.chat"])
    conn = harness.connect()
    conn.upgrade(extra=b"Sec-WebSocket-Protocol: v3.chat, v1.chat, v2.chat\r\n")
    reply = harness.receive("websocket.connect")["reply_channel"]
    harness.factory.dispatch_reply(reply, www.websocket_reply(accept=True))
    assert b"Sec-WebSocket-Protocol: v1.chat\r\n" in conn.output()


def test_subprotocol_appears_in_the_101_response():
    harness = make(ws_protocols=["chat"])
    conn = harness.connect()
    conn.upgrade(extra=b"Sec-WebSocket-Protocol: chat\r\n")
    reply = harness.receive("websocket.connect")["reply_channel"]
    harness.factory.dispatch_reply(reply, www.websocket_reply(accept=True))
    assert b"Sec-WebSocket-Protocol: chat" in conn.output()


def test_client_close_sends_exactly_one_disconnect_with_its_code():
    harness = make()
    conn, reply = open_socket(harness)
    conn.send(frame(b"x"))
    conn.send(close_frame(4321))
    conn.lose()
    conn.lose()
    (message,) = disconnects(harness)
    assert message == www.websocket_disconnect(reply_channel=reply, path="/ws/", code=4321, order=2)
    assert reply not in harness.factory.reply_protocols


def test_network_drop_reports_1006():
    harness = make()
    conn, _ = open_socket(harness)
    conn.lose()
    (message,) = disconnects(harness)
    assert message["code"] == 1006


def test_server_close_reply_sends_close_frame_and_reports_its_code():
    harness = make()
    conn, reply = open_socket(harness)
    harness.factory.dispatch_reply(reply, www.websocket_reply(close=4001))
    assert server_frames(conn.output())[0][0] == 8
    conn.lose()
    assert [m["code"] for m in disconnects(harness)] == [4001]


def test_idle_socket_is_pinged_and_dropped_when_no_pong_comes():
    harness = make(ping_interval=20, ping_timeout=30)
    conn, _ = open_socket(harness)
    harness.clock.advance(20)
    assert server_frames(conn.output()) == [(9, b"")]
    harness.clock.advance(29)
    assert not conn.transport.disconnecting
    harness.clock.advance(1.5)
    assert conn.transport.disconnecting
    conn.lose()
    assert [m["code"] for m in disconnects(harness)] == [1006]


def test_a_pong_keeps_the_socket_alive():
    harness = make(ping_interval=20, ping_timeout=30)
    conn, _ = open_socket(harness)
    harness.clock.advance(20)
    conn.send(frame(b"", opcode=10))
    harness.clock.advance(35)
    assert not conn.transport.disconnecting


def test_a_ping_interval_of_0_pings_a_silent_socket_every_2_s_as_1x_did():
    # taken literally, 0 rescheduled the check at once for ever: a core at 100 %
    harness = make(ping_interval=0, ping_timeout=30)
    conn, _ = open_socket(harness)
    harness.clock.advance(0)
    assert conn.output() == b""
    pings = 0
    for _ in range(10):
        harness.clock.advance(1)
        pings += len(server_frames(conn.output()))
    assert pings == 5
    checks = [call for call in harness.clock.getDelayedCalls() if "_ping_check" in repr(call.func)]
    assert len(checks) == 1  # one check waiting, not a pile


def test_a_ping_timeout_of_0_never_drops_a_socket_for_a_missing_pong():
    harness = make(ping_interval=20, ping_timeout=0)
    conn, _ = open_socket(harness)
    harness.clock.advance(20)
    assert server_frames(conn.output()) == [(9, b"")]
    for _ in range(10):
        harness.clock.advance(20)
    assert not conn.transport.disconnecting
    assert len(server_frames(conn.output())) == 10  # still pinged every interval


def test_traffic_postpones_the_ping():
    harness = make(ping_interval=20, ping_timeout=30)
    conn, _ = open_socket(harness)
    harness.clock.advance(15)
    conn.send(frame(b"busy"))
    conn.output()
    harness.clock.advance(10)
    assert conn.output() == b"", "no ping 25 s after start: the socket spoke 10 s ago"
    harness.clock.advance(10)
    assert server_frames(conn.output()) == [(9, b"")]


def test_websocket_timeout_closes_old_sockets_with_1000():
    harness = make(websocket_timeout=100, ping_interval=1000)
    conn, _ = open_socket(harness)
    harness.clock.advance(99.9)
    assert conn.output() == b""
    harness.clock.advance(0.2)
    ((opcode, payload),) = server_frames(conn.output())
    assert opcode == 8 and payload[:2] == b"\x03\xe8"
    conn.send(close_frame(1000))
    conn.lose()
    assert [m["code"] for m in disconnects(harness)] == [1000]


def test_channel_full_on_connect_is_503_and_no_disconnect():
    harness = make(layer=ChannelLayer(capacity=1))
    harness.layer.send("websocket.connect", {"filler": True})
    conn = harness.connect()
    conn.upgrade()
    assert conn.output().startswith(b"HTTP/1.1 503")
    conn.lose()
    assert disconnects(harness) == []


def test_a_frame_refused_by_a_full_channel_waits_and_is_delivered_once_there_is_room():
    harness = make(layer=ChannelLayer(capacity=100, channel_capacity={"websocket.receive": 1}))
    conn, _ = open_socket(harness)
    conn.send(frame(b"one") + frame(b"two"))
    assert conn.output() == b"", "the socket stays open while its frame waits"
    assert harness.receive("websocket.receive")["text"] == "one"
    harness.clock.advance(0.5)
    second = harness.receive("websocket.receive")
    assert (second["text"], second["order"]) == ("two", 2)
    assert conn.output() == b""


def test_a_frame_that_finds_no_room_within_the_queue_timeout_closes_with_1013(caplog):
    harness = make(
        layer=ChannelLayer(capacity=100, channel_capacity={"websocket.receive": 1}),
        websocket_queue_timeout=3,
    )
    conn, _ = open_socket(harness)
    conn.send(frame(b"one") + frame(b"two") + frame(b"three"))
    harness.clock.advance(2.9)
    assert conn.output() == b""
    harness.clock.advance(0.2)
    ((opcode, payload),) = server_frames(conn.output())
    assert opcode == 8 and payload[:2] == (1013).to_bytes(2, "big")
    assert "websocket.receive had no room in time" in caplog.text
    conn.lose()
    assert [m["order"] for m in [harness.receive("websocket.receive")]] == [1]
    # "two" failed and "three" was dropped behind it: the disconnect follows "one"
    assert [(m["code"], m["order"]) for m in disconnects(harness)] == [(1013, 2)]


def test_client_that_does_not_read_is_closed_past_the_buffer_limit(caplog):
    harness = make(websocket_buffer_limit=1000)
    conn, reply = open_socket(harness)
    ws = harness.factory.websockets()[0]
    harness.factory.dispatch_reply(reply, www.websocket_reply(bytes=b"a" * 600))
    ws.pauseProducing()  # the transport's buffer is full
    harness.factory.dispatch_reply(reply, www.websocket_reply(bytes=b"b" * 600))
    assert not conn.transport.disconnecting
    harness.factory.dispatch_reply(reply, www.websocket_reply(bytes=b"c" * 600))
    assert conn.transport.disconnecting
    assert "reads too slowly" in caplog.text
    conn.lose()
    assert [m["code"] for m in disconnects(harness)] == [1013]


def test_resume_resets_the_buffer_count():
    harness = make(websocket_buffer_limit=1000)
    conn, reply = open_socket(harness)
    ws = harness.factory.websockets()[0]
    for _ in range(3):
        ws.pauseProducing()
        harness.factory.dispatch_reply(reply, www.websocket_reply(bytes=b"b" * 800))
        ws.resumeProducing()
    assert not conn.transport.disconnecting


def test_invalid_reply_closes_with_1011(caplog):
    harness = make()
    conn, reply = open_socket(harness)
    harness.factory.dispatch_reply(reply, {"text": "a", "bytes": b"b"})
    ((opcode, payload),) = server_frames(conn.output())
    assert opcode == 8 and payload[:2] == (1011).to_bytes(2, "big")
    assert "Invalid WebSocket reply" in caplog.text


def test_shutdown_closes_open_sockets_with_1001_and_refuses_pending_handshakes():
    harness = make()
    open_conn, _ = open_socket(harness)
    pending = harness.connect()
    pending.upgrade()
    harness.receive("websocket.connect")
    for ws in harness.factory.websockets():
        ws.close_for_shutdown()
    ((opcode, payload),) = server_frames(open_conn.output())
    assert opcode == 8 and payload[:2] == (1001).to_bytes(2, "big")
    assert pending.output().startswith(b"HTTP/1.1 503")
    open_conn.lose()
    pending.lose()
    assert sorted(m["code"] for m in disconnects(harness)) == [1001, 1006]


def test_invalid_utf8_text_frame_closes_the_socket():
    harness = make()
    conn, _ = open_socket(harness)
    conn.send(frame(b"\xff\xfe"))
    assert harness.nothing_on("websocket.receive")
    assert conn.transport.disconnecting
    conn.lose()
    assert len(disconnects(harness)) == 1


def test_websocket_actions_reach_the_action_logger():
    actions = []
    harness = make(action_logger=lambda p, a, d: actions.append((p, a)))
    conn, _ = open_socket(harness)
    conn.lose()
    assert actions == [
        ("websocket", "connecting"),
        ("websocket", "connected"),
        ("websocket", "disconnected"),
    ]


def test_a_broken_upgrade_request_is_400_and_never_reaches_the_application():
    harness = make()
    conn = harness.connect()
    conn.send(
        b"GET /ws/ HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
    assert conn.output().startswith(b"HTTP/1.1 400")
    conn.lose()
    assert harness.nothing_on("websocket.connect")
    assert disconnects(harness) == []


def test_an_unreachable_layer_on_connect_is_503_without_internals():
    harness = make(layer=BrokenLayer({"websocket.connect"}))
    conn = harness.connect()
    conn.upgrade()
    out = conn.output()
    assert out.startswith(b"HTTP/1.1 503") and b"10.1.2.3" not in out
    conn.lose()
    assert disconnects(harness) == []


def test_an_unreachable_layer_on_receive_closes_with_1013():
    harness = make(layer=BrokenLayer({"websocket.receive"}))
    conn, _ = open_socket(harness)
    conn.send(frame(b"x"))
    ((opcode, payload),) = server_frames(conn.output())
    assert opcode == 8 and payload[:2] == (1013).to_bytes(2, "big")
    conn.lose()
    assert [(m["code"], m["order"]) for m in disconnects(harness)] == [(1013, 1)]


def test_client_leaving_mid_handshake_sends_one_disconnect_and_a_late_accept_is_ignored():
    harness = make()
    conn = harness.connect()
    conn.upgrade()
    reply = harness.receive("websocket.connect")["reply_channel"]
    conn.lose()
    (message,) = disconnects(harness)
    assert (message["code"], message["order"]) == (1006, 1)
    assert reply not in harness.factory.reply_protocols
    harness.factory.dispatch_reply(reply, www.websocket_reply(accept=True))
    harness.clock.advance(10)  # the connect timeout must not fire on a dead socket
    assert conn.output() == b""


def test_a_message_above_the_size_limit_is_refused_not_forwarded():
    harness = make(websocket_max_message_size=100)
    conn, _ = open_socket(harness)
    conn.send(frame(b"a" * 100))
    assert harness.receive("websocket.receive")["text"] == "a" * 100
    conn.send(frame(b"b" * 101))
    assert harness.nothing_on("websocket.receive")
    # Autobahn fails the connection with a close frame carrying 1009
    ((opcode, payload),) = server_frames(conn.output())
    assert opcode == 8 and payload[:2] == (1009).to_bytes(2, "big")
    conn.lose()
    assert [m["code"] for m in disconnects(harness)] == [1006]


# -- websocket.connect goes through the sender's handshake lane ------------------


def reactor_harness():
    """A harness whose senders write with ``send_batch_twisted`` and land
    only when the test says so (a network layer that answers later, or never)."""
    layer = ReactorSendLayer(capacity=100)
    harness = make(layer=layer)
    factory = harness.factory
    factory.sender = factory.make_sender(threaded=False, on_reactor=True)
    factory.connect_sender = factory.make_sender(threaded=False, on_reactor=True)
    return harness, layer


def written_channels(layer):
    return [channel for messages, _ in layer.written for channel, _ in messages]


def test_websocket_connect_is_written_without_a_blocking_send_and_the_handshake_waits():
    harness, layer = reactor_harness()
    conn = harness.connect()
    conn.upgrade()
    assert layer.blocking_sends == []
    assert written_channels(layer) == ["websocket.connect"]
    assert conn.output() == b"", "the handshake waits for the application"
    layer.land()
    reply = harness.receive("websocket.connect")["reply_channel"]
    harness.factory.dispatch_reply(reply, www.websocket_reply(accept=True))
    assert conn.output().startswith(b"HTTP/1.1 101 ")


def test_an_open_socket_keeps_echoing_while_a_websocket_connect_hangs_in_the_layer():
    harness, layer = reactor_harness()
    conn = harness.connect()
    conn.upgrade()
    layer.land()
    reply = harness.receive("websocket.connect")["reply_channel"]
    harness.factory.dispatch_reply(reply, www.websocket_reply(accept=True))
    conn.output()
    pending = harness.connect()
    pending.upgrade()  # its connect is written, and never lands
    conn.send(frame(b"ping"))
    assert written_channels(layer) == ["websocket.connect", "websocket.receive"]
    layer.written.append(layer.written.pop(0))  # land the frame, not the connect
    layer.land()
    assert harness.receive("websocket.receive")["text"] == "ping"
    harness.factory.dispatch_reply(reply, www.websocket_reply(text="pong"))
    assert server_frames(conn.output()) == [(1, b"pong")]
    assert pending.output() == b""


def test_a_websocket_connect_the_layer_times_out_is_503_with_one_warning_and_no_disconnect(
    caplog,
):
    harness, layer = reactor_harness()
    first, second = harness.connect(), harness.connect()
    first.upgrade()
    second.upgrade()
    with caplog.at_level("DEBUG", logger="daphne.ws_protocol"):
        while layer.written:
            layer.land(TimeoutError("Timeout reading from 10.1.2.3:6379"))
    for conn in (first, second):
        out = conn.output()
        assert out.startswith(b"HTTP/1.1 503") and b"10.1.2.3" not in out
        conn.lose()
    # daphne's own: Twisted's log may be bridged in by an earlier test of the CLI;
    # the drop log (daphne.drops) is a stream of its own, rate limited apart
    warnings = [
        r
        for r in caplog.records
        if r.levelname == "WARNING" and r.name.startswith("daphne") and r.name != "daphne.drops"
    ]
    assert len(warnings) == 1
    assert "Channel layer unavailable; refusing /ws/ with 503" in warnings[0].getMessage()
    assert "logged once per outage" in warnings[0].getMessage()
    assert layer.written == [] and disconnects(harness) == []


def test_a_websocket_connect_that_fails_with_a_bug_is_500_with_the_traceback_logged(caplog):
    harness, layer = reactor_harness()
    conn = harness.connect()
    conn.upgrade()
    with caplog.at_level("ERROR", logger="daphne.ws_protocol"):
        layer.land(ValueError("a layer bug"))
    assert conn.output().startswith(b"HTTP/1.1 500")
    (record,) = caplog.records
    assert record.getMessage() == "Sending websocket.connect failed; refusing /ws/ with 500"
    assert record.exc_info[0] is ValueError


def test_a_client_leaving_mid_handshake_has_its_disconnect_sent_after_its_connect():
    harness, layer = reactor_harness()
    conn = harness.connect()
    conn.upgrade()
    conn.lose()  # before the connect landed
    assert written_channels(layer) == ["websocket.connect"], "the disconnect waits behind it"
    layer.land()
    assert written_channels(layer) == ["websocket.disconnect"]
    layer.land()
    connect = harness.receive("websocket.connect")
    (disconnect,) = disconnects(harness)
    assert disconnect["reply_channel"] == connect["reply_channel"]


def test_a_connect_refused_after_the_connect_timeout_sends_no_disconnect():
    harness, layer = reactor_harness()
    conn = harness.connect()
    conn.upgrade()
    harness.clock.advance(5)  # websocket_connect_timeout: refused with 403
    assert conn.output().startswith(b"HTTP/1.1 403")
    layer.land(ConnectionError("layer unreachable"))
    conn.lose()
    assert layer.written == [] and disconnects(harness) == []
