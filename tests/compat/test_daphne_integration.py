"""1.x's ``http.disconnect`` after every request, seen from outside: a real
daphne process (on the in-memory layer with application threads, the way
``runserver`` embeds it) and a real HTTP client over a real socket."""

import socket
import time

import httpx
import pytest

from tests.daphne.processes import Daphne

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def daphne():
    process = Daphne("-m", "tests.daphne.serve_inmemory", "tcp:port=0:interface=127.0.0.1")
    yield process
    assert process.terminate() == 0, process.output()


def disconnects(client, path, at_least, wait=10):
    """The ``http.disconnect`` events the application recorded for ``path``."""
    deadline = time.monotonic() + wait
    while True:
        found = [
            e
            for e in client.get("/events").json()
            if e["kind"] == "http.disconnect" and e["path"] == path
        ]
        if len(found) >= at_least or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_each_completed_request_on_a_keep_alive_connection_sends_one_http_disconnect(daphne):
    with httpx.Client(base_url=daphne.url, timeout=20) as client:
        answers = [client.get("/compat/done") for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 200]
        found = disconnects(client, "/compat/done", at_least=3)
        time.sleep(0.3)  # any extra one would have arrived by now
        found = disconnects(client, "/compat/done", at_least=3)
    assert len(found) == 3
    assert len({e["reply_channel"] for e in found}) == 3, "one per request, each its own channel"


def test_a_client_that_hangs_up_before_the_response_sends_exactly_one_http_disconnect(daphne):
    with socket.create_connection((daphne.host, daphne.port)) as sock:
        sock.sendall(b"GET /compat/gone/silent HTTP/1.1\r\nHost: x\r\n\r\n")
        daphne.wait_for(r'EVENT \{"kind": "http.request".*"/compat/gone/silent"', timeout=15)
    with httpx.Client(base_url=daphne.url, timeout=20) as client:
        disconnects(client, "/compat/gone/silent", at_least=1)
        time.sleep(0.3)
        found = disconnects(client, "/compat/gone/silent", at_least=1)
    assert len(found) == 1
