"""The layer's parts (send path, receive path, groups, leases, statistics)
follow the layer's public attributes that 1.x code sets after making it."""

from __future__ import annotations

import pytest

from asgi_redis import RedisChannelLayer

pytestmark = pytest.mark.unit


def test_a_prefix_set_after_construction_reaches_every_part():
    layer = RedisChannelLayer(prefix="old:")
    layer._receiving.plan(["warm.chan"])
    layer.prefix = "new:"
    assert layer.prefix == "new:"
    assert layer._group_key("room") == "new:group:room"
    assert layer._leases._keys("d1") == ("new:leases", "new:lease:d1")
    ((_shard, keys),) = layer._receiving.plan(["warm.chan"])
    assert keys == [b"new:warm.chan"]
    _queue, key, *_ = layer._sending.prepare("warm.chan", {"n": 1})
    assert key == "new:warm.chan"
    assert layer._statistics.prefix == "new:"


def test_a_route_worked_out_before_a_prefix_change_is_not_reused():
    layer = RedisChannelLayer(prefix="old:")
    assert layer._sending.prepare("a.chan", {})[1] == "old:a.chan"
    layer.prefix = "new:"
    assert layer._sending.prepare("a.chan", {})[1] == "new:a.chan"


def test_an_empty_stats_prefix_turns_counting_off_and_a_new_one_on_again():
    layer = RedisChannelLayer(stats_prefix="")
    assert layer.stats_prefix == "" and layer._statistics.counts is None
    layer._statistics.count(0, "q", "messages_count")
    layer.stats_prefix = "meta:"
    layer._statistics.count(0, "q", "messages_count")
    counts = layer._statistics.counts.take()
    assert [key for _shard, key, _second in counts] == [
        "meta:q:messages_count",
        "meta:#global#:messages_count",
    ]


def test_group_send_counting_arguments_follow_the_statistics_settings():
    layer = RedisChannelLayer(stats_prefix="m:")
    assert layer._statistics.group_send_args(86400, 3600) == (
        "m:",
        3600,
        "m:#global#:",
        86400,
    )
    layer.stats_prefix = ""
    assert layer._statistics.group_send_args(86400, 3600) == ("", 3600, "", 0)
