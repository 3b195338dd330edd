"""The cluster layer's slot rules without a server: shard tags, the slot
map, redirect replies, and the options it refuses."""

from __future__ import annotations

import pytest

from asgi_redis import RedisClusterChannelLayer
from asgi_redis._slots import SLOTS, SlotMap, key_slot, parse_redirect, shard_tag

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("count", [1, 3, 7, 64])
def test_each_shard_tag_hashes_into_its_own_range(count):
    for index in range(count):
        tag = shard_tag(index, count)
        assert tag.startswith("{") and tag.endswith("}")
        assert index * SLOTS // count <= key_slot(tag.encode()) < (index + 1) * SLOTS // count
        # every key carrying the tag is in the same slot, whatever follows it
        assert key_slot(f"asgi:{tag}daphne.abc!".encode()) == key_slot(tag.encode())


def test_shard_tag_out_of_range():
    with pytest.raises(ValueError, match="out of range"):
        shard_tag(3, 3)


def test_slot_map_from_cluster_slots():
    reply = [
        [5461, 10922, [b"127.0.0.1", 7001, b"id1"], [b"127.0.0.1", 7004, b"id4"]],
        [0, 5460, [b"127.0.0.1", 7000, b"id0"]],
        [10923, 16383, [b"10.0.0.3", 7002, b"id2"]],
    ]
    slot_map = SlotMap.from_reply(reply)
    assert slot_map.node_of(0) == "127.0.0.1:7000"
    assert slot_map.node_of(5461) == "127.0.0.1:7001"
    assert slot_map.node_of(16383) == "10.0.0.3:7002"
    assert slot_map.nodes() == ["127.0.0.1:7000", "127.0.0.1:7001", "10.0.0.3:7002"]


def test_slot_map_with_a_hole():
    slot_map = SlotMap.from_reply([[0, 99, [b"h", 1, b"x"]], [200, 16383, [b"h", 2, b"y"]]])
    assert slot_map.node_of(150) is None
    assert SlotMap.from_reply([]).node_of(0) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("MOVED 3999 127.0.0.1:6381", ("MOVED", 3999, "127.0.0.1:6381")),
        ("ASK 3999 10.0.0.2:7000", ("ASK", 3999, "10.0.0.2:7000")),
        ("MOVED 3999 :6381", ("MOVED", 3999, ":6381")),
        ("TRYAGAIN Multiple keys request during rehashing of slot", ("TRYAGAIN", None, None)),
        ("CLUSTERDOWN The cluster is down", ("CLUSTERDOWN", None, None)),
        (
            "ERR Script attempted to access a non local key in a cluster node script: "
            "5ca88830, on @user_script:59.",
            ("TRYAGAIN", None, None),
        ),
    ],
)
def test_redirects(text, expected):
    assert tuple(parse_redirect(text)) == expected


@pytest.mark.parametrize("text", ["ERR unknown command", "MOVED", "MOVED x 1:2", "WRONGTYPE"])
def test_not_redirects(text):
    assert parse_redirect(text) is None


@pytest.mark.parametrize("shards", [0, -1, 1025, 2.0, True, "3"])
def test_bad_shard_count(shards):
    with pytest.raises(ValueError, match="shards must be an int from 1 to 1024"):
        RedisClusterChannelLayer(hosts=[("127.0.0.1", 1)], shards=shards)


@pytest.mark.parametrize("option", ["prefix", "stats_prefix"])
def test_braces_in_prefixes_are_refused(option):
    with pytest.raises(ValueError, match=f"{option} may not contain"):
        RedisClusterChannelLayer(hosts=[("127.0.0.1", 1)], **{option: "a{b}:"})


def test_braces_in_a_later_prefix_are_refused():
    layer = RedisClusterChannelLayer(hosts=[("127.0.0.1", 1)])
    with pytest.raises(ValueError, match="prefix may not contain"):
        layer.prefix = "{x}"
    assert layer.prefix == "asgi:"


def test_unix_socket_is_refused():
    with pytest.raises(ValueError, match="over TCP"):
        RedisClusterChannelLayer(hosts=["unix:///tmp/redis.sock"])


def test_making_the_layer_dials_nothing():
    """Settings may build the layer before the cluster is up: the slot map
    is read on first use (test_cluster.py: the error then)."""
    layer = RedisClusterChannelLayer(hosts=[("127.0.0.1", 1)], shards=5)
    assert layer.ring_size == 5
    assert [shard.tag for shard in layer._shards] == [shard_tag(i, 5) for i in range(5)]
    assert str(layer) == "RedisClusterChannelLayer(hosts=['redis://127.0.0.1:1/0'], shards=5)"
