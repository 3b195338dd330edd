"""Security on real processes: Redis AUTH and TLS, encrypted messages with key rotation,
header hygiene, error pages without internals, and unguessable channel-session keys."""

from __future__ import annotations

import hashlib
import threading
import time

import httpx
import pytest
import redis as redis_py
from django.test import override_settings
from websockets.sync.client import connect

from channels._session_store import channel_session_key
from tests.daphne.certs import write_self_signed
from tests.support.redis import free_port
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

MARKER = "PLAINTEXT-MARKER-5d1e"


def round_trip(stack: Stack) -> None:
    response = httpx.get(stack.url + "/hello/", timeout=15)
    assert response.status_code == 200 and response.text.startswith("hello from")
    with connect(stack.ws_url + "/echo/sec/", open_timeout=15) as ws:
        ws.send("secret frame")
        assert ws.recv(timeout=15) == "secret frame"


def test_the_stack_works_through_redis_auth(make_redis_server, make_stack):
    redis = make_redis_server("--requirepass", "s3cret-pw")
    stack = make_stack([f"redis://:s3cret-pw@127.0.0.1:{redis.port}/0"], workers=1)
    round_trip(stack)
    assert "s3cret-pw" not in stack.logs()


def test_the_stack_works_over_tls_with_auth_and_the_tls_port_refuses_plain_connections(
    make_redis_server, make_stack, tmp_path
):
    key, cert = write_self_signed(tmp_path)
    tls_port = free_port()
    redis = make_redis_server(
        "--tls-port", str(tls_port),
        "--tls-cert-file", str(cert),
        "--tls-key-file", str(key),
        "--tls-ca-cert-file", str(cert),
        "--tls-auth-clients", "no",
        "--requirepass", "tls-pw",
    )  # fmt: skip
    del redis  # the plain port only serves the fixture's readiness check
    stack = make_stack(
        [f"rediss://:tls-pw@127.0.0.1:{tls_port}/0"], workers=1, env={"REL_TLS_CA": str(cert)}
    )
    round_trip(stack)
    # The same port without TLS does not speak to us.
    plain = redis_py.Redis(host="127.0.0.1", port=tls_port, password="tls-pw", socket_timeout=3)
    with pytest.raises(redis_py.ConnectionError):
        plain.ping()
    plain.close()


def raw_values(client: redis_py.Redis, prefix: str) -> list[bytes]:
    """Every value stored under ``prefix``, whatever the key type."""
    values: list[bytes] = []
    for key in client.scan_iter(match=prefix + "*"):
        kind = client.type(key)
        if kind == b"string":
            values.append(client.get(key) or b"")
        elif kind == b"list":
            values.extend(client.lrange(key, 0, -1))
        elif kind == b"zset":
            values.extend(client.zrange(key, 0, -1))
        elif kind == b"hash":
            for field, value in client.hgetall(key).items():
                values.extend([field, value])
        elif kind == b"set":
            values.extend(client.smembers(key))
        elif kind == b"stream":
            for _id, fields in client.xrange(key):
                values.extend(v for pair in fields.items() for v in pair)
    return values


def park_a_request(stack: Stack) -> threading.Thread:
    """Stop the worker and leave a request carrying ``MARKER`` queued in Redis."""
    assert stack.workers[0].terminate() == 0

    def request() -> None:
        try:
            httpx.get(f"{stack.url}/hello/?note={MARKER}", timeout=60)
        except httpx.HTTPError:
            pass  # the stack stops under it at the end of the test

    thread = threading.Thread(target=request, daemon=True)
    thread.start()
    time.sleep(1.0)
    return thread


def test_without_encryption_the_marker_is_readable_in_redis(make_redis_server, make_stack):
    # The control for the next test: the scan does find plaintext when there is some.
    redis = make_redis_server()
    stack = make_stack([redis.url], workers=1, daphne_args=("-t", "30"))
    park_a_request(stack)
    client = redis_py.Redis.from_url(redis.url)
    assert any(MARKER.encode() in value for value in raw_values(client, stack.prefix))
    client.close()


def test_encrypted_messages_show_no_plaintext_in_redis_and_keys_rotate_without_loss(
    make_redis_server,
):
    redis = make_redis_server()
    # Mid-rotation: daphne still encrypts with the old key and already
    # accepts the new one; the worker encrypts with the new one and still
    # accepts the old one.
    stack = Stack([redis.url], workers=1, daphne_args=("-t", "30"))
    stack.daphne.env = dict(stack.env, REL_KEYS="old-key-0123,new-key-4567")
    stack.workers[0].env = dict(stack.env, REL_KEYS="new-key-4567,old-key-0123")
    try:
        stack.start()
        round_trip(stack)
        answer: list[httpx.Response] = []
        assert stack.workers[0].terminate() == 0
        request = threading.Thread(
            target=lambda: answer.append(httpx.get(f"{stack.url}/hello/?note={MARKER}", timeout=60))
        )
        request.start()
        time.sleep(1.0)
        client = redis_py.Redis.from_url(redis.url)
        values = raw_values(client, stack.prefix)
        client.close()
        assert values, "the parked request should be in Redis"
        assert not any(MARKER.encode() in value for value in values)
        assert not any(b"/hello/" in value for value in values)
        # The worker comes back and answers the request queued under the old key.
        stack.workers[0].start()
        request.join(60)
        assert answer and answer[0].status_code == 200
    finally:
        stack.stop()


def test_a_process_without_the_key_cannot_read_the_messages(make_redis_server):
    redis = make_redis_server()
    stack = Stack([redis.url], workers=1, daphne_args=("-t", "3"))
    stack.daphne.env = dict(stack.env, REL_KEYS="daphne-only-key")
    stack.workers[0].env = dict(stack.env, REL_KEYS="some-other-key")
    try:
        stack.workers[0].start()
        stack.daphne.start()
        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline and status is None:
            try:
                status = httpx.get(stack.url + "/hello/", timeout=15).status_code
            except httpx.HTTPError:
                time.sleep(0.2)
        assert status == 503
        assert stack.workers[0].alive(), stack.workers[0].output()
    finally:
        stack.stop()


def test_header_names_with_underscores_never_reach_the_application(shared_stack):
    response = httpx.get(
        shared_stack.url + "/headers/",
        headers={"X-Good": "1", "X_Evil": "2", "X-Also_Evil": "3"},
        timeout=15,
    )
    seen = response.json()
    assert seen.get("HTTP_X_GOOD") == "1"
    assert "HTTP_X_EVIL" not in seen and "HTTP_X_ALSO_EVIL" not in seen, seen


@pytest.mark.parametrize("path", ["/boom/", "/no-such-page/"])
def test_error_pages_show_no_internals_with_debug_off(shared_stack, path):
    response = httpx.get(shared_stack.url + path, timeout=15)
    assert response.status_code in (404, 500)
    for leak in ("internal-detail", "Traceback", "RuntimeError", "/work", ".py", "SECRET"):
        assert leak not in response.text, (leak, response.text[:500])


def test_daphne_error_pages_do_not_name_the_layer_or_its_hosts(make_redis_server, make_stack):
    redis = make_redis_server()
    stack = make_stack([redis.url], workers=1, daphne_args=("-t", "2"))
    assert stack.workers[0].terminate() == 0
    timed_out = httpx.get(stack.url + "/hello/", timeout=15)
    redis.kill()
    unavailable = httpx.get(stack.url + "/hello/", timeout=15)
    for response in (timed_out, unavailable):
        assert response.status_code == 503
        for leak in (str(redis.port), "redis", "Redis", stack.prefix, "Traceback"):
            assert leak not in response.text, (leak, response.text)


def test_a_channel_session_key_cannot_be_computed_from_the_reply_channel_alone():
    reply = "daphne.response.AbCdEf!GhIjKl"
    with override_settings(SECRET_KEY="first-secret"):
        first = channel_session_key(reply)
    with override_settings(SECRET_KEY="second-secret"):
        second = channel_session_key(reply)
    assert first != second
    assert len(first) == len(second) == 32
    for guess in (hashlib.sha1, hashlib.sha256, hashlib.md5):
        assert guess(reply.encode()).hexdigest()[:29] not in (first[3:], second[3:])
