"""Sessions, auth, ordering, binding and delay end to end: real Redis, daphne,
``runworker --threads 2`` and ``rundelay`` processes, real WebSocket clients."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import httpx
import pytest
from websockets.sync.client import connect

from tests.support.process import ROOT, Process
from tests.support.redis import free_port

pytestmark = pytest.mark.integration

SETTINGS = "tests.channels.features.e2e_settings"
TIMEOUT = 60


class Stack:
    def __init__(self, port: int, worker: Process, delay: Process, env: dict) -> None:
        self.env = env
        self.port = port
        self.worker = worker
        self.delay = delay

    def ws(self, path: str, cookie: str | None = None, origin: str = "http://127.0.0.1"):
        headers = {"Cookie": cookie} if cookie else {}
        return connect(
            f"ws://127.0.0.1:{self.port}{path}",
            additional_headers=headers,
            origin=origin,
            open_timeout=20,
        )

    def login(self, username: str) -> str:
        response = httpx.get(
            f"http://127.0.0.1:{self.port}/login/", params={"username": username}, timeout=20
        )
        assert response.status_code == 200, response.text
        return f"sessionid={response.cookies['sessionid']}"


@pytest.fixture(scope="module")
def stack(redis_url):
    db = tempfile.NamedTemporaryFile(prefix="features-e2e-", suffix=".sqlite3", delete=False)
    db.close()
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE=SETTINGS,
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
        TEST_REDIS_URL=redis_url,
        FEATURES_DB=db.name,
    )
    migrate = subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    processes = []
    try:
        worker = Process(["-m", "django", "runworker", "--threads", "2"], env)
        processes.append(worker)
        delay = Process(["-m", "django", "rundelay", "--sleep", "0.2"], env)
        processes.append(delay)
        port = free_port()
        daphne = Process(
            [
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "tests.channels.features.e2e_asgi:channel_layer",
            ],
            env,
        )
        processes.append(daphne)
        worker.wait_for_output("Listening on channels")
        delay.wait_for_output("Delay server listening on asgi.delay")
        daphne.wait_for_port(port)
        yield Stack(port, worker, delay, env)
    finally:
        for process in processes:
            process.stop(signal.SIGTERM)
        os.unlink(db.name)


def test_chat_user_from_the_http_login_is_kept_for_later_frames(stack):
    cookie = stack.login("ada")
    with stack.ws("/chat/", cookie) as ada, stack.ws("/chat/", stack.login("alan")) as alan:
        ada.send("hello from ada")
        # Both users start with "a": slide 29 puts them in group chat-a.
        assert ada.recv(timeout=20) == "hello from ada"
        assert alan.recv(timeout=20) == "hello from ada"


def test_chat_refuses_a_foreign_origin(stack):
    from websockets.exceptions import InvalidStatus

    with pytest.raises(InvalidStatus) as info:
        with stack.ws("/chat/", stack.login("eve"), origin="http://evil.example"):
            pass
    assert info.value.response.status_code == 403


def test_strict_ordering_keeps_frames_in_order_across_two_worker_threads(stack):
    with stack.ws("/ordered/") as ws:
        for i in range(30):
            ws.send(f"f{i}")
        replies = [ws.recv(timeout=30) for _ in range(30)]
    assert replies == [f"{i + 1}:f{i}" for i in range(30)]


def test_concurrent_frames_of_one_connection_lose_no_session_keys(stack):
    with stack.ws("/tally/") as ws:
        for i in range(20):
            ws.send(f"k{i}")
        assert [ws.recv(timeout=30) for _ in range(20)] == ["ok"] * 20
        ws.send("count")
        assert ws.recv(timeout=30) == "20"


def test_binding_update_from_one_client_reaches_every_client(stack):
    with stack.ws("/binding/") as first, stack.ws("/binding/") as second:
        first.send(
            json.dumps(
                {
                    "stream": "intval",
                    "payload": {"action": "create", "data": {"name": "Cool", "value": "5"}},
                }
            )
        )
        created = json.loads(second.recv(timeout=20))
        assert json.loads(first.recv(timeout=20)) == created
        pk = created["payload"]["pk"]
        first.send(
            json.dumps(
                {
                    "stream": "intval",
                    "payload": {"action": "update", "data": {"value": "56"}, "pk": str(pk)},
                }
            )
        )
        updated = json.loads(second.recv(timeout=20))
    assert created["payload"] == {
        "action": "create",
        "data": {"name": "Cool", "value": 5},
        "model": "values.integervalue",
        "pk": pk,
    }
    assert updated == {
        "stream": "intval",
        "payload": {
            "action": "update",
            "data": {"name": "Cool", "value": 56},
            "model": "values.integervalue",
            "pk": pk,
        },
    }


def test_delayed_message_arrives_after_its_delay_despite_an_invalid_one(stack):
    with stack.ws("/delay/") as ws:
        started = time.monotonic()
        ws.send("700")
        assert ws.recv(timeout=30) == "after 700"
        assert time.monotonic() - started >= 0.7
    stack.delay.wait_for_output("Skipped an invalid asgi.delay message")
    assert stack.delay.popen.poll() is None


def test_idle_rundelay_exits_0_on_sigterm(stack, redis_url):
    env = dict(stack.env)
    delay = Process(["-m", "django", "rundelay"], env)
    try:
        delay.wait_for_output("Delay server listening on asgi.delay")  # signal handlers are set
        delay.popen.send_signal(signal.SIGTERM)
        assert delay.popen.wait(30) == 0
    finally:
        delay.stop(signal.SIGTERM)
