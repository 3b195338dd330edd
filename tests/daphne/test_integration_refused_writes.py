"""A real daphne on a real Redis that refuses writes (OOM, READONLY, MISCONF,
LOADING): every request is answered 503 with ``Retry-After`` and every socket
closed with 1013 (or its handshake refused with 503), the outage is one
WARNING in daphne's log, and service resumes by itself once Redis accepts
writes again (with an INFO line saying so)."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as ws_connect

from tests.daphne.processes import redis_daphne, redis_worker
from tests.support.redis_refusals import REFUSALS

pytestmark = pytest.mark.integration

OUTAGE_WARNING = "logged once per outage"
RECOVERED = "Channel layer available again"


def serves(url: str) -> bool:
    try:
        return httpx.get(url + "/r", timeout=10).status_code == 200
    except httpx.HTTPError:
        return False


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} (after {timeout}s)")


@pytest.fixture
def stack(make_redis_server, request):
    """A refusing-capable Redis, a worker and daphne (``-v 1``: INFO and up)."""
    refusal = request.param(make_redis_server)
    server = make_redis_server(*refusal.server_args)
    env = {"DAPHNE_TEST_REDIS_URL": server.url, "DAPHNE_TEST_PREFIX": f"rw{uuid.uuid4().hex[:8]}:"}
    worker = redis_worker(env, 2)
    daphne = redis_daphne(env, "-t", "5", "--websocket_connect_timeout", "5", "-v", "1")
    yield refusal, server, daphne
    assert daphne.terminate() == 0, daphne.output()
    worker.terminate()


@pytest.mark.parametrize("stack", REFUSALS, ids=lambda cls: cls.reply, indirect=True)
def test_redis_refusing_writes_is_503_and_1013_with_one_warning_then_service_resumes(stack):
    refusal, server, daphne = stack
    assert serves(daphne.url), daphne.output()
    with ws_connect(f"{daphne.ws_url}/echo", open_timeout=10) as open_socket:
        open_socket.send("before")
        assert open_socket.recv(timeout=10) == "before"

        refusal.begin(server)
        answers = [httpx.get(daphne.url + "/r", timeout=10) for _ in range(3)]
        assert [a.status_code for a in answers] == [503] * 3, daphne.output()
        assert all(a.headers["Retry-After"] == "5" for a in answers)
        with pytest.raises(InvalidStatus) as refused:
            ws_connect(f"{daphne.ws_url}/echo", open_timeout=10)
        assert refused.value.response.status_code == 503
        open_socket.send("during")
        with pytest.raises(ConnectionClosed) as closed:
            open_socket.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013

        assert daphne.output().count(OUTAGE_WARNING) == 1, daphne.output()
        assert " 500 " not in daphne.output() and "Traceback" not in daphne.output()

    refusal.end(server)
    wait_until(lambda: serves(daphne.url), 30, "service did not resume")
    with ws_connect(f"{daphne.ws_url}/echo", open_timeout=10) as socket:
        socket.send("after")
        assert socket.recv(timeout=10) == "after"
    daphne.wait_for(RECOVERED, timeout=10)
    assert daphne.output().count(OUTAGE_WARNING) == 1, daphne.output()
