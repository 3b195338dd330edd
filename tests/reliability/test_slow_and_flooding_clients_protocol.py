"""The request-head deadline, fair admission of WebSocket frames and the
WebSocket rate limit, on daphne's protocols over a fake clock."""

import pytest

from asgi import www
from asgi.inmemory import ChannelLayer
from daphne._rate_limit import TokenBucket
from daphne.ws_protocol import READ_PAUSE_BACKLOG
from tests.daphne.wire import Harness, close_frame, frame, request, server_frames

pytestmark = pytest.mark.protocol


def test_a_head_trickled_byte_by_byte_gets_408_at_the_deadline():
    harness = Harness(request_head_timeout=10)
    conn = harness.connect()
    for byte in request(headers=((b"X-Slow", b"a" * 40),))[:-4]:
        conn.send(bytes([byte]))
        harness.clock.advance(0.3)  # each byte well inside twisted's idle timeout
    assert conn.output().startswith(b"HTTP/1.1 408 ")
    assert conn.transport.disconnecting
    assert harness.nothing_on("http.request")


def test_an_idle_connection_is_closed_quietly_at_the_deadline():
    harness = Harness(request_head_timeout=10)
    conn = harness.connect()
    harness.clock.advance(9.9)
    assert not conn.transport.disconnecting
    harness.clock.advance(0.2)
    assert conn.transport.disconnecting and conn.output() == b""


def test_the_deadline_does_not_cut_a_slow_response_and_restarts_for_the_next_request():
    harness = Harness(request_head_timeout=10, timeout=100)
    conn = harness.connect()
    conn.send(request())
    reply = harness.receive("http.request")["reply_channel"]
    harness.clock.advance(30)  # the application takes its time
    harness.factory.dispatch_reply(reply, www.http_response(200, content=b"ok"))
    assert conn.output().startswith(b"HTTP/1.1 200 ")
    assert not conn.transport.disconnecting
    harness.clock.advance(10.1)  # the keep-alive connection then idles past the deadline
    assert conn.transport.disconnecting


def test_a_slow_upload_that_keeps_sending_is_not_cut_by_the_head_deadline():
    # The head arrives at once; the body then trickles in for 30 s, three
    # times the head deadline, each byte well inside the idle timeout.
    harness = Harness(request_head_timeout=10)
    conn = harness.connect()
    conn.send(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 30\r\n\r\n")
    for _ in range(30):
        harness.clock.advance(1)
        conn.send(b"x")
    assert not conn.transport.disconnecting and conn.output() == b""
    assert harness.receive("http.request")["body"] == b"x" * 30


def test_a_stalled_upload_is_closed_by_the_idle_timeout():
    harness = Harness(request_head_timeout=10)
    idle = harness.factory.timeOut
    conn = harness.connect()
    conn.send(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 30\r\n\r\nxx")
    harness.clock.advance(idle - 1)
    assert not conn.transport.disconnecting
    harness.clock.advance(2)
    assert conn.transport.disconnecting
    assert harness.nothing_on("http.request")


def test_the_408_status_line_names_the_timeout():
    harness = Harness(request_head_timeout=10)
    conn = harness.connect()
    conn.send(b"GET / HTTP/1.1\r\nHost: t\r\n")
    harness.clock.advance(10.1)
    assert conn.output().startswith(b"HTTP/1.1 408 Request Timeout\r\n")


def test_without_a_head_deadline_the_idle_timeout_closes_a_silent_connection():
    harness = Harness(request_head_timeout=None)
    idle = harness.factory.timeOut
    conn = harness.connect()
    conn.send(request())  # one request, answered: the connection is kept alive
    reply = harness.receive("http.request")["reply_channel"]
    harness.factory.dispatch_reply(reply, www.http_response(200, content=b"ok"))
    assert conn.output().startswith(b"HTTP/1.1 200 ")
    harness.clock.advance(idle - 1)
    conn.send(b"GET / HTTP/1.1\r\n")  # a byte of activity pushes the deadline back
    harness.clock.advance(idle - 1)
    assert not conn.transport.disconnecting
    harness.clock.advance(2)
    assert conn.transport.disconnecting


def test_no_deadline_when_turned_off():
    harness = Harness(request_head_timeout=None)
    conn = harness.connect()
    conn.send(b"GET / HTTP/1.1\r\n")
    harness.clock.advance(50)
    assert not conn.transport.disconnecting


def open_socket(harness):
    conn = harness.connect()
    conn.upgrade()
    connect = harness.receive("websocket.connect")
    harness.factory.dispatch_reply(connect["reply_channel"], www.websocket_reply(accept=True))
    assert conn.output().startswith(b"HTTP/1.1 101 ")
    return conn


def test_a_websocket_over_its_rate_limit_is_closed_with_1008_and_the_rest_is_not_forwarded():
    harness = Harness(
        websocket_rate_limit=5, websocket_connect_timeout=5, ping_interval=20, ping_timeout=30
    )
    conn = open_socket(harness)
    for n in range(10):  # the burst: twice the rate, at least 10
        conn.send(frame(b"m%d" % n))
    assert server_frames(conn.output()) == []
    conn.send(frame(b"one too many"))
    ((opcode, payload),) = server_frames(conn.output())
    assert opcode == 8 and payload[:2] == (1008).to_bytes(2, "big")
    received = []
    while (message := harness.layer.receive(["websocket.receive"]))[0]:
        received.append(message[1]["text"])
    assert received == [f"m{n}" for n in range(10)]


def test_a_websocket_within_its_rate_is_never_closed():
    harness = Harness(
        websocket_rate_limit=5, websocket_connect_timeout=5, ping_interval=20, ping_timeout=30
    )
    conn = open_socket(harness)
    for _ in range(100):
        conn.send(frame(b"steady"))
        harness.clock.advance(0.2)
    assert server_frames(conn.output()) == []


def test_the_token_bucket_refills_at_its_rate_up_to_its_burst():
    bucket = TokenBucket(rate=2, burst=3, now=0)
    assert [bucket.take(0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(0.5) and not bucket.take(0.5)
    assert [bucket.take(100) for _ in range(4)] == [True, True, True, False]
    with pytest.raises(ValueError):
        TokenBucket(rate=0, burst=1, now=0)


class RoomLayer(ChannelLayer):
    """An in-memory layer whose ``websocket.receive`` takes ``room`` more messages,
    then raises ChannelFull until the test makes room (a worker taking some)."""

    def __init__(self):
        super().__init__(capacity=100_000)
        self.room = 0
        self.refusals = 0

    def send(self, channel, message):
        if channel == "websocket.receive":
            if self.room == 0:
                self.refusals += 1
                raise self.ChannelFull(channel)
            self.room -= 1
        super().send(channel, message)


def flood_harness(**options):
    options.update(websocket_connect_timeout=5, ping_interval=20, ping_timeout=30)
    return Harness(layer=RoomLayer(), **options)


def frames_received(harness):
    found = []
    while (message := harness.layer.receive(["websocket.receive"]))[0]:
        found.append((message[1]["text"], message[1]["order"]))
    return found


def test_a_flooding_socket_is_paused_while_its_frames_wait_and_loses_none_of_them():
    harness = flood_harness()
    flooder = open_socket(harness)
    flooder.send(b"".join(frame(b"f%d" % n) for n in range(1, 101)))
    assert harness.layer.refusals == 1, "one refusal; the rest wait their turn untried"
    assert flooder.transport.producerState == "paused"
    assert server_frames(flooder.output()) == [], "no close: the flooder is slowed, not cut off"
    delivered = []
    while len(delivered) < 100:
        harness.layer.room = 10
        harness.clock.advance(0.1)
        delivered += frames_received(harness)
        if len(delivered) < 100 - READ_PAUSE_BACKLOG:
            assert flooder.transport.producerState == "paused"
    assert delivered == [(f"f{n}", n) for n in range(1, 101)]
    assert flooder.transport.producerState == "producing"


def test_a_quiet_socket_gets_in_after_one_of_the_flooders_frames_not_after_all():
    harness = flood_harness()
    flooder, quiet = open_socket(harness), open_socket(harness)
    flooder.send(b"".join(frame(b"f%d" % n) for n in range(1, 201)))
    quiet.send(frame(b"quiet"))
    order = []
    while "quiet" not in order:
        harness.layer.room = 1
        harness.clock.advance(0.05)
        order += [text for text, _ in frames_received(harness)]
    assert order == ["f1", "quiet"]


def test_frames_waiting_when_the_client_leaves_are_delivered_before_its_disconnect():
    harness = flood_harness()
    conn = open_socket(harness)
    conn.send(frame(b"a") + frame(b"b") + close_frame(1000))
    conn.lose()
    harness.layer.room = 2
    harness.clock.advance(0.1)
    assert frames_received(harness) == [("a", 1), ("b", 2)]
    name, disconnect = harness.layer.receive(["websocket.disconnect"])
    assert (disconnect["code"], disconnect["order"]) == (1000, 3)


def test_a_socket_whose_frames_find_no_room_is_closed_with_1013_and_the_others_carry_on():
    harness = flood_harness(websocket_queue_timeout=5)
    stuck = open_socket(harness)
    stuck.send(frame(b"s1"))
    harness.clock.advance(4)
    later = open_socket(harness)
    later.send(frame(b"l1"))
    harness.clock.advance(1.1)
    ((opcode, payload),) = server_frames(stuck.output())
    assert opcode == 8 and payload[:2] == (1013).to_bytes(2, "big")
    assert server_frames(later.output()) == [], "the later socket has waited only 1.1 s"
    harness.layer.room = 1
    harness.clock.advance(0.2)
    assert frames_received(harness) == [("l1", 1)]


def test_the_write_buffer_filling_and_draining_does_not_undo_the_read_pause():
    harness = flood_harness()
    flooder = open_socket(harness)
    flooder.send(b"".join(frame(b"f%d" % n) for n in range(1, 41)))
    assert flooder.transport.producerState == "paused"
    ws = harness.factory.websockets()[0]
    ws.pauseProducing()  # the transport's send buffer filled ...
    ws.resumeProducing()  # ... and drained: about writing, not reading
    assert flooder.transport.producerState == "paused"
    harness.layer.room = 40
    harness.clock.advance(0.1)
    assert len(frames_received(harness)) == 40
    assert flooder.transport.producerState == "producing"
