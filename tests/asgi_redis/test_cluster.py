"""The cluster layer on the session's private Redis Cluster (3 masters, 3
replicas): the conformance suite (plain and encrypted), where its keys
live, and the layer's extensions (leases, statistics, batches, the event
loop receives). Failover and resharding: test_cluster_faults.py."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from asgi import conformance
from asgi._history import OFFSET_MARK
from asgi_redis import RedisClusterChannelLayer
from asgi_redis._slots import key_slot

pytestmark = pytest.mark.integration

KEYS = ["rotated-in-key", "older-key"]


def _factory(hosts, **defaults):
    def make_layer(**options):
        return RedisClusterChannelLayer(hosts=hosts, **{**defaults, **options})

    return staticmethod(make_layer)


@pytest.fixture(scope="class")
def cluster_layer(request, redis_cluster):
    cls = request.cls
    cls.make_layer = _factory(redis_cluster.seeds[:2], **cls.options)
    cls.channel_layer = cls.make_layer(expiry=1, group_expiry=2, capacity=5)
    cls.channel_layer.blpop_timeout = 1  # idle consumer threads finish sooner
    yield
    cls.channel_layer.flush()
    cls.channel_layer.close()


@pytest.mark.usefixtures("cluster_layer")
class ClusterConformanceTests(conformance.ConformanceTestCase):
    options = {"prefix": "confc:", "stats_prefix": "confc-meta:"}
    expiry_delay = 1.1
    capacity_limit = 5


@pytest.mark.usefixtures("cluster_layer")
class EncryptedClusterConformanceTests(conformance.ConformanceTestCase):
    options = {"prefix": "confce:", "stats_prefix": "", "symmetric_encryption_keys": KEYS}
    expiry_delay = 1.1
    capacity_limit = 5


@pytest.fixture
def make_layer(redis_cluster):
    layers = []

    def make(**options) -> RedisClusterChannelLayer:
        options.setdefault("hosts", redis_cluster.seeds[:1])
        options.setdefault("prefix", f"c{uuid.uuid4().hex[:8]}:")
        options.setdefault("stats_prefix", options["prefix"][:-1] + "-meta:")
        layer = RedisClusterChannelLayer(**options)
        layer.blpop_timeout = 1
        layers.append(layer)
        return layer

    yield make
    for layer in layers:
        layer.flush()
        layer.close()


def _keys(cluster, pattern: str) -> list[bytes]:
    found = []
    for node in cluster.master_nodes():
        with cluster.client(node) as client:
            found.extend(client.keys(pattern))
    return found


def test_each_shard_lives_on_its_own_master(redis_cluster, make_layer):
    layer = make_layer()
    masters = {redis_cluster.master_of(shard.slot).port for shard in layer._shards}
    assert len(masters) == 3


def test_a_shards_keys_share_its_slot(redis_cluster, make_layer):
    """A process inbox, a group's member set and the counters of one shard
    all hash to that shard's slot (a Lua script over them is legal)."""
    layer = make_layer()
    layer.send("inbox!one", {"n": 1})
    layer.group_add("room", "inbox!two")
    layer.flush_statistics()
    keys = _keys(redis_cluster, layer.prefix + "*") + _keys(redis_cluster, layer.stats_prefix + "*")
    shard = layer._shards[layer.consistent_hash("inbox!")]
    slots = {key_slot(key) for key in keys}
    assert slots == {shard.slot}
    assert any(key.endswith(b"inbox!") for key in keys)
    assert any(b"group:room" in key for key in keys)


def test_group_send_reaches_members_on_every_master(make_layer):
    layer = make_layer()
    members = [f"p{i}!x" for i in range(12)] + ["plain.channel"]
    assert len({layer.consistent_hash(name.partition("!")[0] + "!") for name in members}) == 3
    for member in members:
        layer.group_add("everyone", member)
    assert sorted(layer.group_channels("everyone")) == sorted(members)
    layer.send_group("everyone", {"text": "hi"})
    got = []
    for member in members:
        queue = member.partition("!")[0] + "!" if "!" in member else member
        channel, message = layer.receive([queue], block=True)
        got.append((channel, message))
    assert sorted(got) == sorted((member, {"text": "hi"}) for member in members)


def test_normal_channel_capacity_is_split_over_the_shards(make_layer):
    layer = make_layer(capacity=6)
    for n in range(6):
        layer.send("work", {"n": n})
    with pytest.raises(layer.ChannelFull):
        layer.send("work", {"n": 6})
    received = {layer.receive(["work"], block=True)[1]["n"] for _ in range(6)}
    assert received == set(range(6))


def test_send_batch_and_receive_batch(make_layer):
    layer = make_layer(capacity=3)
    outcomes = layer.send_batch(
        [("daphne!a", {"n": 0}), ("other!b", {"n": 1})] + [("single?x", {"n": n}) for n in range(4)]
    )
    assert outcomes[:5] == [None] * 5
    assert isinstance(outcomes[5], layer.ChannelFull)
    assert layer.receive(["daphne!"])[1] == {"n": 0}
    assert layer.receive(["other!"])[1] == {"n": 1}
    assert [m["n"] for _, m in layer.receive_batch(["single?x"], limit=5)] in ([0, 1, 2], [0])


def test_leases_are_claimed_once_across_shards(make_layer):
    layer, other = make_layer(), None
    other = make_layer(prefix=layer.prefix, stats_prefix=layer.stats_prefix)
    owners = [f"daphne{i}!" for i in range(6)]
    assert len({layer.consistent_hash(owner) for owner in owners}) > 1
    for owner in owners:
        assert layer.lease_renew(owner, 0.05, {f"{owner}s": "entry"}) is False
    time.sleep(0.2)
    claimed = layer.lease_claim() + other.lease_claim()
    assert sorted(owner for owner, _ in claimed) == sorted(owners)
    assert layer.lease_claim() == []
    assert layer.lease_reaped("daphne0!") == ["daphne0!s"]


def test_statistics_sum_over_shards(make_layer):
    layer = make_layer(capacity=3)  # one message on each shard
    for _ in range(3):
        layer.send("stat.one", {})
    with pytest.raises(layer.ChannelFull):
        layer.send("stat.one", {})
    stats = layer.channel_statistics("stat.one")
    assert stats["messages_pending"] == stats["messages_count"] == 3
    assert stats["channel_full_count"] == 1
    assert layer.global_statistics()["messages_count"] == 3


def test_flush_removes_every_key(redis_cluster, make_layer):
    layer = make_layer()
    for n in range(9):
        layer.send(f"f{n}!", {})
        layer.group_add("g", f"f{n}!x")
    layer.flush_statistics()
    assert _keys(redis_cluster, layer.prefix + "*")
    layer.flush()
    assert _keys(redis_cluster, layer.prefix + "*") == []
    assert _keys(redis_cluster, layer.stats_prefix + "*") == []


def test_connection_is_a_redis_cluster_client(make_layer):
    layer = make_layer()
    client = layer.connection(0)
    client.set(f"{layer.prefix}plain", b"1")  # any slot: the client routes it
    assert client.get(f"{layer.prefix}plain") == b"1"
    client.delete(f"{layer.prefix}plain")
    with pytest.raises(ValueError, match="only 3 shards"):
        layer.connection(3)


def test_async_receive(make_layer):
    layer = make_layer()

    async def scenario():
        waiting = asyncio.ensure_future(layer.receive_async(["loop!"]))
        await asyncio.sleep(0.05)
        layer.send("loop!x", {"v": 1})
        return await asyncio.wait_for(waiting, 5)

    assert asyncio.run(scenario()) == ("loop!x", {"v": 1})


def test_no_node_reachable_raises_redis_unavailable():
    from asgi_redis import RedisUnavailable
    from tests.support.redis import free_port

    layer = RedisClusterChannelLayer(
        hosts=[("127.0.0.1", free_port())], connection_kwargs={"socket_connect_timeout": 1}
    )
    with pytest.raises(RedisUnavailable, match="CLUSTER SLOTS"):
        layer.send("x", {})


def test_calls_to_every_shard_are_one_write_per_master(redis_cluster, make_layer):
    """With two shards per master, a group send uses one connection per
    master (both shards' script calls in one write), and still reaches
    every member; the first call on a master that does not know the script
    yet (NOSCRIPT) loads it and runs again."""
    masters = redis_cluster.master_nodes()
    clients = [redis_cluster.client(node) for node in masters]
    for client in clients:
        client.script_flush()
    layer = make_layer(shards=6)
    assert len({redis_cluster.master_of(shard.slot).port for shard in layer._shards}) == 3
    members = []
    for n in range(200):
        name = f"m{n}!"
        if layer.consistent_hash(name) not in {layer.consistent_hash(m) for m in members}:
            members.append(name)
    assert len(members) == 6
    before = [client.info("clients")["connected_clients"] for client in clients]
    for member in members:
        layer.group_add("six", member + "x")
    after_adds = [client.info("clients")["connected_clients"] for client in clients]
    layer.send_group("six", {"n": 1})
    after_send = [client.info("clients")["connected_clients"] for client in clients]
    for client in clients:
        client.close()
    assert after_send == after_adds
    assert [a - b for a, b in zip(after_adds, before)] == [1, 1, 1]
    for member in members:
        assert layer.receive([member], block=True) == (member + "x", {"n": 1})


def test_history_numbers_one_send_alike_on_every_master(redis_cluster, make_layer):
    """A history group send on six shards over three masters: the home
    shard numbers and keeps it, the other five (grouped by master) get the
    same numbered copy; the history's keys share the home shard's slot, and
    a second layer (another process) reads it and continues the offsets."""
    layer = make_layer(shards=6)
    members = []
    for n in range(200):
        name = f"h{n}!"
        if layer.consistent_hash(name) not in {layer.consistent_hash(m) for m in members}:
            members.append(name)
    assert len(members) == 6
    for member in members:
        layer.group_add("hist", member + "x")
    first = layer.send_group_history("hist", {"text": f"one@{OFFSET_MARK}"}, 10, 60)
    for member in members:
        channel, message = layer.receive([member], block=True)
        assert channel == member + "x"
        assert message["text"].split("@")[1].rstrip() == str(first)
    home = layer._shards[layer.consistent_hash("hist")]
    history_keys = _keys(redis_cluster, layer.prefix + "*history*")
    assert sorted(history_keys) == sorted(
        f"{layer.prefix}{home.tag}{name}:hist".encode() for name in ("history", "history-offset")
    )
    assert {key_slot(key) for key in history_keys} == {home.slot}
    other = make_layer(shards=6, prefix=layer.prefix, stats_prefix=layer.stats_prefix)
    second = other.send_group_history("hist", {"text": f"two@{OFFSET_MARK}"}, 10, 60)
    assert second == first + 1
    messages, gap, last = layer.group_history("hist", 0)
    assert [(offset, m["text"].split("@")[0]) for offset, m in messages] == [
        (first, "one"),
        (second, "two"),
    ]
    assert (gap, last) == (False, second)
