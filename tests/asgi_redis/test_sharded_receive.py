"""Receiving a normal channel spread over several shards costs about what one
shard costs: ``receive`` asks the shards in turn (starting after the one
that last gave a message), ``receive_batch`` asks every shard at once for
its share of the batch, and neither loses, strands or starves a message.

Messages are put on a chosen shard by a one-server layer with the same
prefix: a plain shard's keys carry no tag, so both layers name the same list.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid

import pytest
import redis

from asgi_redis import RedisChannelLayer, RedisCommandError, RedisUnavailable

pytestmark = pytest.mark.integration


@pytest.fixture
def shards(shard_servers):
    """``(sharded, [one-server layer per shard])``, all under one fresh prefix."""
    prefix = f"sr{uuid.uuid4().hex[:6]}:"
    sharded = RedisChannelLayer(hosts=[s.url for s in shard_servers], prefix=prefix)
    singles = [RedisChannelLayer(hosts=[s.url], prefix=prefix) for s in shard_servers]
    yield sharded, singles
    sharded.flush()
    for layer in [sharded, *singles]:
        layer.close()


def put(single, channel, *numbers):
    for n in numbers:
        single.send(channel, {"n": n})


def pops_per_shard(shard_servers) -> list[int]:
    counts = []
    for server in shard_servers:
        with redis.Redis.from_url(server.url) as client:
            counts.append(client.info("commandstats").get("cmdstat_lmpop", {}).get("calls", 0))
    return counts


def left_on(single, channel) -> int:
    """Messages of ``channel`` still in the one server of ``single``."""
    return single.connection(0).llen(single.prefix + channel)


def test_receive_batch_takes_from_every_shard_with_one_pop_each(shards, shard_servers):
    sharded, singles = shards
    put(singles[0], "work", "a0", "a1")
    put(singles[1], "work", "b0", "b1")
    put(singles[2], "work", "c0")
    before = pops_per_shard(shard_servers)
    got = [m["n"] for _, m in sharded.receive_batch(["work"], limit=6)]
    assert [after - b for after, b in zip(pops_per_shard(shard_servers), before)] == [1, 1, 1]
    assert sorted(got) == ["a0", "a1", "b0", "b1", "c0"]
    for prefix in "abc":  # each shard's messages in the order they arrived
        mine = [n for n in got if n.startswith(prefix)]
        assert mine == sorted(mine)
    assert sharded.receive_batch(["work"], limit=6) == []


def test_receive_batch_splits_its_limit_over_the_shards_and_leaves_the_rest_in_redis(shards):
    sharded, singles = shards
    for single, name in zip(singles, "abc"):
        put(single, "split", *(f"{name}{i}" for i in range(5)))
    got = [m["n"] for _, m in sharded.receive_batch(["split"], limit=6)]
    assert sorted(got) == ["a0", "a1", "b0", "b1", "c0", "c1"]
    # Nothing more was taken: no message waits in this process meanwhile.
    assert [left_on(single, "split") for single in singles] == [3, 3, 3]


def test_receive_batch_smaller_than_the_shard_count_still_serves_every_shard(shards):
    sharded, singles = shards
    for single, name in zip(singles, "abc"):
        put(single, "few", *(f"{name}{i}" for i in range(4)))
    got = []
    for _ in range(3):
        batch = sharded.receive_batch(["few"], limit=2)
        assert len(batch) == 2
        got += [m["n"][0] for _, m in batch]
    assert sorted(got) == ["a", "a", "b", "b", "c", "c"]


def test_receives_over_busy_shards_take_from_each_in_turn(shards):
    sharded, singles = shards
    put(singles[0], "turns", *(f"a{i}" for i in range(6)))
    put(singles[1], "turns", *(f"b{i}" for i in range(6)))
    got = [sharded.receive(["turns"])[1]["n"] for _ in range(12)]
    shards_in_order = [n[0] for n in got]
    # No shard waits while another is served twice running.
    assert all(x != y for x, y in zip(shards_in_order, shards_in_order[1:])), got
    assert [n for n in got if n[0] == "a"] == [f"a{i}" for i in range(6)]


def test_a_busy_shard_does_not_keep_receives_from_a_quiet_one(shards):
    sharded, singles = shards
    put(singles[1], "quiet", "lonely")
    put(singles[0], "quiet", *range(20))
    got = [sharded.receive(["quiet"])[1]["n"] for _ in range(3)]
    assert "lonely" in got


def test_a_blocking_receive_batch_wakes_for_a_message_on_any_shard(shards, shard_servers):
    sharded, singles = shards
    sharded.blpop_timeout = 3
    timer = threading.Timer(0.3, put, (singles[2], "late", "c0"))
    timer.start()
    started = time.monotonic()
    try:
        assert sharded.receive_batch(["late"], block=True, limit=8) == [("late", {"n": "c0"})]
    finally:
        timer.join()
    assert time.monotonic() - started < 2.5
    for server in shard_servers:  # the other shards' pops were ended, not left standing
        with redis.Redis.from_url(server.url) as client:
            assert client.info("clients")["blocked_clients"] == 0


def test_a_failing_shard_in_a_batch_keeps_what_the_others_popped(shards, shard_servers):
    sharded, singles = shards
    put(singles[0], "clash", "kept")
    with redis.Redis.from_url(shard_servers[1].url) as client:
        client.set(sharded.prefix + "clash", "a string, not a list")
        try:
            with pytest.raises(RedisCommandError, match="WRONGTYPE"):
                sharded.receive_batch(["clash"], limit=6)
        finally:
            client.delete(sharded.prefix + "clash")
    # The message popped beside the error is handed to the next receive.
    assert left_on(singles[0], "clash") == 0
    assert sharded.receive(["clash"]) == ("clash", {"n": "kept"})


def test_receive_batch_skips_a_dead_shard_and_raises_only_when_all_are_down(make_redis_server):
    servers = [make_redis_server() for _ in range(2)]
    sharded = RedisChannelLayer(hosts=[s.url for s in servers], prefix="dead:")
    alive = RedisChannelLayer(hosts=[servers[0].url], prefix="dead:")
    put(alive, "skip", 1, 2)
    servers[1].kill()
    assert [m["n"] for _, m in sharded.receive_batch(["skip"], limit=4)] == [1, 2]
    put(alive, "skip", 3)
    assert sharded.receive_batch(["skip"], block=True, limit=4) == [("skip", {"n": 3})]
    servers[0].kill()
    with pytest.raises(RedisUnavailable):
        sharded.receive_batch(["skip"], limit=4)


class QuickLayer(RedisChannelLayer):
    blpop_timeout = 1


def test_a_message_taken_while_another_shard_freezes_mid_watch_is_not_lost(make_redis_server):
    servers = [make_redis_server() for _ in range(2)]
    options = {"prefix": "freeze:", "connection_kwargs": {"socket_timeout": 1}}
    sharded = QuickLayer(hosts=[s.url for s in servers], **options)
    first = QuickLayer(hosts=[servers[0].url], **options)
    sharded.receive(["frz"])  # connect to both first
    outcome = {}

    def wait():
        try:
            outcome["got"] = sharded.receive(["frz"], block=True)
        except Exception as exc:  # noqa: BLE001 - reported below
            outcome["error"] = exc

    thread = threading.Thread(target=wait)
    thread.start()
    time.sleep(0.3)  # watching both shards by now
    servers[1].process.send_signal(signal.SIGSTOP)  # it can no longer be unblocked
    try:
        first.send("frz", {"n": "taken"})
        thread.join(10)
    finally:
        servers[1].process.send_signal(signal.SIGCONT)
    assert outcome == {"got": ("frz", {"n": "taken"})}


def test_while_messages_come_one_at_a_time_a_blocking_batch_watches_at_once(shards, shard_servers):
    sharded, singles = shards
    sharded.blpop_timeout = 3

    def batch_with_one_sent_later(shard):
        timer = threading.Timer(0.2, put, (singles[shard], "sparse", f"s{shard}"))
        timer.start()
        try:
            return sharded.receive_batch(["sparse"], block=True, limit=8)
        finally:
            timer.join()

    assert batch_with_one_sent_later(0) == [("sparse", {"n": "s0"})]
    before = pops_per_shard(shard_servers)
    # Messages are sparse: no pop of every shard before the watch.
    assert batch_with_one_sent_later(1) == [("sparse", {"n": "s1"})]
    assert pops_per_shard(shard_servers) == before
    # A backlog found by the watch comes back as a batch (each shard's
    # share), and the next batch pops first again.
    put(singles[0], "sparse", "a0", "a1")
    put(singles[1], "sparse", "b0", "b1")
    got = sharded.receive_batch(["sparse"], block=True, limit=8)
    assert sorted(m["n"] for _, m in got) == ["a0", "a1", "b0", "b1"]
    assert pops_per_shard(shard_servers) == before
    put(singles[2], "sparse", "c0")
    assert sharded.receive_batch(["sparse"], block=True, limit=8) == [("sparse", {"n": "c0"})]
    assert [after - b for after, b in zip(pops_per_shard(shard_servers), before)] == [1, 1, 1]


def test_a_watch_that_finds_more_than_the_batch_holds_keeps_the_rest_for_the_next(shards):
    sharded, singles = shards
    sharded.blpop_timeout = 3
    timer = threading.Timer(0.2, put, (singles[0], "full", "first"))
    timer.start()
    try:  # sparse: the next blocking batch goes straight to the watch
        assert sharded.receive_batch(["full"], block=True, limit=2) == [("full", {"n": "first"})]
    finally:
        timer.join()
    for single, name in zip(singles, "abc"):
        put(single, "full", name)
    got = [m["n"] for _, m in sharded.receive_batch(["full"], block=True, limit=2)]
    assert len(got) == 2
    got += [m["n"] for _, m in sharded.receive_batch(["full"], limit=2)]
    assert sorted(got) == ["a", "b", "c"]


def test_shards_without_lmpop_are_found_out_by_a_batch_and_served_by_the_fallback(
    make_redis_server,
):
    servers = [
        make_redis_server("--rename-command", "LMPOP", "", "--rename-command", "BLMPOP", "")
        for _ in range(2)
    ]
    sharded = RedisChannelLayer(hosts=[s.url for s in servers], prefix="old:")
    singles = [RedisChannelLayer(hosts=[s.url], prefix="old:") for s in servers]
    put(singles[0], "old", "a0", "a1")
    put(singles[1], "old", "b0")
    got = [m["n"] for _, m in sharded.receive_batch(["old"], limit=4)]
    # (the fallback script pops one message of a normal channel at a time)
    assert sorted(got) == ["a0", "b0"]
    assert [sharded.shard(i).has_blmpop for i in range(2)] == [False, False]
    assert sharded.receive_batch(["old"], limit=4) == [("old", {"n": "a1"})]
    sharded.blpop_timeout = 2
    timer = threading.Timer(0.2, put, (singles[1], "old", "b1"))
    timer.start()
    try:
        assert sharded.receive_batch(["old"], block=True, limit=4) == [("old", {"n": "b1"})]
    finally:
        timer.join()
