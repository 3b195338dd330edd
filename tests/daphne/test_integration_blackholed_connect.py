"""A real daphne whose ``websocket.connect`` goes to a black-holed Redis (the
gate of ``tests.daphne.gated_layer``, stopped with SIGSTOP: it accepts TCP
connections and never answers) while every other channel works: the new
handshakes wait without freezing the reactor, the sockets already open keep
echoing at their usual round trip, and the waiting handshakes are answered,
accepted once the gate answers again, or refused with 503 once the layer's
socket timeout fires."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
import uuid

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from tests.daphne.processes import Daphne, Process

pytestmark = pytest.mark.integration

#: The gate's socket timeout (``tests.daphne.gated_layer.GATE_TIMEOUT``, not
#: imported: that module builds its layer from the environment).
GATE_TIMEOUT = 2
#: Handshakes started while the gate is stopped.
PENDING = 4
#: Slowest echo round trip allowed while they wait: a reactor blocked on one
#: send to the gate stalls for GATE_TIMEOUT seconds.
MAX_ECHO_RTT = 0.5


@pytest.fixture
def stack(make_redis_server):
    main, gate = make_redis_server(), make_redis_server()
    env = {
        "DAPHNE_TEST_REDIS_URL": main.url,
        "DAPHNE_TEST_GATE_URL": gate.url,
        "DAPHNE_TEST_PREFIX": f"bh{uuid.uuid4().hex[:8]}:",
    }
    worker = Process("-m", "tests.daphne.gated_layer", env=env)
    worker.wait_for("worker ready")
    daphne = Daphne(
        "-m", "daphne", "-e", "tcp:port=0:interface=127.0.0.1",
        "--websocket_connect_timeout", "30", "-v", "1",
        "tests.daphne.gated_layer:channel_layer",
        env=env,
    )  # fmt: skip
    yield gate, daphne
    gate.process.send_signal(signal.SIGCONT)
    assert daphne.terminate() == 0, daphne.output()
    worker.terminate()


class Handshake(threading.Thread):
    """One WebSocket handshake in the background: its status and when it came."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.status: int | None = None
        self.answered_at: float | None = None
        self.start()

    def run(self) -> None:
        try:
            with ws_connect(self.url, open_timeout=30) as socket:
                socket.send("hi")
                assert socket.recv(timeout=10) == "hi"
                self.status = 101
        except InvalidStatus as exc:
            self.status = exc.response.status_code
        self.answered_at = time.monotonic()


def echo_rtts(sockets, seconds: float) -> list[float]:
    """Round trips of echoes on every open socket, for ``seconds``."""
    rtts = []
    deadline = time.monotonic() + seconds
    count = 0
    while time.monotonic() < deadline:
        for socket in sockets:
            count += 1
            began = time.monotonic()
            socket.send(f"echo {count}")
            assert socket.recv(timeout=10) == f"echo {count}"
            rtts.append(time.monotonic() - began)
        time.sleep(0.02)
    return rtts


@pytest.fixture
def open_sockets(stack):
    """Three sockets open on the daphne of ``stack``, echoing."""
    _, daphne = stack
    with contextlib.ExitStack() as sockets:
        opened = [
            sockets.enter_context(ws_connect(f"{daphne.ws_url}/echo", open_timeout=10))
            for _ in range(3)
        ]
        echo_rtts(opened, 0.2)
        yield opened


def test_handshakes_waiting_on_a_black_holed_layer_leave_open_sockets_echoing_and_are_accepted_when_it_answers(
    stack, open_sockets
):
    gate, daphne = stack
    sockets = open_sockets
    gate.process.send_signal(signal.SIGSTOP)
    stopped_at = time.monotonic()
    pending = [Handshake(f"{daphne.ws_url}/echo") for _ in range(PENDING)]
    rtts = echo_rtts(sockets, GATE_TIMEOUT * 0.6)
    assert max(rtts) < MAX_ECHO_RTT, (max(rtts), daphne.output())
    assert all(h.status is None for h in pending), "the handshakes wait for the layer"
    gate.process.send_signal(signal.SIGCONT)
    resumed_at = time.monotonic()
    for handshake in pending:
        handshake.join(15)
    assert [h.status for h in pending] == [101] * PENDING, daphne.output()
    assert max(h.answered_at for h in pending) - resumed_at < GATE_TIMEOUT + 3
    assert resumed_at - stopped_at < GATE_TIMEOUT  # they were answered by the gate, not timed out


def test_handshakes_on_a_layer_that_never_answers_are_refused_with_503_while_open_sockets_keep_echoing(
    stack, open_sockets
):
    gate, daphne = stack
    sockets = open_sockets
    gate.process.send_signal(signal.SIGSTOP)
    stopped_at = time.monotonic()
    pending = [Handshake(f"{daphne.ws_url}/echo") for _ in range(PENDING)]
    rtts = echo_rtts(sockets, GATE_TIMEOUT * 1.5)
    assert max(rtts) < MAX_ECHO_RTT, (max(rtts), daphne.output())
    for handshake in pending:
        handshake.join(4 * GATE_TIMEOUT + 5)
    assert [h.status for h in pending] == [503] * PENDING, daphne.output()
    # one timeout for the first batch of connects, one for the rest
    assert max(h.answered_at for h in pending) - stopped_at < 2 * GATE_TIMEOUT + 3
    assert "Channel layer unavailable; refusing /echo with 503" in daphne.output()
    gate.process.send_signal(signal.SIGCONT)
    # the gate is back: new handshakes go through again
    after = Handshake(f"{daphne.ws_url}/echo")
    after.join(15)
    assert after.status == 101, daphne.output()
