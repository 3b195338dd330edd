"""Blocking receives wait inside Redis: no polling, prompt wake-up on every
shard, longer than redis-py's default socket timeout, and from event loops
(receive_twisted, receive_async)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
import redis

from asgi_redis import RedisChannelLayer, RedisUnavailable
from tests.support.redis import free_port

pytestmark = pytest.mark.integration


def command_calls(client) -> int:
    return sum(stat["calls"] for stat in client.info("commandstats").values())


def send_later(layer, channel, message, delay):
    timer = threading.Timer(delay, layer.send, (channel, message))
    timer.start()
    return timer


def test_an_idle_blocking_receive_sends_no_commands_while_it_waits(make_layer, redis_url):
    layer = make_layer()
    layer.blpop_timeout = 2
    layer.receive(["idle.chan"])  # connect and load scripts first
    with redis.Redis.from_url(redis_url) as client:
        before = command_calls(client)
        started = time.monotonic()
        assert layer.receive(["idle.chan", "idle.proc!"], block=True) == (None, None)
        assert time.monotonic() - started >= 1.9
        # The BLPOP itself, the TIME of the clock check at most, and the
        # INFO call of this test.
        assert command_calls(client) - before <= 3


def test_a_blocking_receive_outlasts_redis_py_default_socket_timeout(make_layer):
    layer = make_layer()
    layer.blpop_timeout = 9
    default = redis.Redis().connection_pool.connection_kwargs.get("socket_timeout")
    assert default is None or default <= 5  # redis-py 8: 5 s; before: none
    timer = send_later(layer, "long.chan", {"late": True}, 6.0)
    started = time.monotonic()
    try:
        assert layer.receive(["long.chan"], block=True) == ("long.chan", {"late": True})
    finally:
        timer.cancel()
    assert time.monotonic() - started >= 5.5


def test_a_process_inbox_wakes_its_reader_as_soon_as_a_reply_lands(make_layer):
    layer = make_layer()
    layer.receive(["wake.proc!"])
    send_later(layer, "wake.proc!conn7", {"status": 200}, 0.3)
    started = time.monotonic()
    assert layer.receive(["wake.proc!"], block=True) == ("wake.proc!conn7", {"status": 200})
    assert time.monotonic() - started < 2.0


@pytest.fixture
def sharded(shard_servers):
    layer = RedisChannelLayer(hosts=[s.url for s in shard_servers], prefix="blk:")
    layer.flush()
    yield layer
    layer.flush()
    layer.close()


def test_a_blocking_receive_on_a_normal_channel_watches_every_shard(sharded, shard_servers):
    clients = [redis.Redis.from_url(s.url) for s in shard_servers]

    def sends_per_shard():
        return [c.info("commandstats").get("cmdstat_rpush", {}).get("calls", 0) for c in clients]

    before = sends_per_shard()
    for round_ in range(6):
        timer = send_later(sharded, "work.chan", {"round": round_}, 0.2)
        started = time.monotonic()
        assert sharded.receive(["work.chan"], block=True) == ("work.chan", {"round": round_})
        assert time.monotonic() - started < 2.0
        timer.join()
        # Nothing stays blocked on the other shards once receive returns.
        assert [c.info("clients")["blocked_clients"] for c in clients] == [0, 0, 0]
    # The six messages went round the shards, two to each, and were all
    # picked up promptly by a receiver waiting on every shard.
    assert [after - b for after, b in zip(sends_per_shard(), before)] == [2, 2, 2]
    for client in clients:
        client.close()


def test_messages_on_several_shards_at_once_are_all_delivered_once(sharded, shard_servers):
    for n in range(3):
        sharded.send("multi.chan", {"n": n})  # one per shard, round-robin
    got = [sharded.receive(["multi.chan"], block=True)[1]["n"] for _ in range(3)]
    assert sorted(got) == [0, 1, 2]
    assert sharded.receive(["multi.chan"]) == (None, None)


def test_sharded_capacity_is_exactly_the_channel_capacity(shard_servers):
    layer = RedisChannelLayer(hosts=[s.url for s in shard_servers], prefix="cap3:", capacity=4)
    try:
        for _ in range(4):
            layer.send("cap.chan", {})
        with pytest.raises(layer.ChannelFull):
            layer.send("cap.chan", {})
        assert layer.channel_statistics("cap.chan")["messages_pending"] == 4
        assert layer.global_statistics()["channel_full_count"] == 1
    finally:
        layer.flush()


def test_process_channels_and_their_group_membership_live_on_one_shard(sharded, shard_servers):
    sharded.send("pin.proc!a", {})
    sharded.group_add("pin-group", "pin.proc!b")
    index = sharded.consistent_hash("pin.proc!")
    for number, server in enumerate(shard_servers):
        with redis.Redis.from_url(server.url) as client:
            keys = {k.decode() for k in client.scan_iter(match="blk:*")}
        expected = {"blk:pin.proc!", "blk:group:pin-group", "blk:groupcap:pin-group"}
        assert keys == (expected if number == index else set())


def test_group_send_reaches_members_on_every_shard(sharded):
    members = [f"spread.m{i}" for i in range(30)] + [f"spread.p{i}!x" for i in range(6)]
    for member in members:
        sharded.group_add("spread", member)
    assert {sharded.consistent_hash(sharded.non_local_name(m)) for m in members} == {0, 1, 2}
    sharded.send_group("spread", {"hi": 1})
    for member in members:
        queue = sharded.non_local_name(member)
        assert sharded.receive([queue], block=True) == (member, {"hi": 1})
    assert sorted(sharded.group_channels("spread")) == sorted(members)


class FakeReactor:
    """Records callFromThread calls, like a reactor thread would run them."""

    def __init__(self):
        self.called = threading.Event()

    def callFromThread(self, function, *args):  # noqa: N802 - Twisted's name
        function(*args)
        self.called.set()


def test_receive_twisted_fires_a_deferred_with_the_message(make_layer):
    layer = make_layer()
    reactor = FakeReactor()
    layer.twisted_reactor = lambda: reactor
    results = []
    deferred = layer.receive_twisted(["tw.proc!"])
    deferred.addCallback(results.append)
    assert not results
    layer.send("tw.proc!c1", {"bytes": b"\x00"})
    assert reactor.called.wait(10)
    assert results == [("tw.proc!c1", {"bytes": b"\x00"})]


def test_receive_twisted_errbacks_when_redis_is_unreachable():
    layer = RedisChannelLayer(hosts=[("127.0.0.1", free_port())])
    reactor = FakeReactor()
    layer.twisted_reactor = lambda: reactor
    failures = []
    layer.receive_twisted(["tw.down!"]).addErrback(failures.append)
    assert reactor.called.wait(10)
    assert failures and failures[0].check(RedisUnavailable)
    layer.close()


def test_receive_twisted_validates_names_before_returning():
    layer = RedisChannelLayer()
    with pytest.raises(TypeError):
        layer.receive_twisted(["bad name"])


def test_receive_async_awaits_a_message_without_blocking_the_loop(make_layer):
    layer = make_layer()

    async def scenario():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        send_later(layer, "as.chan", {"ok": True}, 0.3)
        result = await layer.receive_async(["as.chan"])
        task.cancel()
        return result, ticks

    result, ticks = asyncio.run(scenario())
    assert result == ("as.chan", {"ok": True})
    assert ticks >= 5  # the loop kept running while the receive waited


def test_cancelling_a_blocking_pop_right_after_sending_it_never_hangs(make_layer, redis_url):
    layer = make_layer()
    shard = layer.shard(0)
    with redis.Redis.from_url(redis_url) as client:
        for _ in range(20):
            started = time.monotonic()
            link = shard.start_blpop([b"nothing.here"], 3.0)
            try:
                assert shard.cancel_blpop(link, time.monotonic() + 3.0) is None
            finally:
                shard.links.release(link)
            assert time.monotonic() - started < 1.0
            assert client.info("clients")["blocked_clients"] == 0


def test_cancelling_returns_a_message_that_raced_in(make_layer):
    layer = make_layer()
    shard = layer.shard(0)
    key = (layer.prefix + "race.chan").encode()
    link = shard.start_blpop([key], 3.0)
    try:
        layer.send("race.chan", {"won": True})
        time.sleep(0.1)
        reply = shard.cancel_blpop(link, time.monotonic() + 3.0)
    finally:
        shard.links.release(link)
    assert reply is not None and reply[0] == key


def test_an_idle_receiver_uses_almost_no_cpu(make_layer, shard_servers):
    single = make_layer()
    single.blpop_timeout = 1
    sharded = RedisChannelLayer(hosts=[s.url for s in shard_servers], prefix="idlecpu:")
    sharded.blpop_timeout = 1
    single.receive(["cpu.chan"])
    sharded.receive(["cpu.chan"])
    cpu = time.process_time()
    wall = time.monotonic()
    for _ in range(2):
        assert single.receive(["cpu.chan", "cpu.proc!"], block=True) == (None, None)
        assert sharded.receive(["cpu.chan"], block=True) == (None, None)
    assert time.monotonic() - wall >= 3.5
    # A polling loop would burn most of the 4 s; waiting in Redis costs ~nothing.
    assert time.process_time() - cpu < 0.2
    sharded.close()


def test_receives_work_when_the_process_holds_more_than_1024_descriptors(shard_servers):
    import os
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(2048, hard), hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]  # like a busy daphne
    layer = RedisChannelLayer(hosts=[s.url for s in shard_servers], prefix="manyfds:")
    try:
        timer = send_later(layer, "fds.chan", {"ok": 1}, 0.2)
        assert layer.receive(["fds.chan"], block=True) == ("fds.chan", {"ok": 1})
        timer.join()
        assert layer.shard(0).links.acquire().sock.fileno() > 1024
    finally:
        for fd in held:
            os.close(fd)
        layer.close()


def test_receive_twisted_hands_out_batched_messages_without_the_thread_pool(make_layer):
    layer = make_layer()
    reactor = FakeReactor()
    layer.twisted_reactor = lambda: reactor
    for n in range(3):
        layer.send(f"twb.proc!c{n}", {"n": n})
    first = []
    layer.receive_twisted(["twb.proc!"]).addCallback(first.append)
    assert reactor.called.wait(10)
    assert first == [("twb.proc!c0", {"n": 0})]
    reactor.called.clear()
    # The other two came in the same pop: their Deferreds fire at once.
    rest = []
    for _ in range(2):
        layer.receive_twisted(["twb.proc!"]).addCallback(rest.append)
    assert rest == [("twb.proc!c1", {"n": 1}), ("twb.proc!c2", {"n": 2})]
    assert not reactor.called.is_set()


def test_a_blocking_receive_interrupted_by_a_signal_leaves_no_pop_behind(make_redis_server):
    # SIGINT stops runworker this way: KeyboardInterrupt out of a blocking
    # receive. The pop still waiting in Redis must not take the next message
    # for nobody, nor its reply reach the next command on that connection.
    import signal

    server = make_redis_server()
    layer = RedisChannelLayer(hosts=[server.url], prefix="intr:")
    layer.blpop_timeout = 30

    class Interrupted(Exception):
        pass

    def interrupt(signum, frame):
        raise Interrupted

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        with pytest.raises(Interrupted):
            layer.receive(["intr.chan"], block=True)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    with redis.Redis.from_url(server.url) as client:
        deadline = time.monotonic() + 10
        while client.info("clients")["blocked_clients"] and time.monotonic() < deadline:
            time.sleep(0.01)
        assert client.info("clients")["blocked_clients"] == 0  # the pop was dropped
    layer.send("intr.chan", {"n": 1})
    assert layer.receive(["intr.chan"]) == ("intr.chan", {"n": 1})
    layer.send_group("intr.none", {"n": 2})  # one more command: its reply is its own
    layer.close()
