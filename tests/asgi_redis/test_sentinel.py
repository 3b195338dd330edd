"""RedisSentinelChannelLayer against a real master, replica and Sentinel:
the conformance suite, service discovery, and a failover during traffic."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from asgi import conformance
from asgi_redis import RedisSentinelChannelLayer, RedisUnavailable
from tests.support.redis import RedisUnavailable as ServerUnavailable
from tests.support.redis import in_ci

from .sentinel_support import SERVICE, SentinelCluster

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster():
    cluster = SentinelCluster()
    try:
        cluster.start()
    except ServerUnavailable as exc:
        cluster.cleanup()
        if in_ci():
            pytest.fail(f"could not start a Sentinel setup: {exc}", pytrace=False)
        pytest.skip(f"could not start a Sentinel setup: {exc}")
    yield cluster
    cluster.cleanup()


def sentinel_layer(cluster, **options):
    options.setdefault("services", [SERVICE])
    return RedisSentinelChannelLayer(hosts=[cluster.sentinel.address], **options)


@pytest.fixture(scope="class")
def sentinel_conformance(request, cluster):
    cls = request.cls

    def make_layer(**options):
        return sentinel_layer(cluster, prefix="confsent:", **options)

    cls.make_layer = staticmethod(make_layer)
    cls.channel_layer = make_layer(expiry=1, group_expiry=2, capacity=5)
    cls.channel_layer.blpop_timeout = 1  # idle consumer threads finish sooner
    yield
    cls.channel_layer.flush()
    cls.channel_layer.close()


@pytest.mark.usefixtures("sentinel_conformance")
class SentinelConformanceTests(conformance.ConformanceTestCase):
    expiry_delay = 1.1
    capacity_limit = 5


def test_services_are_discovered_when_not_given(cluster):
    layer = RedisSentinelChannelLayer(hosts=[cluster.sentinel.address])
    assert layer.services == [SERVICE]
    layer.send("disc.chan", {"ok": 1})
    assert layer.receive(["disc.chan"]) == ("disc.chan", {"ok": 1})
    layer.close()


def test_discovery_without_a_reachable_sentinel_raises_redis_unavailable():
    from tests.support.redis import free_port

    with pytest.raises(RedisUnavailable, match="Sentinel"):
        RedisSentinelChannelLayer(hosts=[("127.0.0.1", free_port())])


def test_messages_go_to_the_current_master(cluster):
    layer = sentinel_layer(cluster, prefix="where:")
    layer.send("where.chan", {})
    with redis.Redis(port=cluster.master_port()) as master:
        assert master.llen("where:where.chan") == 1
    layer.flush()
    layer.close()


def _produce(layer, sent, errors, stop):
    """Send numbered messages until ``stop``, noting each sent number and each error."""
    n = 0
    while not stop.is_set():
        try:
            layer.send("fo.chan", {"n": n})
            sent.append(n)
            n += 1
        except RedisUnavailable as exc:
            errors.append((time.monotonic(), exc))
        except layer.ChannelFull:
            pass
        time.sleep(0.005)


def _consume(layer, sent, received, stop):
    """Receive numbers until ``stop`` and every sent one came (or the channel is empty)."""
    while not stop.is_set() or len(received) < len(sent):
        try:
            channel, message = layer.receive(["fo.chan"], block=True)
        except RedisUnavailable:
            time.sleep(0.05)
            continue
        if channel is None:
            if stop.is_set():
                return
            continue
        received.append(message["n"])


@pytest.mark.parametrize("refresh", [0, 0.5])
def test_traffic_survives_a_sentinel_failover(cluster, refresh):
    layer = sentinel_layer(
        cluster, prefix=f"fo{int(refresh * 10)}:", sentinel_refresh_interval=refresh
    )
    layer.blpop_timeout = 1
    layer.flush()
    sent, errors, received, stop = [], [], [], threading.Event()
    threads = [
        threading.Thread(target=_produce, args=(layer, sent, errors, stop)),
        threading.Thread(target=_consume, args=(layer, sent, received, stop)),
    ]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        old_master = cluster.master_port()
        new_master = cluster.failover()
        assert new_master != old_master
        failed_over_at = time.monotonic()
        # Sentinel demotes the old master only seconds later; until then it
        # takes writes that are lost. The layer notices the new master
        # within its refresh interval (1 s for 0) and moves over.
        time.sleep(max(refresh, 1.0) + 0.5)
        sent_at_failover = len(sent)
        # Sends resume on the new master within a few seconds.
        deadline = time.monotonic() + 15
        while len(sent) < sent_at_failover + 50 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(sent) >= sent_at_failover + 50, f"sends did not resume: {errors[-3:]}"
    finally:
        stop.set()
        for thread in threads:
            thread.join(20)
    # Every error was the named one, and none came long after the switch.
    assert all(isinstance(exc, RedisUnavailable) for _, exc in errors)
    assert all(at < failed_over_at + 10 for at, _ in errors)
    # At-most-once: nothing twice; the messages sent after the switch arrived.
    assert len(received) == len(set(received))
    late = sent[sent_at_failover:]
    assert late and set(late) <= set(received)
    with redis.Redis(port=new_master) as master:
        assert master.info("replication")["role"] == "master"
    layer.flush()
    layer.close()


def test_traffic_continues_while_the_sentinel_is_down(cluster):
    layer = sentinel_layer(cluster, prefix="nosent:")
    layer.send("nosent.chan", {"n": 0})
    assert layer.receive(["nosent.chan"]) == ("nosent.chan", {"n": 0})
    cluster.sentinel.stop()
    try:
        started = time.monotonic()
        for n in range(1, 4):
            layer.send("nosent.chan", {"n": n})
            assert layer.receive(["nosent.chan"]) == ("nosent.chan", {"n": n})
            time.sleep(0.6)  # let the once-a-second master check run
        assert time.monotonic() - started < 6
    finally:
        cluster.sentinel.start()
    layer.flush()
    layer.close()
