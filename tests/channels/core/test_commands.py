"""``runserver`` and ``runworker`` as real subprocesses.

See docs/topics/workers.rst.

runserver serves a view and a WebSocket echo on the in-memory layer with no
Redis; runworker consumes from Redis for a separate daphne process.
"""

import signal
import socket

import httpx
import pytest
from websockets.sync.client import connect

from tests.support.process import Process, project_env
from tests.support.redis import free_port

pytestmark = pytest.mark.integration

START_TIMEOUT = 60


@pytest.fixture
def start():
    processes = []

    def start(argv, settings, extra_env=None):
        process = Process(argv, project_env(settings, **(extra_env or {})), START_TIMEOUT)
        processes.append(process)
        return process

    yield start
    for process in processes:
        process.stop()


def runserver(start, settings, *options, port=None):
    port = port or free_port()
    process = start(
        ["-m", "django", "runserver", f"127.0.0.1:{port}", "--noreload", *options], settings
    )
    process.wait_for_port(port)
    return process, port


def ws_echo(port, path="/echo/", text="ping"):
    with connect(f"ws://127.0.0.1:{port}{path}", open_timeout=20) as ws:
        ws.send(text)
        return ws.recv(timeout=20)


# -- runserver ---------------------------------------------------------------------


def test_runserver_serves_a_view_a_consumer_and_a_websocket_echo(start):
    process, port = runserver(start, "tests.channels.core.settings_inmemory")
    response = httpx.get(f"http://127.0.0.1:{port}/hello/?name=runserver", timeout=20)
    assert response.status_code == 200 and response.text == "hello runserver"
    assert response.cookies["greeted"] == "yes"
    assert httpx.get(f"http://127.0.0.1:{port}/raw/", timeout=20).text == "raw"
    assert ws_echo(port) == "ping"
    output = process.output
    assert "Channel layer default (asgi.inmemory.ChannelLayer)" in output
    assert "HTTP GET /hello/ 200" in output and "WebSocket CONNECT /echo/" in output


def test_runserver_on_a_plain_django_project_needs_no_channel_layers(start):
    process, port = runserver(start, "tests.channels.core.settings_plain")
    response = httpx.get(f"http://127.0.0.1:{port}/hello/", timeout=20)
    assert response.status_code == 200 and response.text == "hello world"
    # The default websocket.connect consumer accepts; receives are ignored.
    with connect(f"ws://127.0.0.1:{port}/anything/", open_timeout=20) as ws:
        ws.send("ignored")
    assert "asgi.inmemory.ChannelLayer" in process.output


def test_runserver_with_debug_serves_static_files(start, tmp_path):
    process, port = runserver(start, "tests.channels.core.settings_inmemory")
    response = httpx.get(f"http://127.0.0.1:{port}/static/channels/js/websocketbridge.js")
    assert response.status_code == 200 and b"WebSocketBridge" in response.content
    missing = httpx.get(f"http://127.0.0.1:{port}/static/nope.js", timeout=20)
    assert missing.status_code == 404


def test_runserver_noworker_leaves_requests_unanswered_until_http_timeout(start):
    process, port = runserver(
        start, "tests.channels.core.settings_inmemory", "--noworker", "--http_timeout", "2"
    )
    response = httpx.get(f"http://127.0.0.1:{port}/hello/", timeout=30)
    assert response.status_code == 503


def test_runserver_noasgi_runs_the_plain_wsgi_server(start):
    process, port = runserver(start, "tests.channels.core.settings_inmemory", "--noasgi")
    response = httpx.get(f"http://127.0.0.1:{port}/hello/?name=wsgi", timeout=20)
    assert response.text == "hello wsgi"
    assert "Channel layer" not in process.output
    assert "WSGIServer" in response.headers.get("server", "")


def test_runserver_stops_cleanly_on_sigint(start):
    process, port = runserver(start, "tests.channels.core.settings_inmemory")
    assert ws_echo(port) == "ping"
    process.signal(signal.SIGINT)
    assert process.wait() == 0


def test_runserver_with_the_autoreloader_serves(start):
    port = free_port()
    process = start(
        ["-m", "django", "runserver", f"127.0.0.1:{port}"], "tests.channels.core.settings_inmemory"
    )
    process.wait_for_port(port)
    assert ws_echo(port, text="reloaded") == "reloaded"
    assert "Watching for file changes" in process.output


# -- runworker against Redis, with a separate daphne -------------------------------


@pytest.fixture
def redis_env(redis_url):
    return {"TEST_REDIS_URL": redis_url}


def daphne(start, redis_env):
    port = free_port()
    process = start(
        [
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "tests.channels.core.asgi_redis_project:channel_layer",
        ],
        "tests.channels.core.settings_redis",
        redis_env,
    )
    process.wait_for_port(port)
    return port


def runworker(start, redis_env, *options):
    process = start(
        ["-m", "django", "runworker", *options], "tests.channels.core.settings_redis", redis_env
    )
    process.wait_for_output("Listening on channels")
    return process


def test_runworker_answers_http_and_websocket_for_daphne_over_redis(start, redis_env):
    worker = runworker(start, redis_env, "--threads", "2")
    port = daphne(start, redis_env)
    response = httpx.get(f"http://127.0.0.1:{port}/hello/?name=redis", timeout=20)
    assert response.status_code == 200 and response.text == "hello redis"
    assert httpx.get(f"http://127.0.0.1:{port}/raw/", timeout=20).text == "raw"
    assert ws_echo(port) == "ping"
    output = worker.output
    assert "Running worker against channel layer default (asgi_redis" in output
    assert "http.request" in output and "websocket.receive" in output
    assert "with 2 threads" in output


def test_runworker_finishes_the_current_message_on_sigterm_then_exits_0(start, redis_env):
    worker = runworker(start, redis_env)
    port = daphne(start, redis_env)
    with connect(f"ws://127.0.0.1:{port}/slow/", open_timeout=20) as ws:
        ws.send("work")
        worker.wait_for_output("slow_echo started")  # it now sleeps 1.5 s
        worker.signal(signal.SIGTERM)
        assert ws.recv(timeout=20) == "finished work"
    assert worker.wait() == 0
    assert "finishing the current message" in worker.output


def test_idle_runworker_exits_0_on_sigterm(start, redis_env):
    worker = runworker(start, redis_env)
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0


def test_runworker_channel_filters_and_the_warning_for_patterns_without_routes(start, redis_env):
    worker = runworker(
        start,
        redis_env,
        "--only-channels",
        "websocket.*",
        "--only-channels",
        "nothing.*",
        "--exclude-channels",
        "websocket.disconnect",
    )
    worker.wait_for_output("websocket.receive")
    output = worker.output
    assert "Listening on channels websocket.connect, websocket.receive\n" in output
    assert "--only-channels nothing.* matches no routed channel" in output


def test_runworker_with_nothing_to_listen_on_fails(start, redis_env):
    process = start(
        ["-m", "django", "runworker", "--only-channels", "nothing.*"],
        "tests.channels.core.settings_redis",
        redis_env,
    )
    assert process.wait() == 1
    assert "No channels to listen on" in process.output


def test_runworker_refuses_the_in_memory_layer(start):
    process = start(["-m", "django", "runworker"], "tests.channels.core.settings_inmemory")
    assert process.wait() == 1
    assert "only works inside one process" in process.output


def test_runworker_refuses_an_unknown_layer(start, redis_env):
    process = start(
        ["-m", "django", "runworker", "--layer", "nope"],
        "tests.channels.core.settings_redis",
        redis_env,
    )
    assert process.wait() == 1
    assert "No channel layer 'nope'" in process.output


def test_runserver_on_a_busy_port_fails_with_a_message(start):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        process = start(
            ["-m", "django", "runserver", f"127.0.0.1:{port}", "--noreload"],
            "tests.channels.core.settings_inmemory",
        )
        assert process.wait() == 1
    assert "Error: " in process.output and "already in use" in process.output
    assert "Traceback" not in process.output
