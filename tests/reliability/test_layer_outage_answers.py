"""daphne tells a layer outage (503 / close 1013, "try again later") from a bug (500 / 1011)."""

import logging

import pytest

from asgi import www
from daphne._layer_errors import LayerOutage, layer_unavailable
from tests.daphne.wire import BrokenLayer, Harness, frame, request, server_frames

pytestmark = pytest.mark.protocol


class BuggyLayer(BrokenLayer):
    """Sends to ``broken`` channels fail with a programming error, not an outage."""

    def send(self, channel, message):
        if channel in self.broken:
            raise RuntimeError("bug in the layer at 10.1.2.3")
        super().send(channel, message)


class FakeRedisConnectionError(Exception):
    """Shaped like redis-py's ConnectionError, which is no builtin OSError."""


FakeRedisConnectionError.__name__ = "ConnectionError"


@pytest.mark.parametrize(
    "exc",
    [ConnectionRefusedError(), TimeoutError(), OSError(), FakeRedisConnectionError()],
)
def test_connection_and_timeout_errors_count_as_an_outage(exc):
    assert layer_unavailable(exc)


@pytest.mark.parametrize("exc", [RuntimeError(), ValueError(), KeyError("x"), TypeError()])
def test_other_errors_are_bugs_not_outages(exc):
    assert not layer_unavailable(exc)


def test_a_buggy_layer_on_http_request_is_still_500_without_internals():
    harness = Harness(layer=BuggyLayer({"http.request"}))
    conn = harness.connect()
    conn.send(request())
    out = conn.output()
    assert out.startswith(b"HTTP/1.1 500") and b"10.1.2.3" not in out


def test_a_buggy_layer_on_websocket_receive_still_closes_with_1011():
    harness = Harness(
        layer=BuggyLayer({"websocket.receive"}),
        websocket_connect_timeout=5,
        ping_interval=20,
        ping_timeout=30,
    )
    conn = harness.connect()
    conn.upgrade(b"/ws/", b"")
    connect = harness.receive("websocket.connect")
    harness.factory.dispatch_reply(connect["reply_channel"], www.websocket_reply(accept=True))
    assert conn.output().startswith(b"HTTP/1.1 101 ")
    conn.send(frame(b"x"))
    ((opcode, payload),) = server_frames(conn.output())
    assert opcode == 8 and payload[:2] == (1011).to_bytes(2, "big")


def outage_warnings(caplog):
    return [
        record
        for record in caplog.records
        if record.levelno == logging.WARNING and "Channel layer unavailable" in record.getMessage()
    ]


def recovery_lines(caplog):
    return [
        record.getMessage()
        for record in caplog.records
        if "Channel layer available again" in record.getMessage()
    ]


def http_answers(harness, count):
    answers = []
    for _ in range(count):
        conn = harness.connect()
        conn.send(request())
        answers.append(conn.output())
    return answers


def test_an_outage_answers_every_request_503_but_logs_one_warning(caplog):
    caplog.set_level(logging.DEBUG, logger="daphne")
    harness = Harness(layer=BrokenLayer({"http.request"}), retry_after=7)
    answers = http_answers(harness, 3)
    assert all(a.startswith(b"HTTP/1.1 503 ") and b"Retry-After: 7" in a for a in answers)
    (warning,) = outage_warnings(caplog)
    assert "logged once per outage" in warning.getMessage()
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert sum("Channel layer unavailable" in r.getMessage() for r in debug) == 2


def test_the_first_send_after_an_outage_logs_recovery_and_a_new_outage_warns_again(caplog):
    caplog.set_level(logging.INFO, logger="daphne")
    layer = BrokenLayer({"http.request"})
    harness = Harness(layer=layer)
    http_answers(harness, 3)
    layer.broken = set()
    (answer,) = http_answers(harness, 1)
    assert answer == b""  # the request went to the application, which has not answered yet
    assert harness.receive("http.request")["path"] == "/"
    assert recovery_lines(caplog) == [
        "Channel layer available again (3 send(s) or receive(s) failed during the outage)"
    ]
    assert not harness.factory.layer_outage.down
    layer.broken = {"http.request"}
    http_answers(harness, 2)
    assert len(outage_warnings(caplog)) == 2


def test_websocket_handshakes_refused_in_one_outage_log_one_warning(caplog):
    caplog.set_level(logging.INFO, logger="daphne")
    layer = BrokenLayer({"websocket.connect"})
    harness = Harness(layer=layer, websocket_connect_timeout=5)
    for _ in range(3):
        conn = harness.connect()
        conn.upgrade(b"/ws/", b"")
        assert conn.output().startswith(b"HTTP/1.1 503 ")
    assert len(outage_warnings(caplog)) == 1
    layer.broken = set()
    harness.connect().upgrade(b"/ws/", b"")
    assert harness.receive("websocket.connect")["path"] == "/ws/"
    assert recovery_lines(caplog) == [
        "Channel layer available again (3 send(s) or receive(s) failed during the outage)"
    ]


def test_frames_refused_in_one_outage_close_each_socket_1013_with_one_warning(caplog):
    caplog.set_level(logging.INFO, logger="daphne")
    layer = BrokenLayer(set())
    harness = Harness(layer=layer, websocket_connect_timeout=5, ping_interval=20, ping_timeout=30)
    conns = []
    for _ in range(2):
        conn = harness.connect()
        conn.upgrade(b"/ws/", b"")
        connect = harness.receive("websocket.connect")
        harness.factory.dispatch_reply(connect["reply_channel"], www.websocket_reply(accept=True))
        assert conn.output().startswith(b"HTTP/1.1 101 ")
        conns.append(conn)
    layer.broken = {"websocket.receive", "websocket.disconnect"}
    for conn in conns:
        conn.send(frame(b"x"))
        ((opcode, payload),) = server_frames(conn.output())
        assert opcode == 8 and payload[:2] == (1013).to_bytes(2, "big")
    assert len(outage_warnings(caplog)) == 1


def test_layer_outage_starts_on_the_first_failure_and_ends_on_the_first_success():
    outage = LayerOutage()
    assert outage.recovered() == 0 and not outage.down  # up + success: nothing to end
    assert outage.failed() is True and outage.down  # up + failure: the outage starts
    assert outage.failed() is False and outage.failed() is False  # down + failure
    assert outage.recovered() == 3 and not outage.down  # down + success: ends, with its count
    assert outage.failed() is True  # a new outage warns again
