"""SIGTERM/SIGINT: stop accepting, finish responses in flight, close
WebSockets with 1001 and report their disconnects, exit 0."""

import signal
import socket
import threading

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from tests.daphne.processes import Daphne

pytestmark = pytest.mark.integration


@pytest.fixture
def daphne():
    process = Daphne("-m", "tests.daphne.serve_inmemory", "tcp:port=0:interface=127.0.0.1")
    yield process
    process.kill()


def test_sigterm_finishes_inflight_response_closes_websockets_with_1001_and_exits_0(daphne):
    results = {}

    def slow_request():
        with httpx.Client(timeout=20) as client:
            response = client.get(daphne.url + "/slow")
            results["slow"] = (response.status_code, response.text)

    with ws_connect(daphne.ws_url + "/echo") as ws:
        ws.send("ping")
        assert ws.recv() == "ping"
        thread = threading.Thread(target=slow_request)
        thread.start()
        daphne.wait_for(r'EVENT \{"kind": "http.request".*"/slow"', timeout=15)
        daphne.popen.send_signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=10)
    assert info.value.rcvd.code == 1001
    thread.join(15)
    assert results["slow"] == (200, "slow done")
    assert daphne.popen.wait(20) == 0
    output = daphne.output()
    assert '"kind": "websocket.disconnect"' in output and '"code": 1001' in output
    assert "daphne exited cleanly" in output
    with pytest.raises(OSError):
        socket.create_connection((daphne.host, daphne.port), timeout=2).close()


def test_sigint_also_shuts_down_cleanly(daphne):
    with httpx.Client(timeout=10) as client:
        assert client.get(daphne.url + "/x").status_code == 200
    daphne.popen.send_signal(signal.SIGINT)
    assert daphne.popen.wait(20) == 0
    assert "Received SIGINT" in daphne.output()
