"""SIGTERM while a large response streams: it finishes within
``--shutdown-timeout``, new requests get 503 meanwhile, and what the
deadline cuts off is counted in one WARNING."""

import signal
import threading
import uuid

import httpx
import pytest

from tests.daphne.processes import redis_daphne, redis_worker

pytestmark = pytest.mark.integration

MEGABYTES = 100


@pytest.fixture
def env(redis_url):
    return {"DAPHNE_TEST_REDIS_URL": redis_url, "DAPHNE_TEST_PREFIX": f"ss{uuid.uuid4().hex[:8]}:"}


@pytest.fixture
def worker(env):
    process = redis_worker(env, 2)
    yield process
    process.kill()


def start_daphne(env, *flags):
    return redis_daphne(env, "-v", "1", *flags)


def stream_then_sigterm(daphne):
    """Read ``/paced-stream`` in a thread, SIGTERM once 1 MB is in, then make a new
    request. Returns (bytes read, whether the stream ended cleanly, new status)."""
    result = {"read": 0, "complete": False}
    started = threading.Event()

    def read():
        try:
            with httpx.Client(timeout=30) as client:
                with client.stream("GET", f"{daphne.url}/paced-stream?mb={MEGABYTES}") as response:
                    for chunk in response.iter_bytes(65536):
                        result["read"] += len(chunk)
                        if result["read"] > 1_000_000:
                            started.set()
            result["complete"] = True
        except httpx.HTTPError as exc:
            result["error"] = exc
        started.set()

    thread = threading.Thread(target=read)
    thread.start()
    assert started.wait(30)
    daphne.popen.send_signal(signal.SIGTERM)
    daphne.wait_for("shutting down gracefully", timeout=5)
    with httpx.Client(timeout=5) as client:
        status = client.get(daphne.url + "/trivial").status_code
    thread.join(40)
    return result["read"], result["complete"], status


def test_sigterm_lets_a_100_mb_streamed_response_finish_and_answers_new_requests_503(env, worker):
    daphne = start_daphne(env)
    try:
        read, complete, status = stream_then_sigterm(daphne)
        assert daphne.popen.wait(30) == 0
    finally:
        daphne.kill()
    assert (read, complete) == (MEGABYTES * 1024 * 1024, True)
    assert status == 503
    assert "cutting off" not in daphne.output()


def test_a_response_cut_off_at_the_shutdown_timeout_is_counted_in_one_warning(env, worker):
    daphne = start_daphne(env, "--shutdown-timeout", "1")
    try:
        read, complete, _ = stream_then_sigterm(daphne)
        assert daphne.popen.wait(30) == 0
    finally:
        daphne.kill()
    assert not complete and read < MEGABYTES * 1024 * 1024
    assert (
        "WARNING  Shutdown timeout (1s) reached: cutting off 1 unfinished HTTP response(s) "
        "(/paced-stream) and aborting 0 WebSocket(s) still closing" in daphne.output()
    )
