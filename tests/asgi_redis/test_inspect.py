"""The Redis layer's ``inspect`` extension against real redis-servers:
two shards seen as one layer, scanning in batches, heartbeat expiry and
clean-up, message ages, and shards that are down.

(The behaviour every layer shares is in ``asgi.conformance``, run on Redis
by test_conformance.py.)
"""

from __future__ import annotations

import time
import uuid

import pytest

from asgi_redis import RedisChannelLayer
from asgi_redis.exceptions import RedisUnavailable
from asgi_redis.sentinel import RedisSentinelChannelLayer

pytestmark = pytest.mark.integration


def record(pid, kind="worker", **fields):
    now = time.time()
    return {
        "id": f"{kind}:inspect-host:{pid}:{uuid.uuid4().hex[:8]}",
        "kind": kind,
        "host": "inspect-host",
        "pid": pid,
        "version": "test",
        "channels": ["http.request"],
        "handled": 0,
        "last_activity": now,
        "started": now,
        **fields,
    }


@pytest.fixture
def two_shards(make_redis_server):
    return [make_redis_server(), make_redis_server()]


@pytest.fixture
def sharded(two_shards, make_layer):
    return make_layer(hosts=[server.url for server in two_shards], capacity=40)


def by_name(entries, key="channel"):
    return {entry[key]: entry for entry in entries}


def test_the_sentinel_layer_has_the_extension_too():
    assert "inspect" in RedisSentinelChannelLayer.extensions
    assert "inspect" in RedisChannelLayer.extensions


def test_two_shards_are_reported_as_one_layer(two_shards, sharded):
    for n in range(10):
        sharded.send("spread", {"n": n})
    # the messages really are on both servers
    lengths = [sharded.connection(i).llen(sharded.prefix + "spread") for i in (0, 1)]
    assert sorted(lengths) == [5, 5]
    members = on_both_shards(
        sharded, [f"member{i}!x" for i in range(64)], lambda m: sharded.non_local_name(m)
    )
    for member in members:
        sharded.group_add("everyone", member)
    sharded.send("inbox.a!one", {})
    sharded.send("inbox.a!two", {})
    records = on_both_shards(sharded, [record(pid) for pid in range(1, 65)], lambda r: r["id"])
    for entry in records:
        sharded.heartbeat(entry, 30)

    channels = by_name(sharded.inspect_channels())
    assert channels["spread"]["depth"] == 10
    assert channels["spread"]["capacity"] == 40
    assert channels["inbox.a!"]["depth"] == 2  # one process inbox, by its prefix
    (group,) = sharded.inspect_groups(members=True)
    assert group == {"group": "everyone", "size": 8, "members": sorted(members)}
    assert [r["pid"] for r in sharded.inspect_processes()] == sorted(r["pid"] for r in records)
    shards = sharded.inspect_shards()
    assert [s["shard"] for s in shards] == [server.url for server in two_shards]
    assert all(s["reachable"] for s in shards)


def on_both_shards(layer, candidates, name):
    """Four of ``candidates`` whose ``name`` hashes to shard 0 and four to shard 1."""
    picked = {0: [], 1: []}
    for candidate in candidates:
        home = picked[layer.consistent_hash(name(candidate))]
        if len(home) < 4:
            home.append(candidate)
    assert len(picked[0]) == len(picked[1]) == 4
    return picked[0] + picked[1]


def test_scanning_goes_in_batches_and_never_uses_keys(layer, monkeypatch):
    names = [f"batch.{i}" for i in range(45)]
    for name in names:
        layer.send(name, {})
    for i in range(15):
        layer.group_add(f"g{i}", f"batch.{i}")
    layer.inspect_batch = 7
    shard = layer.shard(0)
    commands = []
    real_call = shard.call

    def spy(*args):
        commands.append(args)
        return real_call(*args)

    monkeypatch.setattr(shard, "call", spy)
    found = by_name(layer.inspect_channels())
    groups = by_name(layer.inspect_groups(), "group")
    assert {name for name in found if name.startswith("batch.")} == set(names)
    assert {name for name in groups if name.startswith("g")} == {f"g{i}" for i in range(15)}
    scans = [c for c in commands if c[0] == "SCAN"]
    assert all(c[c.index("COUNT") + 1] == 7 for c in scans)
    # a step looks at about COUNT keys: many steps, never one sweep of the keyspace
    steps = [c[c.index("TYPE") + 1] for c in scans]
    assert steps.count("list") >= 45 // 7 and steps.count("zset") >= 15 // 7
    assert not [c for c in commands if c[0] in ("KEYS", "LRANGE", "SMEMBERS", "ZRANGE")]


def test_group_members_are_read_in_batches_too(layer):
    layer.inspect_batch = 5
    members = [f"m{i}" for i in range(23)]
    for member in members:
        layer.group_add("crowd", member)
    (group,) = layer.inspect_groups(members=True)
    assert group["size"] == 23 and group["members"] == sorted(members)


def test_heartbeats_expire_on_their_ttl_and_their_keys_expire_after_them(layer):
    short, kept = record(1), record(2)
    layer.heartbeat(short, 0.3)
    layer.heartbeat(kept, 5)
    index, records = layer.prefix + "processes", layer.prefix + "process-records"
    client = layer.connection(0)
    assert 5000 < client.pttl(index) <= 15000  # the longest record, plus the grace
    assert client.pttl(records) == pytest.approx(client.pttl(index), abs=500)
    time.sleep(0.45)
    assert [r["id"] for r in layer.inspect_processes()] == [kept["id"]]
    # the next heartbeat drops the one that ran out
    assert client.hlen(records) == 2
    layer.heartbeat(kept, 5)
    assert client.hkeys(records) == [kept["id"].encode()]
    layer.heartbeat_remove(kept["id"])
    assert layer.inspect_processes() == []


def test_a_record_comes_back_exactly_as_stored(layer):
    entry = record(7, kind="daphne", channels=["http.response!*", "websocket.send!*"])
    entry["nested"] = {"unicode": "é€", "list": [1, 2.5, None, True]}
    layer.heartbeat(entry, 10)
    assert layer.inspect_processes() == [entry]


def test_oldest_age_is_the_age_of_the_oldest_message_on_any_shard(sharded):
    before = time.monotonic()
    sharded.send("aging", {})
    time.sleep(0.3)
    for _ in range(3):
        sharded.send("aging", {})
    time.sleep(0.1)
    entry = by_name(sharded.inspect_channels(["aging", "empty"]))
    elapsed = time.monotonic() - before
    assert entry["aging"]["depth"] == 4
    assert 0.38 <= entry["aging"]["oldest_age"] <= elapsed + 0.05
    assert entry["empty"] == {"channel": "empty", "depth": 0, "capacity": 40, "oldest_age": None}


def test_inspecting_changes_nothing_even_for_expired_messages(make_layer):
    layer = make_layer(expiry=1)
    layer.group_add("room", "slow.reader")
    layer.send("slow.reader", {})
    time.sleep(1.1)
    (entry,) = layer.inspect_channels()
    assert entry["depth"] == 1 and entry["oldest_age"] > 1.0  # waited past its expiry
    assert layer.inspect_groups(members=True) == [
        {"group": "room", "size": 1, "members": ["slow.reader"]}
    ]
    assert layer.connection(0).llen(layer.prefix + "slow.reader") == 1


def test_keys_that_are_not_channels_are_not_reported(layer):
    client = layer.connection(0)
    client.rpush(layer.prefix + "not:a:channel", b"x")
    client.expire(layer.prefix + "not:a:channel", 60)
    layer.send("real.channel", {})
    assert [e["channel"] for e in layer.inspect_channels()] == ["real.channel"]


def test_a_shard_that_is_down_is_reported_and_left_out(two_shards, sharded):
    for n in range(6):
        sharded.send("survivor", {"n": n})
    two_shards[1].stop()
    started = time.monotonic()
    shards = sharded.inspect_shards()
    assert time.monotonic() - started < 2
    assert [s["reachable"] for s in shards] == [True, False]
    assert shards[1]["latency"] is None and isinstance(shards[0]["latency"], float)
    # what the live shard holds is still shown
    assert by_name(sharded.inspect_channels())["survivor"]["depth"] == 3
    two_shards[0].stop()
    assert [s["reachable"] for s in sharded.inspect_shards()] == [False, False]
    with pytest.raises(RedisUnavailable):
        sharded.inspect_channels()
    with pytest.raises(RedisUnavailable):
        sharded.inspect_processes()


def test_a_shard_url_is_shown_with_its_password_masked(make_redis_server, make_layer):
    server = make_redis_server("--requirepass", "s3cret-pw")
    layer = make_layer(hosts=[f"redis://:s3cret-pw@127.0.0.1:{server.port}/0"])
    (shard,) = layer.inspect_shards()
    assert "s3cret-pw" not in shard["shard"]
    assert shard["shard"] == f"redis://***@127.0.0.1:{server.port}/0"
    assert shard["reachable"] is True


def test_inspect_batch_must_be_a_positive_int(layer):
    for bad in (0, -3, 1.5, True, "10"):
        with pytest.raises(ValueError, match="inspect_batch must be a positive int"):
            layer.inspect_batch = bad
