"""daphne tells a layer outage (503 / close 1013, "try again later") from a bug (500 / 1011)."""

import pytest

from asgi import www
from daphne._layer_errors import layer_unavailable
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
