"""``spin_wait``: a call polls its socket for Redis's reply before sleeping.

A prompt reply is picked up by polling (no sleep and wake-up); a reply that
takes longer still arrives through the ordinary blocking read, and a receive
with nothing to read does not keep polling."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from asgi_redis import RedisChannelLayer, RedisSentinelChannelLayer

pytestmark = pytest.mark.integration


class RecordingSocket:
    """A socket that notes whether each ``recv`` polled or slept."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.polls = 0
        self.sleeps = 0

    def recv(self, size: int, flags: int = 0) -> bytes:
        if flags & socket.MSG_DONTWAIT:
            self.polls += 1
        else:
            self.sleeps += 1
        return self._sock.recv(size, flags)

    def __getattr__(self, name: str):
        return getattr(self._sock, name)


def recorded_link(layer: RedisChannelLayer) -> RecordingSocket:
    """Open the layer's one link and record its reads from now on."""
    layer.send("spin.open", {})
    assert layer.receive(["spin.open"]) == ("spin.open", {})
    (link,) = layer._shards[0].links._idle
    link.sock = RecordingSocket(link.sock)
    return link.sock


def test_prompt_replies_are_polled_for_not_slept_on(make_layer):
    layer = make_layer(spin_wait=0.001)
    sock = recorded_link(layer)
    for n in range(50):
        layer.send("spin.chan", {"n": n})
        assert layer.receive(["spin.chan"]) == ("spin.chan", {"n": n})
    # 100 replies from a local server, each given a millisecond: nearly all
    # arrive while polling (a busy machine may deschedule us now and then).
    assert sock.polls >= 100
    assert sock.sleeps <= 20


def test_spin_wait_zero_sleeps_for_every_reply(make_layer):
    layer = make_layer(spin_wait=0)
    sock = recorded_link(layer)
    for n in range(20):
        layer.send("nospin.chan", {"n": n})
        assert layer.receive(["nospin.chan"]) == ("nospin.chan", {"n": n})
    assert sock.polls == 0
    assert sock.sleeps >= 40


def test_a_reply_slower_than_the_spin_still_arrives(make_layer):
    layer = make_layer(spin_wait=0.001)
    sock = recorded_link(layer)
    sender = make_layer(prefix=layer.prefix)
    timer = threading.Timer(0.3, sender.send, ("slow.chan", {"late": True}))
    timer.start()
    try:
        assert layer.receive(["slow.chan"], block=True) == ("slow.chan", {"late": True})
    finally:
        timer.cancel()
    assert sock.sleeps >= 1  # it gave up polling and slept until the push


def test_a_blocking_receive_with_nothing_to_read_does_not_keep_polling(make_layer):
    layer = make_layer(spin_wait=0.001)
    layer.blpop_timeout = 1
    layer.receive(["idle.spin"])  # connect first
    cpu, wall = time.process_time(), time.monotonic()
    assert layer.receive(["idle.spin", "idle.spin.proc!"], block=True) == (None, None)
    assert time.monotonic() - wall >= 0.9
    # A second of waiting; polling through it would cost about a second of CPU.
    assert time.process_time() - cpu < 0.2


@pytest.mark.parametrize("value", [-1e-6, 0.002, True, "50e-6", None])
@pytest.mark.parametrize("layer_class", [RedisChannelLayer, RedisSentinelChannelLayer])
def test_spin_wait_must_be_seconds_up_to_a_millisecond(layer_class, value):
    with pytest.raises(ValueError, match="spin_wait must be seconds from 0"):
        layer_class(spin_wait=value)


def test_spin_wait_is_kept_on_the_layer(redis_url):
    assert RedisChannelLayer(hosts=[redis_url]).spin_wait == 50e-6
    assert RedisChannelLayer(hosts=[redis_url], spin_wait=0).spin_wait == 0


def test_no_polling_while_another_thread_waits_on_the_same_server(make_layer):
    """A worker with threads: polling would hold the core and the GIL that
    the other threads' replies need."""
    layer = make_layer(spin_wait=0.001)
    layer.blpop_timeout = 2
    waiter = threading.Thread(target=layer.receive, args=(["other.chan"],), kwargs={"block": True})
    waiter.start()
    try:
        time.sleep(0.2)  # the other thread is now blocked on its link
        sock = recorded_link(layer)  # this thread's link
        for n in range(10):
            layer.send("busy.chan", {"n": n})
            assert layer.receive(["busy.chan"]) == ("busy.chan", {"n": n})
        assert sock.polls == 0
        assert sock.sleeps >= 20
    finally:
        layer.send("other.chan", {})  # wakes the waiting thread
        waiter.join(5)
    # Alone again: whichever link it takes, it polls again.
    links = layer._shards[0].links._idle
    for link in links:
        if not isinstance(link.sock, RecordingSocket):
            link.sock = RecordingSocket(link.sock)
    before = sum(link.sock.polls for link in links)
    for n in range(10):
        layer.send("busy.chan", {"n": n})
        assert layer.receive(["busy.chan"]) == ("busy.chan", {"n": n})
    assert sum(link.sock.polls for link in links) - before >= 10


def test_spin_wait_set_on_a_layer_applies_to_its_next_calls(make_layer):
    layer = make_layer()
    sock = recorded_link(layer)
    layer.spin_wait = 0
    for n in range(10):
        layer.send("set.chan", {"n": n})
        assert layer.receive(["set.chan"]) == ("set.chan", {"n": n})
    assert sock.polls == 0
    with pytest.raises(ValueError, match="spin_wait must be seconds from 0"):
        layer.spin_wait = 0.5
    assert layer.spin_wait == 0
