"""SIGTERM on Redis: the drain waits for every ``websocket.disconnect`` to be
sent (up to ``--shutdown-timeout``) and says how many were not."""

import asyncio
import os
import re
import signal
import uuid

import pytest

from tests.daphne.mass_sockets import open_sockets, wait_for_closes
from tests.daphne.processes import redis_daphne, redis_worker, wait_count

pytestmark = pytest.mark.integration

SOCKETS = 200
CONNECTS = re.compile(r'"kind": "websocket\.connect"')
DISCONNECTS = re.compile(r'"kind": "websocket\.disconnect".*"code": 1001')


@pytest.fixture
def env(redis_url):
    return {
        "DAPHNE_TEST_REDIS_URL": redis_url,
        "DAPHNE_TEST_PREFIX": f"sd{uuid.uuid4().hex[:8]}:",
        "DAPHNE_TEST_CAPACITY": "100",
        # 200 disconnects take the one worker about 8 s: more than the 2 s
        # the drain used to get
        "DAPHNE_TEST_DISCONNECT_DELAY": "0.04",
    }


@pytest.fixture
def worker(env):
    process = redis_worker(env, 1)
    yield process
    process.kill()


def start_daphne(env, *flags):
    return redis_daphne(env, "--access-log", os.devnull, *flags)


def open_then_sigterm(daphne, worker, count):
    async def scenario():
        clients = await open_sockets(daphne.host, daphne.port, count)
        assert wait_count(worker, CONNECTS, count, 30) == count
        daphne.popen.send_signal(signal.SIGTERM)
        return await wait_for_closes(clients, timeout=20)

    return asyncio.run(scenario())


def test_sigterm_closes_200_sockets_with_1001_and_delivers_every_disconnect(env, worker):
    daphne = start_daphne(env, "--shutdown-timeout", "20")
    try:
        codes = open_then_sigterm(daphne, worker, SOCKETS)
        assert codes == [1001] * SOCKETS
        assert daphne.popen.wait(30) == 0
    finally:
        daphne.kill()
    delivered = wait_count(worker, DISCONNECTS, SOCKETS, 20)
    assert delivered == SOCKETS, f"{delivered} of {SOCKETS} disconnects delivered"
    assert "not sent" not in daphne.output() and "not made" not in daphne.output()


def test_disconnects_still_unsent_at_the_shutdown_timeout_are_counted_in_a_warning(env, worker):
    daphne = start_daphne(env, "--shutdown-timeout", "1")
    try:
        codes = open_then_sigterm(daphne, worker, SOCKETS)
        assert codes == [1001] * SOCKETS
        assert daphne.popen.wait(30) == 0
    finally:
        daphne.kill()
    match = re.search(
        r"WARNING +Stopped with (\d+) send\(s\) not made \((\d+) websocket.disconnect not sent\)"
        r"(?:; (\d+) more sent with no answer yet \((\d+) websocket.disconnect\))?",
        daphne.output(),
    )
    assert match, daphne.output()[-2000:]
    not_sent = int(match.group(2))
    # sent when time ran out, unanswered: they may have landed or not
    on_the_way = int(match.group(4) or 0)
    delivered = wait_count(worker, DISCONNECTS, SOCKETS, 10)
    assert not_sent > 0
    assert delivered + not_sent <= SOCKETS <= delivered + not_sent + on_the_way, (
        delivered,
        not_sent,
        on_the_way,
    )
