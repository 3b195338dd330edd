"""The ``daphne`` command on the Redis layer with a worker in another process."""

import hashlib
import json
import os
import time
import uuid

import httpx
import pytest
from websockets.sync.client import connect as ws_connect

from tests.daphne.processes import Process, redis_daphne, redis_worker

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def env(redis_url):
    return {"DAPHNE_TEST_REDIS_URL": redis_url, "DAPHNE_TEST_PREFIX": f"dt{uuid.uuid4().hex[:8]}:"}


@pytest.fixture(scope="module")
def worker(env):
    process = redis_worker(env, 4)
    yield process
    assert process.terminate() == 0, process.output()


def start_daphne(env, *flags):
    return redis_daphne(env, "-t", "3", "--websocket_connect_timeout", "3", "-v", "2", *flags)


@pytest.fixture(scope="module")
def daphne(env, worker):
    process = start_daphne(env)
    yield process
    assert process.terminate() == 0, process.output()


def test_daphne_reads_its_inbox_with_receive_twisted(daphne):
    assert "in twisted mode" in daphne.output()
    # and sends with send_batch_twisted: no sender thread
    assert "Sending to the layer from the reactor" in daphne.output()


def test_http_round_trip_through_redis_and_a_worker_process(daphne):
    with httpx.Client(base_url=daphne.url, timeout=20) as client:
        report = client.get("/r?x=1").json()
    assert report["path"] == "/r" and report["query_string"] == "x=1"


def test_access_log_lines_go_to_stdout(daphne):
    with httpx.Client(base_url=daphne.url, timeout=20) as client:
        client.get("/logged-path")
    daphne.wait_for(r'127\.0\.0\.1:\d+ - - \[[^\]]+\] "GET /logged-path" 200 \d+', timeout=10)


def test_large_upload_streams_over_a_redis_body_channel(daphne):
    body = os.urandom(5 * 1024 * 1024)
    with httpx.Client(base_url=daphne.url, timeout=60) as client:
        report = client.post("/upload", content=body).json()
    assert report["body_chunks"] > 1
    assert report["body_sha256"] == hashlib.sha256(body).hexdigest()


def test_websocket_echo_and_one_disconnect_through_redis(daphne):
    with ws_connect(f"{daphne.ws_url}/info") as ws:
        reply_channel = json.loads(ws.recv())["reply_channel"]
        for index in range(20):
            ws.send(f"m{index}")
            assert ws.recv() == f"m{index}"
        ws.send(b"\x00" * 100_000)
        assert ws.recv() == b"\x00" * 100_000
    with httpx.Client(base_url=daphne.url, timeout=20) as client:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            found = [
                e
                for e in client.get("/events").json()
                if e["kind"] == "websocket.disconnect" and e["reply_channel"] == reply_channel
            ]
            if found:
                break
            time.sleep(0.1)
    assert [(e["code"], e["order"]) for e in found] == [(1000, 22)]


def test_no_worker_answer_is_503_after_the_http_timeout(daphne):
    with httpx.Client(base_url=daphne.url, timeout=20) as client:
        assert client.get("/silent").status_code == 503


def test_force_sync_reads_the_inbox_from_a_thread(env, worker):
    process = start_daphne(env, "--force-sync")
    try:
        assert "in thread mode" in process.output()
        with httpx.Client(base_url=process.url, timeout=20) as client:
            assert client.get("/sync").json()["path"] == "/sync"
        with ws_connect(f"{process.ws_url}/echo") as ws:
            ws.send("x")
            assert ws.recv() == "x"
    finally:
        assert process.terminate() == 0, process.output()


def test_a_layer_path_that_does_not_import_fails_with_a_clear_message(env):
    process = Process("-m", "daphne", "tests.daphne.nothing_here:layer", env=env)
    assert process.popen.wait(30) == 2
    assert "Could not import module 'tests.daphne.nothing_here'" in process.output()


FORGED_THEN_APPENDED = {"X-Forwarded-For": "6.6.6.6, 203.0.113.5", "X-Forwarded-Proto": "https"}


def test_behind_a_trusted_proxy_the_forged_leftmost_address_is_not_the_client(env, worker):
    process = start_daphne(env, "--proxy-headers", "--proxy-trusted-ips", "127.0.0.1")
    try:
        with httpx.Client(base_url=process.url, timeout=20) as client:
            report = client.get("/who", headers=FORGED_THEN_APPENDED).json()
        assert report["client"] == ["203.0.113.5", 0] and report["scheme"] == "https"
        with ws_connect(f"{process.ws_url}/echo", additional_headers=FORGED_THEN_APPENDED) as ws:
            ws.send("x")
            assert ws.recv() == "x"
        # the access log names the same client, for the request and the socket
        log = process.wait_for(r'203\.0\.113\.5:0 - - \[[^]]*\] "WSCONNECT /echo')
        assert "6.6.6.6" not in log.string
    finally:
        assert process.terminate() == 0, process.output()


def test_proxy_headers_from_a_peer_not_in_the_trusted_list_are_ignored(env, worker):
    process = start_daphne(env, "--proxy-headers", "--proxy-trusted-ips", "10.0.0.0/8")
    try:
        with httpx.Client(base_url=process.url, timeout=20) as client:
            report = client.get("/who", headers=FORGED_THEN_APPENDED).json()
        assert report["client"][0] == "127.0.0.1" and report["scheme"] == "http"
    finally:
        assert process.terminate() == 0, process.output()
