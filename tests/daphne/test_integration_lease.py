"""A daphne killed with SIGKILL: a surviving daphne sends its sockets'
disconnects once its lease runs out (real processes, real Redis)."""

from __future__ import annotations

import contextlib
import signal
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from asgi import _leases
from asgi_redis import RedisChannelLayer
from tests.daphne.processes import redis_daphne

pytestmark = pytest.mark.integration

SOCKETS = 100
LEASE_TTL = 3


def start_daphne(env):
    # 100 handshakes answered by the test on a busy machine: a long connect timeout
    return redis_daphne(
        env, "--lease-ttl", str(LEASE_TTL), "--websocket_connect_timeout", "30", "-v", "1"
    )


def receive_all(layer, channel, count, timeout):
    got, deadline = [], time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        got += layer.receive_batch([channel], block=True, limit=count - len(got))
    return got


def open_sockets(daphne, layer, paths, stack):
    """Open a WebSocket on each path at once, accepting them as a worker would."""
    with ThreadPoolExecutor(len(paths)) as pool:
        opening = [
            pool.submit(ws_connect, f"{daphne.ws_url}{path}", open_timeout=30) for path in paths
        ]
        assert accept_connects(layer, len(paths)) == len(paths)
        return [stack.enter_context(future.result()) for future in opening]


def accept_connects(layer, count):
    """Play the worker: accept every websocket.connect."""
    accepted = 0
    for _, message in receive_all(layer, "websocket.connect", count, 30):
        layer.send(message["reply_channel"], {"accept": True})
        accepted += 1
    return accepted


def wait_for_lease(layer, entries, timeout=10):
    client = layer.connection(0)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for key in client.keys(f"{layer.prefix}lease:*"):
            lease = client.hgetall(key)
            if len(lease) == SOCKETS and entries <= set(lease.values()):
                return key
        time.sleep(0.1)
    raise AssertionError("the lease never listed every socket")


@pytest.fixture
def layer_env(redis_url):
    prefix = f"lease{uuid.uuid4().hex[:8]}:"
    layer = RedisChannelLayer(hosts=[redis_url], prefix=prefix, capacity=1000)
    yield layer, {"DAPHNE_TEST_REDIS_URL": redis_url, "DAPHNE_TEST_PREFIX": prefix}
    layer.flush()
    layer.close()


@pytest.fixture
def stack():
    """Closes the test's client sockets at the end."""
    with contextlib.ExitStack() as stack:
        yield stack


def test_sigkilled_daphnes_100_sockets_get_disconnect_1006_within_ttl_plus_5s_once_each(
    layer_env, stack
):
    layer, env = layer_env
    survivor = start_daphne(env)
    victim = start_daphne(env)
    try:
        sockets = open_sockets(victim, layer, [f"/room/{i}/" for i in range(SOCKETS)], stack)
        sockets[0].send("hello")  # its disconnect's order moves on to 2
        assert len(receive_all(layer, "websocket.receive", 1, 10)) == 1
        lease_key = wait_for_lease(layer, {b"2 /room/0/", b"1 /room/99/"})

        victim.popen.kill()  # SIGKILL: no goodbye
        killed = time.monotonic()
        got = receive_all(layer, "websocket.disconnect", SOCKETS, LEASE_TTL + 5)
        elapsed = time.monotonic() - killed

        assert len(got) == SOCKETS, (elapsed, survivor.output())
        assert elapsed < LEASE_TTL + 5
        messages = {message["reply_channel"]: message for _, message in got}
        assert len(messages) == SOCKETS  # once each
        assert {message["code"] for message in messages.values()} == {1006}
        paths = sorted(message["path"] for message in messages.values())
        assert paths == sorted(f"/room/{i}/" for i in range(SOCKETS))
        orders = {message["path"]: message["order"] for message in messages.values()}
        assert orders["/room/0/"] == 2 and orders["/room/1/"] == 1
        # the lease is gone and nobody sends them a second time
        assert layer.connection(0).exists(lease_key) == 0
        time.sleep(LEASE_TTL / 3 * 2)
        assert layer.receive(["websocket.disconnect"]) == (None, None)
        survivor.wait_for(f"Sent {SOCKETS} disconnects for the sockets of daphne.response.")
    finally:
        victim.kill()
        assert survivor.terminate() == 0, survivor.output()


def test_a_daphne_stopped_cleanly_drops_its_lease_so_nothing_is_sent_twice(layer_env, stack):
    layer, env = layer_env
    survivor = start_daphne(env)
    leaving = start_daphne(env)
    try:
        open_sockets(leaving, layer, [f"/r/{i}/" for i in range(4)], stack)
        leaving.wait_for("Leasing this server's sockets")
        time.sleep(1.5)  # a renewal lists the sockets
        assert leaving.terminate() == 0, leaving.output()
        got = receive_all(layer, "websocket.disconnect", 8, LEASE_TTL + 3)
        assert len(got) == 4  # each socket's own disconnect (1001), none reaped
        assert {message["code"] for _, message in got} == {1001}
        # only the survivor (no sockets, so no entries) is left in the index
        assert layer.connection(0).zcard(f"{layer.prefix}leases") == 1
        assert layer.connection(0).keys(f"{layer.prefix}lease:*") == []
    finally:
        leaving.kill()
        assert survivor.terminate() == 0, survivor.output()


def test_a_daphne_whose_lease_was_reaped_while_frozen_closes_those_sockets_1013(layer_env, stack):
    layer, env = layer_env
    frozen = start_daphne(env)
    try:
        paths = [f"/f/{i}/" for i in range(SOCKETS)]
        sockets = open_sockets(frozen, layer, paths, stack)
        wait_for_lease(layer, {b"1 /f/0/"})

        frozen.popen.send_signal(signal.SIGSTOP)  # cut off: no renewal
        time.sleep(LEASE_TTL + 0.5)
        _leases.reap(layer)  # a survivor reaps it: the application lets them go
        reaped = receive_all(layer, "websocket.disconnect", SOCKETS, 10)
        assert len(reaped) == SOCKETS
        assert {message["code"] for _, message in reaped} == {1006}
        frozen.popen.send_signal(signal.SIGCONT)

        # back: its next renewal finds the lease gone and closes those sockets
        codes = []
        for ws in sockets:
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=LEASE_TTL + 10)
            codes.append(closed.value.rcvd.code)
        assert codes == [1013] * SOCKETS
        frozen.wait_for(f"Closed {SOCKETS} sockets with 1013 whose disconnects survivors sent")
        # and sends no second disconnect for them
        time.sleep(1)
        assert layer.receive(["websocket.disconnect"]) == (None, None)
    finally:
        with contextlib.suppress(OSError):
            frozen.popen.send_signal(signal.SIGCONT)
        assert frozen.terminate() == 0, frozen.output()
