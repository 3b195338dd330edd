"""1.x-style tests of ``RedisChannelLayer`` against a real redis-server:
``connection(index)`` runs any redis-py command, the statistics return 1.x's
keys (rates only when asked), and ``receive_twisted`` leaves the reactor
clean once its Deferred fired, in a real trial run as well as here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from twisted.internet.epollreactor import EPollReactor

from asgi_redis import RedisChannelLayer
from tests.asgi_redis.test_reactor_io import settle

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def layer(redis_url):
    prefix = f"c{uuid.uuid4().hex[:8]}:"
    instance = RedisChannelLayer(hosts=[redis_url], prefix=prefix, stats_prefix=f"{prefix}meta:")
    yield instance
    instance.flush()
    instance.close()


@pytest.fixture
def reactor():
    instance = EPollReactor()
    yield instance
    instance.disconnectAll()


def on_reactor(layer: RedisChannelLayer, reactor) -> RedisChannelLayer:
    layer.twisted_reactor = lambda: reactor
    return layer


def redis_connections(layer: RedisChannelLayer) -> list:
    """The reactor-owned Redis connections of the layer's only shard."""
    links = layer._reactor_links[0]  # the adopted connections
    return [*links._idle, *links._busy]


# -- item 14: connection(index) is a redis-py client for arbitrary commands ----------


def test_connection_runs_arbitrary_commands_on_the_shard(layer):
    client = layer.connection(0)
    assert client.set(f"{layer.prefix}user-key", b"value") is True
    assert client.get(f"{layer.prefix}user-key") == b"value"
    assert client.ping() is True
    assert layer.connection(None) is client


def test_connection_sees_the_layers_own_keys(layer):
    layer.send("compat.chan", {"n": 1})
    layer.send("compat.chan", {"n": 2})
    client = layer.connection(layer.consistent_hash("compat.chan"))
    assert client.llen(f"{layer.prefix}compat.chan") == 2
    assert client.exists(f"{layer.prefix}compat.chan") == 1


def test_connection_keeps_the_password_and_database_of_the_url(make_redis_server):
    server = make_redis_server("--requirepass", "sekret")
    url = f"redis://:sekret@127.0.0.1:{server.port}/3"
    layer = RedisChannelLayer(hosts=[url], prefix="cpw:")
    try:
        client = layer.connection(0)
        client.set("cpw:probe", 1)
        with redis.Redis.from_url(url) as direct:
            assert direct.get("cpw:probe") == b"1"
        with redis.Redis.from_url(f"redis://:sekret@127.0.0.1:{server.port}/0") as db0:
            assert db0.get("cpw:probe") is None
    finally:
        layer.close()


def test_connection_still_works_after_the_layer_closed_its_links(layer):
    client = layer.connection(0)
    client.set(f"{layer.prefix}a", 1)
    layer.close()
    assert client.get(f"{layer.prefix}a") == b"1"


def test_connection_to_a_server_that_is_down_raises_redis_py_connection_error():
    from tests.support.redis import free_port

    layer = RedisChannelLayer(hosts=[("127.0.0.1", free_port())])
    with pytest.raises(redis.ConnectionError, match="Connection refused|Error 111"):
        layer.connection(0).ping()


# -- item 15: statistics return exactly 1.x's keys; rates on request --------------------


def test_global_statistics_has_exactly_the_1x_keys(layer):
    layer.capacity = 1
    layer.send("stat.chan", {})
    with pytest.raises(layer.ChannelFull):
        layer.send("stat.chan", {})
    stats = layer.global_statistics()
    assert stats == {"messages_count": 1, "channel_full_count": 1}


def test_channel_statistics_has_exactly_the_1x_keys_with_int_values(layer):
    layer.send("stat.one", {})
    layer.send("stat.one", {})
    time.sleep(1.1)
    stats = layer.channel_statistics("stat.one")
    assert set(stats) == {
        "messages_count",
        "messages_pending",
        "messages_max_age",
        "channel_full_count",
    }
    assert (stats["messages_count"], stats["messages_pending"]) == (2, 2)
    assert stats["channel_full_count"] == 0
    assert type(stats["messages_max_age"]) is int
    assert 1 <= stats["messages_max_age"] < 5


def test_detailed_statistics_add_the_per_second_rates(layer):
    for _ in range(3):
        layer.send("stat.rate", {})
    time.sleep(1.1)
    overall = layer.global_statistics(detailed=True)
    assert set(overall) == {
        "messages_count",
        "channel_full_count",
        "messages_count_per_second",
        "channel_full_count_per_second",
    }
    assert overall["messages_count_per_second"] == pytest.approx(0.3)
    channel = layer.channel_statistics("stat.rate", detailed=True)
    assert channel["messages_count_per_second"] == pytest.approx(0.3)
    assert channel["channel_full_count_per_second"] == 0
    assert isinstance(channel["messages_max_age"], float)


def test_statistics_of_an_invalid_channel_name_raise_type_error(layer):
    with pytest.raises(TypeError, match="Channel name must be"):
        layer.channel_statistics("not valid")


# -- item 16: receive_twisted leaves the reactor clean once it fired ---------------------


def test_a_received_message_leaves_no_delayed_call_and_no_reader(layer, reactor):
    on_reactor(layer, reactor)
    layer.send("ct.proc!a", {"n": 1})
    assert settle(reactor, layer.receive_twisted(["ct.proc!"])) == ("ct.proc!a", {"n": 1})
    assert reactor.getDelayedCalls() == []
    connections = redis_connections(layer)
    assert connections and all(c.parked for c in connections)
    assert not set(reactor.getReaders()) & {c.transport for c in connections}
    assert reactor.getWriters() == []


def test_a_receive_that_times_out_leaves_no_delayed_call(layer, reactor):
    on_reactor(layer, reactor)
    layer.blpop_timeout = 0.3
    assert settle(reactor, layer.receive_twisted(["ct.empty!"])) == (None, None)
    assert reactor.getDelayedCalls() == []
    assert not set(reactor.getReaders()) & {c.transport for c in redis_connections(layer)}


def test_a_parked_connection_serves_the_next_receive(layer, reactor):
    on_reactor(layer, reactor)
    layer.send("ct.again!a", {"n": 1})
    settle(reactor, layer.receive_twisted(["ct.again!"]))
    (parked,) = redis_connections(layer)
    pending = layer.receive_twisted(["ct.again!"])
    assert parked.parked is False
    assert parked.transport in reactor.getReaders()
    assert len(reactor.getDelayedCalls()) == 1  # the pop's deadline, while it waits
    layer.send("ct.again!b", {"n": 2})
    assert settle(reactor, pending) == ("ct.again!b", {"n": 2})
    assert redis_connections(layer) == [parked]
    assert reactor.getDelayedCalls() == []


def test_receiving_again_from_the_callback_keeps_the_connection_busy(layer, reactor):
    on_reactor(layer, reactor)
    layer.send("ct.loop!a", {"n": 1})
    settle(reactor, layer.receive_twisted(["ct.loop!"]))
    (connection,) = redis_connections(layer)
    timer_before: list = []
    follow_up: list = []

    def again(result):
        timer_before.append(connection._timer)
        follow_up.append(layer.receive_twisted(["ct.loop!"]))
        return result

    pending = layer.receive_twisted(["ct.loop!"])
    pending.addCallback(again)
    layer.send("ct.loop!b", {"n": 2})
    assert settle(reactor, pending) == ("ct.loop!b", {"n": 2})
    # daphne's pattern: the next pop went out on the same connection, which
    # never parked, and the deadline timer of the first pop was kept
    assert connection.parked is False
    assert connection._timer is timer_before[0]
    layer.send("ct.loop!c", {"n": 3})
    assert settle(reactor, follow_up[0]) == ("ct.loop!c", {"n": 3})
    assert reactor.getDelayedCalls() == []


def test_a_server_restart_while_parked_is_noticed_on_the_next_receive(make_redis_server, reactor):
    server = make_redis_server()
    layer = on_reactor(RedisChannelLayer(hosts=[server.url], prefix="crs:"), reactor)
    try:
        layer.send("cr.proc!a", {"n": 1})
        settle(reactor, layer.receive_twisted(["cr.proc!"]))
        (old,) = redis_connections(layer)
        server.kill()
        server.start()
        time.sleep(0.3)  # blocking sends trust a link used in the last 0.25 s
        layer.send("cr.proc!b", {"n": 2})
        assert settle(reactor, layer.receive_twisted(["cr.proc!"])) == ("cr.proc!b", {"n": 2})
        assert old.lost and old not in redis_connections(layer)
    finally:
        layer.close()


def test_a_twisted_trial_run_of_receive_twisted_passes_its_clean_reactor_checks(
    redis_url, tmp_path
):
    env = dict(os.environ, COMPAT_REDIS_URL=redis_url, PYTHONPATH=str(ROOT))
    process = subprocess.run(
        [sys.executable, "-m", "twisted.trial", "tests.compat.trial_receive_twisted"],
        cwd=tmp_path,  # trial writes its _trial_temp folder into the working directory
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = process.stdout + process.stderr
    assert "DirtyReactor" not in output
    assert "PASSED (successes=3)" in output, output
    assert process.returncode == 0
