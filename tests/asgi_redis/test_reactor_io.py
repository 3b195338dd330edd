"""receive_twisted on a real reactor: the blocking pop runs on a connection
the reactor itself reads (no thread per receive), over TCP and unix
sockets; TLS shards, receives over several shards and stand-in reactors
keep the thread path (batches over several shards: test_spread_batch.py);
a lost, killed or frozen server fails the Deferred promptly."""

from __future__ import annotations

import signal
import threading
import time

import pytest
import redis
from twisted.python.failure import Failure

from asgi_redis import RedisChannelLayer, RedisUnavailable
from tests.asgi_redis.test_faults import tls_layer_options
from tests.support.redis import free_port

pytestmark = pytest.mark.integration


def on(layer: RedisChannelLayer, reactor) -> RedisChannelLayer:
    layer.twisted_reactor = lambda: reactor
    return layer


def settle(reactor, deferred, timeout: float = 10.0):
    """Step the reactor until ``deferred`` fires; its result (raises a failure)."""
    results: list = []
    deferred.addBoth(results.append)
    deadline = time.monotonic() + timeout
    while not results and time.monotonic() < deadline:
        reactor.iterate(0.01)
    assert results, f"the Deferred did not fire within {timeout} s"
    if isinstance(results[0], Failure):
        results[0].raiseException()
    return results[0]


def watch(deferred) -> list:
    """A list that gets the Deferred's result when it fires (passed on unchanged)."""
    seen: list = []

    def record(result):
        seen.append(result)
        return result

    deferred.addBoth(record)
    return seen


def threads_named(prefix: str) -> int:
    return sum(thread.name.startswith(prefix) for thread in threading.enumerate())


def test_a_reply_is_popped_on_the_reactor_not_in_a_thread(make_layer, reactor, monkeypatch):
    layer = on(make_layer(), reactor)
    layer.send("rp.proc!warm", {"n": 0})
    assert settle(reactor, layer.receive_twisted(["rp.proc!"])) == ("rp.proc!warm", {"n": 0})
    # From now on the connection exists: no receive may use the thread pool.
    monkeypatch.setattr(
        layer, "_receive_in_thread", lambda *a: pytest.fail("went through the thread pool")
    )
    pending = layer.receive_twisted(["rp.proc!"])
    seen = watch(pending)
    reactor.iterate(0.05)
    assert not seen  # it waits inside Redis
    layer.send("rp.proc!c1", {"bytes": b"\x00", "text": "é"})
    assert settle(reactor, pending) == ("rp.proc!c1", {"bytes": b"\x00", "text": "é"})


def test_a_batch_popped_on_the_reactor_is_handed_out_in_order(make_layer, reactor):
    layer = on(make_layer(), reactor)
    for n in range(5):
        layer.send(f"rb.proc!c{n}", {"n": n})
    got = [settle(reactor, layer.receive_twisted(["rb.proc!"])) for _ in range(5)]
    assert got == [(f"rb.proc!c{n}", {"n": n}) for n in range(5)]
    assert layer.receive(["rb.proc!"]) == (None, None)


def test_a_blocking_pop_on_the_reactor_times_out_with_nothing(make_layer, reactor):
    layer = on(make_layer(), reactor)
    layer.blpop_timeout = 0.3
    started = time.monotonic()
    assert settle(reactor, layer.receive_twisted(["rt.proc!"])) == (None, None)
    assert 0.25 < time.monotonic() - started < 5


def test_concurrent_receives_each_get_a_connection(make_redis_server, reactor):
    server = make_redis_server()
    redis_url = server.url
    layer = on(RedisChannelLayer(hosts=[redis_url]), reactor)
    first = layer.receive_twisted(["rc.one!"])
    first_seen = watch(first)
    second = layer.receive_twisted(["rc.two!"])
    deadline = time.monotonic() + 5
    with redis.Redis.from_url(redis_url) as client:
        while client.info("clients")["blocked_clients"] < 2 and time.monotonic() < deadline:
            reactor.iterate(0.01)
        assert client.info("clients")["blocked_clients"] >= 2
    layer.send("rc.two!x", {"n": 2})  # the second is not stuck behind the first
    assert settle(reactor, second) == ("rc.two!x", {"n": 2})
    assert not first_seen
    layer.send("rc.one!x", {"n": 1})
    assert settle(reactor, first) == ("rc.one!x", {"n": 1})
    layer.close()


def test_expired_messages_are_skipped(make_layer, reactor):
    layer = on(make_layer(expiry=1), reactor)
    layer.blpop_timeout = 0.5
    layer.send("rx.proc!old", {"n": 1})
    time.sleep(1.2)
    layer.send("rx.proc!new", {"n": 2})
    results = [settle(reactor, layer.receive_twisted(["rx.proc!"])) for _ in range(2)]
    assert ("rx.proc!new", {"n": 2}) in results
    assert ("rx.proc!old", {"n": 1}) not in results


def test_a_killed_server_fails_the_pending_receive_and_the_layer_recovers(
    make_redis_server, reactor
):
    server = make_redis_server()
    layer = on(RedisChannelLayer(hosts=[server.url]), reactor)
    try:
        layer.send("rk.proc!a", {"n": 1})
        assert settle(reactor, layer.receive_twisted(["rk.proc!"])) == ("rk.proc!a", {"n": 1})
        pending = layer.receive_twisted(["rk.proc!"])
        reactor.iterate(0.05)
        server.kill()
        started = time.monotonic()
        with pytest.raises(RedisUnavailable, match=f"127.0.0.1:{server.port}"):
            settle(reactor, pending)
        assert time.monotonic() - started < 3
        with pytest.raises(RedisUnavailable):
            settle(reactor, layer.receive_twisted(["rk.proc!"]))
        server.start()
        time.sleep(0.3)  # sends trust a link used in the last 0.25 s (see test_faults)
        layer.send("rk.proc!b", {"n": 2})
        assert settle(reactor, layer.receive_twisted(["rk.proc!"])) == ("rk.proc!b", {"n": 2})
    finally:
        layer.close()


def test_an_unreachable_host_fails_the_deferred(reactor):
    layer = on(RedisChannelLayer(hosts=[("127.0.0.1", free_port())]), reactor)
    with pytest.raises(RedisUnavailable, match="unreachable"):
        settle(reactor, layer.receive_twisted(["ru.proc!"]))
    layer.close()


def test_a_frozen_server_fails_the_pop_after_its_timeout_and_grace(make_redis_server, reactor):
    server = make_redis_server()

    class QuickLayer(RedisChannelLayer):
        blpop_timeout = 0.5

    layer = on(QuickLayer(hosts=[server.url]), reactor)
    try:
        assert settle(reactor, layer.receive_twisted(["rf.proc!"])) == (None, None)
        server.process.send_signal(signal.SIGSTOP)
        try:
            started = time.monotonic()
            with pytest.raises(RedisUnavailable, match="did not answer in time"):
                settle(reactor, layer.receive_twisted(["rf.proc!"]), timeout=15)
            assert 5.0 < time.monotonic() - started < 8.0
        finally:
            server.process.send_signal(signal.SIGCONT)
        # The abandoned pop may still run once the server wakes (and take a
        # message nobody reads, as on the thread path): let it time out first.
        time.sleep(1.0)
        layer.send("rf.proc!a", {"n": 1})
        assert settle(reactor, layer.receive_twisted(["rf.proc!"])) == ("rf.proc!a", {"n": 1})
    finally:
        layer.close()


def test_a_unix_socket_shard_is_popped_on_the_reactor(make_redis_server, tmp_path, reactor):
    path = tmp_path / "redis.sock"
    make_redis_server("--unixsocket", str(path), "--unixsocketperm", "700")
    layer = on(RedisChannelLayer(hosts=[f"unix://{path}?db=0"]), reactor)
    try:
        layer.send("ru.proc!a", {"via": "unix"})
        assert settle(reactor, layer.receive_twisted(["ru.proc!"])) == (
            "ru.proc!a",
            {"via": "unix"},
        )
        assert layer._reactor_links[0]._idle  # the adopted connection
    finally:
        layer.close()


def test_a_tls_shard_falls_back_to_the_thread_path(make_redis_server, tmp_path, reactor):
    layer = on(RedisChannelLayer(**tls_layer_options(make_redis_server, tmp_path)), reactor)
    try:
        layer.send("rs.proc!a", {"n": 1})
        layer.send("rs.proc!b", {"n": 2})
        assert settle(reactor, layer.receive_twisted(["rs.proc!"])) == ("rs.proc!a", {"n": 1})
        assert layer._reactor_links[0].usable is False
        assert settle(reactor, layer.receive_twisted(["rs.proc!"])) == ("rs.proc!b", {"n": 2})
    finally:
        layer.close()


def test_normal_channels_on_several_shards_keep_the_thread_path(shard_servers, reactor):
    layer = on(RedisChannelLayer(hosts=[s.url for s in shard_servers], prefix="rpn:"), reactor)
    try:
        layer.send("rn.chan", {"n": 1})
        assert settle(reactor, layer.receive_twisted(["rn.chan"])) == ("rn.chan", {"n": 1})
        assert not layer._reactor_links
    finally:
        layer.flush()
        layer.close()


def test_reactor_io_can_be_switched_off(make_layer, reactor):
    layer = on(make_layer(), reactor)
    layer.reactor_io = False
    assert settle(reactor, layer.send_batch_twisted([("ro.proc!a", {"n": 1})])) == [None]
    assert settle(reactor, layer.receive_twisted(["ro.proc!"])) == ("ro.proc!a", {"n": 1})
    assert not layer._reactor_links
    assert threads_named("asgi_redis-receive") >= 1


def test_closing_the_layer_closes_its_reactor_connections(make_redis_server, reactor):
    redis_url = make_redis_server().url
    layer = on(RedisChannelLayer(hosts=[redis_url]), reactor)
    pending = layer.receive_twisted(["rz.proc!"])
    with redis.Redis.from_url(redis_url) as client:
        deadline = time.monotonic() + 5
        while client.info("clients")["blocked_clients"] < 1 and time.monotonic() < deadline:
            reactor.iterate(0.01)
        assert client.info("clients")["blocked_clients"] == 1
        layer.close()
        with pytest.raises(RedisUnavailable):
            settle(reactor, pending)
        deadline = time.monotonic() + 5
        while client.info("clients")["blocked_clients"] and time.monotonic() < deadline:
            time.sleep(0.02)
        assert client.info("clients")["blocked_clients"] == 0


# -- send_batch_twisted ---------------------------------------------------------------


def test_a_batch_is_written_on_the_reactor_and_lands_in_order(make_layer, reactor, monkeypatch):
    layer = on(make_layer(), reactor)
    assert settle(reactor, layer.send_batch_twisted([("sb.chan", {"n": 0})])) == [None]
    monkeypatch.setattr(layer, "_in_pool", lambda *a: pytest.fail("went through the thread pool"))
    batch = [("sb.chan", {"n": n}) for n in range(1, 6)] + [("sb.proc!x", {"n": 99})]
    assert settle(reactor, layer.send_batch_twisted(batch)) == [None] * 6
    assert [m["n"] for _, m in layer.receive_batch(["sb.chan"], limit=10)] == list(range(6))
    assert layer.receive(["sb.proc!"]) == ("sb.proc!x", {"n": 99})


def test_a_bad_message_in_a_batch_fails_alone(make_layer, reactor):
    layer = on(make_layer(), reactor)
    outcome = settle(
        reactor,
        layer.send_batch_twisted([("sbb.chan", {"n": 1}), ("sbb.chan", ["no"]), ("bad name", {})]),
    )
    assert outcome[0] is None
    assert isinstance(outcome[1], TypeError) and isinstance(outcome[2], TypeError)
    assert layer.receive(["sbb.chan"]) == ("sbb.chan", {"n": 1})


def test_a_full_channel_in_a_batch_refuses_the_rest_in_order(make_layer, reactor):
    layer = on(make_layer(capacity=2), reactor)
    outcome = settle(reactor, layer.send_batch_twisted([("sbf.chan", {"n": n}) for n in range(4)]))
    assert outcome[:2] == [None, None]
    assert all(isinstance(error, layer.ChannelFull) for error in outcome[2:])
    assert [m["n"] for _, m in layer.receive_batch(["sbf.chan"], limit=10)] == [0, 1]
    assert layer.channel_statistics("sbf.chan")  # the layer still answers


def test_a_batch_to_a_dead_server_fails_each_message_and_the_layer_recovers(
    make_redis_server, reactor
):
    server = make_redis_server()
    layer = on(RedisChannelLayer(hosts=[server.url]), reactor)
    try:
        assert settle(reactor, layer.send_batch_twisted([("sbd.chan", {"n": 0})])) == [None]
        server.kill()
        outcome = settle(
            reactor, layer.send_batch_twisted([("sbd.chan", {"n": n}) for n in (1, 2)])
        )
        assert len(outcome) == 2
        assert all(isinstance(error, RedisUnavailable) for error in outcome)
        server.start()
        time.sleep(0.3)  # blocking calls trust a link used in the last 0.25 s (see test_faults)
        assert settle(reactor, layer.send_batch_twisted([("sbd.chan", {"n": 3})])) == [None]
        assert layer.receive(["sbd.chan"]) == ("sbd.chan", {"n": 3})
    finally:
        layer.close()


def test_dials_during_an_outage_do_not_use_up_the_connection_pool(make_redis_server, reactor):
    # Every send during an outage dials a new reactor connection. Those must
    # not count against redis-py's max_connections (100 by default): the
    # reactor never hands them back, so once the count was used up no dial
    # could succeed again and daphne answered 503 for ever after Redis
    # returned.
    server = make_redis_server()
    layer = on(
        RedisChannelLayer(hosts=[server.url], connection_kwargs={"max_connections": 3}), reactor
    )
    try:
        assert settle(reactor, layer.send_batch_twisted([("dial.chan", {"n": 0})])) == [None]
        server.kill()
        for n in range(10):
            outcome = settle(reactor, layer.send_batch_twisted([("dial.chan", {"n": n})]))
            assert isinstance(outcome[0], RedisUnavailable), outcome
        server.start()
        time.sleep(0.3)  # blocking calls trust a link used in the last 0.25 s (see test_faults)
        assert settle(reactor, layer.send_batch_twisted([("dial.chan", {"n": 99})])) == [None]
        assert settle(reactor, layer.receive_twisted(["dial.chan"])) == ("dial.chan", {"n": 99})
    finally:
        layer.close()
