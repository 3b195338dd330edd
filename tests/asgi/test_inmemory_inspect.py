"""The in-memory layer's ``inspect`` extension on an injected clock: exact
ages and expiry, full process-specific names, and inspection that leaves
messages where they are."""

import pytest

from asgi.inmemory import ChannelLayer

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def layer(clock):
    return ChannelLayer(expiry=60, capacity=10, channel_capacity={"big.*": 50}, clock=clock)


def record(pid, kind="worker", host="h"):
    return {"id": f"{kind}:{host}:{pid}:0000abcd", "kind": kind, "host": host, "pid": pid}


def test_inspect_is_listed_in_extensions(layer):
    assert "inspect" in layer.extensions


def test_a_heartbeat_lives_exactly_ttl_seconds_from_its_last_renewal(layer, clock):
    layer.heartbeat(record(1), ttl=15)
    clock.now += 10
    layer.heartbeat(record(1), ttl=15)
    clock.now += 14.9
    assert [r["pid"] for r in layer.inspect_processes()] == [1]
    clock.now += 0.1
    assert layer.inspect_processes() == []


def test_records_are_copies_both_ways(layer):
    mine = {**record(1), "channels": ["http.request"]}
    layer.heartbeat(mine, ttl=15)
    mine["channels"].append("changed after the call")
    listed = layer.inspect_processes()
    listed[0]["channels"].append("changed by a reader")
    assert layer.inspect_processes()[0]["channels"] == ["http.request"]


def test_oldest_age_is_the_age_of_the_oldest_unexpired_message(layer, clock):
    layer.send("ages", {"n": 1})
    clock.now += 2.5
    layer.send("ages", {"n": 2})
    clock.now += 1
    (entry,) = layer.inspect_channels()
    assert entry == {"channel": "ages", "depth": 2, "capacity": 10, "oldest_age": 3.5}
    clock.now += 57  # the first has expired (60 s), the second not yet
    (entry,) = layer.inspect_channels()
    assert (entry["depth"], entry["oldest_age"]) == (1, 58.0)


def test_capacity_comes_from_the_channel_capacity_patterns(layer):
    layer.send("big.queue", {})
    assert layer.inspect_channels(["big.queue", "small"]) == [
        {"channel": "big.queue", "depth": 1, "capacity": 50, "oldest_age": 0.0},
        {"channel": "small", "depth": 0, "capacity": 10, "oldest_age": None},
    ]


def test_process_specific_channels_are_reported_by_full_name(layer):
    layer.send("daphne.response.ab!c1", {})
    layer.send("daphne.response.ab!c2", {})
    layer.send("daphne.response.ab!c2", {})
    depths = {e["channel"]: e["depth"] for e in layer.inspect_channels()}
    assert depths == {"daphne.response.ab!c1": 1, "daphne.response.ab!c2": 2}
    named = layer.inspect_channels(["daphne.response.ab!", "daphne.response.ab!c2"])
    assert [(e["channel"], e["depth"]) for e in named] == [
        ("daphne.response.ab!", 3),
        ("daphne.response.ab!c2", 2),
    ]


def test_group_members_share_one_message_but_each_is_counted(layer):
    for member in ("g!a", "g!b", "plain"):
        layer.group_add("room", member)
    layer.send_group("room", {"text": "hi"})
    depths = {e["channel"]: e["depth"] for e in layer.inspect_channels()}
    assert depths == {"g!a": 1, "g!b": 1, "plain": 1}


def test_inspecting_expired_messages_does_not_evict_their_channel_from_groups(layer, clock):
    layer.group_add("room", "slow")
    layer.send("slow", {})
    clock.now += 61
    assert layer.inspect_channels() == []
    # Only the layer's own traffic drops an expired message (and evicts its reader).
    assert layer.inspect_groups(members=True) == [{"group": "room", "size": 1, "members": ["slow"]}]


def test_groups_whose_members_expired_are_not_listed(clock):
    layer = ChannelLayer(group_expiry=100, clock=clock)
    layer.group_add("old", "a")
    clock.now += 60
    layer.group_add("fresh", "b")
    layer.group_add("old", "c")
    clock.now += 50
    assert layer.inspect_groups() == [{"group": "fresh", "size": 1}, {"group": "old", "size": 1}]


def test_flush_removes_heartbeats_too(layer):
    layer.heartbeat(record(1), ttl=15)
    layer.flush()
    assert layer.inspect_processes() == []


def test_the_one_shard_is_memory(layer):
    assert layer.inspect_shards() == [{"shard": "memory", "reachable": True, "latency": 0.0}]
