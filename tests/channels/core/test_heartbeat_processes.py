"""Heartbeats, the health check and the 503 explanation with real processes:
a ``daphne`` and a ``runworker`` on a private redis-server, both logging
with ``--log-format json``.

See docs/operating.rst, "Heartbeats and health checks".
"""

import json
import signal
import time

import httpx
import pytest

from asgi_redis import RedisChannelLayer
from tests.daphne.processes import Daphne, Process
from tests.support.redis import free_port

pytestmark = pytest.mark.integration

SETTINGS = "tests.channels.core.settings_redis"
LAYER = "tests.channels.core.asgi_redis_project:channel_layer"
TTL = "3"  # renewed every second, gone 3 s after the last renewal


@pytest.fixture
def redis(make_redis_server):
    """A redis-server of this test's own: no record of another test's processes."""
    server = make_redis_server()
    layer = RedisChannelLayer(hosts=[server.url])  # settings_redis's default prefix
    yield server, layer
    layer.close()


def env(settings=SETTINGS, **extra):
    return {"DJANGO_SETTINGS_MODULE": settings, **extra}


@pytest.fixture
def start(redis):
    """Start processes on this test's redis-server; each is killed at the end."""
    server, _ = redis
    processes = []

    def start(*argv, cls=Process):
        process = cls(*argv, env=env(TEST_REDIS_URL=server.url))
        processes.append(process)
        return process

    yield start
    for process in processes:
        process.kill()


def start_daphne(start, tmp_path, *options):
    daphne = start(
        "-m", "daphne", "-b", "127.0.0.1", "-p", "0",
        "--access-log", str(tmp_path / "access.log"),
        "--heartbeat-ttl", TTL, "--log-format", "json",
        *options, LAYER,
        cls=Daphne,
    )  # fmt: skip
    return daphne, daphne.url


def start_worker(start, *options):
    process = start(
        "-m", "django", "runworker", "--heartbeat-ttl", TTL, "--log-format", "json", *options
    )  # fmt: skip
    process.wait_for("Listening on channels")
    return process


def record_of(layer, process):
    records = [r for r in layer.inspect_processes() if r["pid"] == process.popen.pid]
    assert len(records) <= 1, records
    return records[0] if records else None


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} not within {timeout}s")


def json_lines(process):
    """Every line the process wrote, each parsed as one JSON object."""
    lines = [line for line in process.output().splitlines() if line.strip()]
    assert lines
    parsed = [json.loads(line) for line in lines]
    for entry in parsed:
        assert {"time", "level", "logger", "message"} <= set(entry), entry
    return parsed


def health(url):
    response = httpx.get(f"{url}/healthz", timeout=10)
    return response.status_code, response.json()


def test_health_is_503_until_a_worker_runs_200_while_it_lives_503_again_after_its_ttl(
    redis, start, tmp_path
):
    _, layer = redis
    daphne, url = start_daphne(start, tmp_path, "--health-path", "/healthz")
    record = wait_until(lambda: record_of(layer, daphne), 10, "daphne's record")
    assert record["kind"] == "daphne" and record["channels"][0].endswith("!*")
    assert health(url) == (
        503,
        {
            "status": "unavailable",
            "layer": "reachable",
            "workers": 0,
            "reason": "no live worker consumes http.request",
        },
    )
    refused = httpx.post(f"{url}/healthz", timeout=10)
    assert refused.status_code == 405 and refused.headers["allow"] == "GET, HEAD"

    worker = start_worker(start)
    wait_until(lambda: health(url)[0] == 200, 8, "200 once the worker runs")
    assert health(url)[1] == {"status": "ok", "layer": "reachable", "workers": 1, "reason": ""}
    assert httpx.get(f"{url}/hello/?name=beat", timeout=20).text == "hello beat"
    mine = wait_until(
        lambda: (r := record_of(layer, worker)) and r["handled"] >= 1 and r,
        8,
        "the worker's record counting the request",
    )
    assert mine["kind"] == "worker" and "http.request" in mine["channels"]
    assert mine["last_activity"] > mine["started"]

    worker.kill()  # SIGKILL, no clean stop: the record must expire
    killed = time.monotonic()
    wait_until(lambda: health(url)[0] == 503, 8, "503 after the worker's ttl")
    assert time.monotonic() - killed > 1.5, "it took the record's expiry, not a removal"

    assert daphne.terminate() == 0  # SIGTERM
    assert record_of(layer, daphne) is None, "a clean stop removes the record at once"
    json_lines(daphne)


def test_runworker_appears_in_inspect_processes_and_leaves_it_on_sigterm(redis, start):
    _, layer = redis
    worker = start("-m", "django", "runworker", "--threads", "2", "--log-format", "json")
    worker.wait_for("Listening on channels")
    record = wait_until(lambda: record_of(layer, worker), 10, "the worker's record")
    assert record["kind"] == "worker" and record["handled"] == 0
    assert {"http.request", "websocket.connect"} <= set(record["channels"])
    assert worker.terminate() == 0  # SIGTERM
    assert record_of(layer, worker) is None  # removed, not left to its 15 s ttl
    messages = [entry["message"] for entry in json_lines(worker)]
    assert any(m.startswith("Listening on channels") for m in messages)


def test_an_unanswered_request_503_says_no_worker_consumes_http_request(redis, start, tmp_path):
    _, layer = redis
    daphne, url = start_daphne(start, tmp_path, "-v", "2", "-t", "1")
    wait_until(lambda: record_of(layer, daphne), 10, "daphne's record")
    time.sleep(0.3)  # its first look at the live processes has come back
    response = httpx.get(f"{url}/hello/", timeout=10)
    assert response.status_code == 503
    assert "no live worker consumes http.request" in response.text
    assert daphne.terminate() == 0
    warnings = [e for e in json_lines(daphne) if e["message"].startswith("No response within")]
    assert warnings and "no live worker consumes http.request" in warnings[0]["message"]
    drops = [e for e in json_lines(daphne) if e["logger"] == "daphne.drops"]
    assert drops and (drops[0]["reason"], drops[0]["channel"], drops[0]["count"]) == (
        "timeout",
        "http.request",
        1,
    )


def test_runserver_keeps_a_daphne_and_a_worker_record_and_removes_both_on_stop(redis, start):
    _, layer = redis
    port = free_port()
    process = start("-m", "django", "runserver", f"127.0.0.1:{port}", "--noreload")
    process.wait_for("Listening on TCP address")

    def both():
        kinds = {r["kind"]: r for r in layer.inspect_processes() if r["pid"] == process.popen.pid}
        return kinds if set(kinds) == {"daphne", "worker"} else None

    records = wait_until(both, 10, "runserver's two records")
    assert "http.request" in records["worker"]["channels"]
    process.popen.send_signal(signal.SIGINT)
    assert process.popen.wait(20) == 0
    assert [r for r in layer.inspect_processes() if r["pid"] == process.popen.pid] == []


def test_runserver_noworker_503_page_says_why_under_debug():
    # settings_inmemory has DEBUG = True; no worker thread runs
    process = Daphne(
        "-m", "django", "runserver", "127.0.0.1:0", "--noreload", "--noworker",
        "--http_timeout", "1",
        env=env("tests.channels.core.settings_inmemory"),
    )  # fmt: skip
    try:
        response = httpx.get(f"{process.url}/hello/", timeout=20)
        assert response.status_code == 503
        assert "no live worker consumes http.request" in response.text
    finally:
        process.kill()
