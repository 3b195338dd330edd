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


def test_remembered_send_routes_are_bounded_and_share_their_process_prefix():
    from asgi_redis._sending import ROUTES_KEPT

    layer = RedisChannelLayer(hosts=["redis://127.0.0.1:1/0", "redis://127.0.0.1:2/0"])
    sending = layer._sending
    first = sending.prepare("daphne.response.p!a", {"n": 1})
    second = sending.prepare("daphne.response.p!b", {"n": 2})
    # one queue, key and shard per process prefix, whatever the local part
    assert first[1] == "asgi:daphne.response.p!" and first[1] is second[1]
    assert first[3] is second[3] and first[3] is not None
    # each keeps its own target, so the receiver gets the full name back
    assert first[4].startswith(b"daphne.response.p!a\n")
    assert second[4].startswith(b"daphne.response.p!b\n")
    for n in range(ROUTES_KEPT + 10):
        sending.prepare(f"daphne.response.p!{n}", {})
    assert len(sending._routes) <= ROUTES_KEPT
    # a route worked out again after the cache started over is the same
    again = sending.prepare("daphne.response.p!a", {"n": 1})
    assert again[:4] == first[:4] and again[4] == first[4]
