"""A streamed request body that cannot be delivered must not stall the worker.

Real daphne and ``runworker`` processes on a private Redis. The worker is
kept busy (``/slow/``) while daphne streams a large upload, so the body's
chunks pile up in Redis; then a write to Redis fails mid-upload. daphne must
answer the client, tell the worker ``closed`` once Redis takes writes again,
and the worker must drop the request at once and serve the next one, not
wait out its body timeout.
"""

from __future__ import annotations

import os
import threading
import time

import httpx
import pytest
import redis

pytestmark = pytest.mark.integration

BODY = os.urandom(4 * 1024 * 1024)  # 16 chunks of 256 KiB after the inline first


def slow_request(stack, seconds: float, results: list) -> threading.Thread:
    """Keep the only worker busy for ``seconds`` (its request runs in a thread)."""

    def run() -> None:
        results.append(httpx.get(f"{stack.url}/slow/?s={seconds}", timeout=30).status_code)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    time.sleep(0.5)  # the worker has taken it
    return thread


def first_hello_within(stack, seconds: float) -> float | None:
    """Seconds until ``/hello/`` is answered 200, or None if not within ``seconds``."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        try:
            if httpx.get(f"{stack.url}/hello/", timeout=seconds).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return None


def test_redis_refusing_writes_mid_upload_ends_it_and_the_worker_drops_the_request_at_once(
    make_redis_server, make_stack
):
    server = make_redis_server()
    stack = make_stack([server.url], workers=1, daphne_args=("-t", "5"))
    client = redis.Redis.from_url(server.url)
    used = client.info("memory")["used_memory"]
    slow_results: list = []
    slow = slow_request(stack, 3, slow_results)
    # room for the http.request and a few chunks, then every write is refused
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", used + 1024 * 1024)
    try:
        upload = httpx.post(f"{stack.url}/echo/", content=BODY, timeout=30)
    finally:
        client.config_set("maxmemory", 0)  # Redis takes writes again
    # Redis refusing writes (OOM) is a layer outage to daphne: 503, not 500
    assert upload.status_code == 503 and upload.headers.get("retry-after"), upload.text
    assert "a request body chunk" in stack.daphne.output() or (
        "unavailable during the upload" in stack.daphne.output()
    ), stack.logs()
    slow.join(30)
    assert slow_results == [200]
    waited = first_hello_within(stack, 15)
    # without the closed chunk the worker would wait 25-60 s on the body channel
    assert waited is not None and waited < 5, stack.logs()


def test_a_body_channel_full_past_body_send_timeout_is_503_and_the_worker_drops_the_request(
    redis_url, make_stack
):
    stack = make_stack(
        [redis_url],
        workers=1,
        daphne_args=("-t", "30", "--body-send-timeout", "4"),
        env={"REL_BODY_CAPACITY": "1"},
    )
    slow_results: list = []
    # busy past the chunk's time limit, free well within the closed chunk's
    slow = slow_request(stack, 6, slow_results)
    started = time.monotonic()
    upload = httpx.post(f"{stack.url}/echo/", content=BODY, timeout=30)
    assert upload.status_code == 503 and upload.headers.get("retry-after")
    assert 3.5 < time.monotonic() - started < 10, "answered once body_send_timeout passed"
    assert "stayed full for 4s; abandoning the upload" in stack.daphne.output()
    slow.join(30)
    assert slow_results == [200]
    waited = first_hello_within(stack, 15)
    assert waited is not None and waited < 5, stack.logs()
