"""What the Redis layer writes: key layout, expiries, nothing left behind,
group fan-out and eviction, capacity and statistics, against a real server."""

from __future__ import annotations

import time

import pytest
import redis

pytestmark = pytest.mark.integration


@pytest.fixture
def client(redis_url):
    with redis.Redis.from_url(redis_url) as client:
        yield client


def keys_of(client, layer):
    return sorted(k.decode() for k in client.scan_iter(match=layer.prefix + "*"))


def drain(layer, channel):
    received = []
    while True:
        name, message = layer.receive([channel])
        if name is None:
            return received
        received.append((name, message))


def evalsha_calls(client):
    return client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)


def test_a_message_is_one_list_item_under_the_channel_key_with_a_ttl(layer, client):
    before = time.time()
    layer.send("layout.chan", {"value": 1})
    key = layer.prefix + "layout.chan"
    assert keys_of(client, layer) == [key]
    (item,) = client.lrange(key, 0, -1)
    deadline_ms = int(item[:13])
    assert before * 1000 + 59_000 < deadline_ms < time.time() * 1000 + 61_000
    assert 60_000 < client.pttl(key) <= layer._queue_ttl_ms


def test_process_specific_channels_share_one_inbox_per_process(layer, client):
    layer.send("daphne.response.P1!a", {"n": 1})
    layer.send("daphne.response.P1!b", {"n": 2})
    layer.send("daphne.response.P2!a", {"n": 3})
    inbox = layer.prefix + "daphne.response.P1!"
    assert client.llen(inbox) == 2
    assert keys_of(client, layer) == sorted([inbox, layer.prefix + "daphne.response.P2!"])
    assert drain(layer, "daphne.response.P1!") == [
        ("daphne.response.P1!a", {"n": 1}),
        ("daphne.response.P1!b", {"n": 2}),
    ]


def test_receiving_removes_the_message(layer, client):
    layer.send("layout.rm", {})
    layer.send("layout.rm", {})
    key = layer.prefix + "layout.rm"
    layer.receive(["layout.rm"])
    assert client.llen(key) == 1
    layer.receive(["layout.rm"], block=True)
    assert not client.exists(key)


def test_group_keys_expire_after_group_expiry(make_layer, client):
    layer = make_layer(group_expiry=300)
    layer.group_add("room", "member.one")
    for key in (layer.prefix + "group:room", layer.prefix + "groupcap:room"):
        assert 290 < client.ttl(key) <= 300


def test_every_key_the_layer_writes_has_an_expiry(make_layer, client):
    layer = make_layer(capacity=2)
    layer.send("ttl.a", {})
    layer.send("ttl.p!x", {})
    layer.group_add("ttl-group", "ttl.a")
    layer.group_add("ttl-group", "ttl.p!y")
    layer.send_group("ttl-group", {})
    for _ in range(3):
        try:
            layer.send("ttl.full", {})
        except layer.ChannelFull:
            pass
    all_keys = list(client.scan_iter(match=layer.prefix + "*"))
    all_keys += list(client.scan_iter(match=layer.stats_prefix + "*"))
    assert len(all_keys) > 8  # queues, group keys, counters, per-second buckets
    assert {k: client.ttl(k) for k in all_keys if client.ttl(k) < 0} == {}


def test_key_count_returns_to_baseline_after_a_load_run(make_layer, client):
    layer = make_layer(stats_prefix="", capacity=1000)
    baseline = client.dbsize()
    channels = [f"load.{i}" for i in range(5)] + [
        f"load.proc{i}!conn{j}" for i in range(3) for j in range(4)
    ]
    for channel in channels:
        layer.group_add("load-group", channel)
    for round_ in range(40):
        for channel in channels:
            layer.send(channel, {"round": round_})
        layer.send_group("load-group", {"round": "group"})
    assert client.dbsize() > baseline
    received = 0
    for queue in {layer.non_local_name(c) for c in channels}:
        received += len(drain(layer, queue))
    assert received == 40 * len(channels) + 40 * len(channels)
    for channel in channels:
        layer.group_discard("load-group", channel)
    assert keys_of(client, layer) == []
    assert client.dbsize() == baseline


def test_an_expired_message_is_never_delivered_and_is_removed(make_layer, client):
    layer = make_layer(expiry=1)
    layer.blpop_timeout = 1
    layer.send("exp.chan", {"n": 1})
    layer.send("exp.proc!a", {"n": 2})
    time.sleep(1.1)
    assert layer.receive(["exp.chan"], block=True) == (None, None)
    assert layer.receive(["exp.proc!"]) == (None, None)
    assert keys_of(client, layer) == []


def test_send_group_is_one_script_call_for_1000_members(layer, client):
    members = [f"fan.member{i}" for i in range(1000)]
    for member in members:
        layer.group_add("fan", member)
    calls = evalsha_calls(client)
    layer.send_group("fan", {"text": "hello"})
    assert evalsha_calls(client) - calls == 1
    for member in members:
        assert layer.receive([member]) == (member, {"text": "hello"})
    assert keys_of(client, layer) == sorted(
        [layer.prefix + "group:fan", layer.prefix + "groupcap:fan"]
    )


def test_process_members_get_one_copy_per_process_inbox(layer, client):
    members = [f"ws.send.proc{p}!conn{c}" for p in range(4) for c in range(250)]
    for member in members:
        layer.group_add("broadcast", member)
    layer.send_group("broadcast", {"text": "all"})
    for p in range(4):
        assert client.llen(f"{layer.prefix}ws.send.proc{p}!") == 1
    got = []
    for p in range(4):
        got.extend(name for name, _ in drain(layer, f"ws.send.proc{p}!"))
    assert sorted(got) == sorted(members)


def test_send_group_never_raises_channel_full_and_full_members_miss_out(make_layer):
    layer = make_layer(capacity=2)
    layer.group_add("g", "full.member")
    layer.group_add("g", "free.member")
    layer.send("full.member", {})
    layer.send("full.member", {})
    layer.send_group("g", {"from": "group"})
    assert len(drain(layer, "full.member")) == 2
    assert drain(layer, "free.member") == [("free.member", {"from": "group"})]


def test_members_whose_messages_expire_unread_are_dropped_from_the_group(make_layer):
    layer = make_layer(expiry=2)
    for member in ("gone.member", "gone.proc!a", "alive.member"):
        layer.group_add("evict", member)
    layer.send_group("evict", {"n": 1})
    time.sleep(0.2)
    assert layer.receive(["alive.member"]) == ("alive.member", {"n": 1})
    time.sleep(2.0)
    layer.send_group("evict", {"n": 2})
    assert layer.group_channels("evict") == ["alive.member"]
    assert layer.receive(["alive.member"]) == ("alive.member", {"n": 2})


def test_members_leave_the_group_after_group_expiry(make_layer):
    layer = make_layer(group_expiry=1)
    layer.group_add("short", "short.member")
    assert layer.group_channels("short") == ["short.member"]
    time.sleep(1.2)
    assert layer.group_channels("short") == []
    layer.send_group("short", {})
    assert layer.receive(["short.member"]) == (None, None)


def test_group_add_refreshes_membership(make_layer):
    layer = make_layer(group_expiry=3)
    layer.group_add("renew", "renew.member")
    time.sleep(2.0)
    layer.group_add("renew", "renew.member")
    time.sleep(2.0)
    assert layer.group_channels("renew") == ["renew.member"]


def test_capacity_patterns_apply_to_group_members_and_process_inboxes(make_layer):
    layer = make_layer(capacity=10, channel_capacity={"small.*": 1, "inbox!*": 3})
    layer.group_add("caps", "small.one")
    for _ in range(3):
        layer.send_group("caps", {})
    assert len(drain(layer, "small.one")) == 1
    for i in range(3):
        layer.send(f"inbox!{i}", {})
    with pytest.raises(layer.ChannelFull, match="capacity of 3"):
        layer.send("inbox!x", {})


def test_expired_messages_do_not_count_against_capacity(make_layer):
    layer = make_layer(capacity=1, expiry=1)
    layer.send("cap.exp", {"n": 1})
    with pytest.raises(layer.ChannelFull):
        layer.send("cap.exp", {"n": 2})
    time.sleep(1.1)
    layer.send("cap.exp", {"n": 3})
    assert drain(layer, "cap.exp") == [("cap.exp", {"n": 3})]


def test_statistics_count_messages_full_sends_rates_pending_and_age(make_layer):
    layer = make_layer(capacity=3)
    for _ in range(3):
        layer.send("stats.chan", {})
    with pytest.raises(layer.ChannelFull):
        layer.send("stats.chan", {})
    layer.send("stats.other", {})
    time.sleep(1.2)
    channel = layer.channel_statistics("stats.chan", detailed=True)
    assert channel["messages_count"] == 3
    assert channel["channel_full_count"] == 1
    assert channel["messages_pending"] == 3
    assert 1.0 <= channel["messages_max_age"] < 5
    assert channel["messages_count_per_second"] == pytest.approx(0.3)
    assert channel["channel_full_count_per_second"] == pytest.approx(0.1)
    overall = layer.global_statistics(detailed=True)
    assert overall["messages_count"] == 4
    assert overall["channel_full_count"] == 1
    assert overall["messages_count_per_second"] == pytest.approx(0.4)
    layer.receive(["stats.chan"])
    assert layer.channel_statistics("stats.chan")["messages_pending"] == 2


def test_a_forked_child_does_not_write_its_parents_counts_again(make_layer):
    import os

    layer = make_layer()
    for _ in range(3):
        layer.send("fork.chan", {})
    assert layer._statistics.counts  # counted, not written yet
    pid = os.fork()
    if pid == 0:  # the child: it must start with no counts, then count its own
        try:
            fresh = not layer._statistics.counts
            layer.send("fork.chan", {})
            layer.flush_background()
            os._exit(0 if fresh else 3)
        except BaseException:  # noqa: BLE001
            os._exit(4)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    layer.flush_background()
    # 3 from the parent, 1 from the child: none counted twice
    assert layer.channel_statistics("fork.chan")["messages_count"] == 4


def test_statistics_of_a_process_channel_are_those_of_its_inbox(layer):
    layer.send("statp!a", {})
    layer.send("statp!b", {})
    assert layer.channel_statistics("statp!zzz")["messages_count"] == 2
    assert layer.channel_statistics("statp!")["messages_pending"] == 2


def test_flush_removes_only_this_layers_keys(make_layer, client):
    layer = make_layer()
    other = make_layer()
    layer.send("flush.a", {})
    layer.group_add("flush-group", "flush.a")
    other.send("flush.a", {})
    layer.flush()
    assert keys_of(client, layer) == []
    assert list(client.scan_iter(match=layer.stats_prefix + "*")) == []
    assert other.receive(["flush.a"]) == ("flush.a", {})


def test_a_message_from_a_foreign_key_is_dropped_not_raised(make_layer):
    sender = make_layer(symmetric_encryption_keys=["sender-key"])
    receiver = make_layer(prefix=sender.prefix, symmetric_encryption_keys=["other-key"])
    sender.send("enc.chan", {"secret": 1})
    assert receiver.receive(["enc.chan"]) == (None, None)


def test_encrypted_payloads_are_not_readable_in_redis(make_layer, client):
    layer = make_layer(symmetric_encryption_keys=["k1"])
    layer.send("enc.raw", {"secret": "hunter2"})
    (item,) = client.lrange(layer.prefix + "enc.raw", 0, -1)
    assert b"hunter2" not in item
    assert layer.receive(["enc.raw"]) == ("enc.raw", {"secret": "hunter2"})


def test_a_process_inbox_is_popped_in_batches_and_kept_in_order(layer, client):
    for n in range(5):
        layer.send(f"batch.proc!c{n}", {"n": n})
    assert layer.receive(["batch.proc!"], block=True) == ("batch.proc!c0", {"n": 0})
    assert client.llen(layer.prefix + "batch.proc!") == 0  # the rest came along
    got = [layer.receive(["batch.proc!"]) for _ in range(4)]
    assert got == [(f"batch.proc!c{n}", {"n": n}) for n in range(1, 5)]
    assert layer.receive(["batch.proc!"]) == (None, None)


def test_normal_channels_are_popped_one_message_at_a_time(layer, client):
    for n in range(3):
        layer.send("single.chan", {"n": n})
    layer.receive(["single.chan"], block=True)
    layer.receive(["single.chan"])
    assert client.llen(layer.prefix + "single.chan") == 1


@pytest.mark.parametrize("block", [False, True])
def test_servers_without_lmpop_are_served_by_the_lua_fallback(layer, block):
    layer._shards[0].has_blmpop = False
    for n in range(3):
        layer.send("old.proc!a", {"n": n})
    layer.send("old.chan", {"n": 9})
    assert layer.receive(["old.proc!"], block=block) == ("old.proc!a", {"n": 0})
    assert layer.receive(["old.chan"], block=block) == ("old.chan", {"n": 9})
    assert [layer.receive(["old.proc!"])[1]["n"] for _ in range(2)] == [1, 2]


def total_commands(client):
    """Commands the server ran, the INFO calls that ask excepted."""
    stats = client.info("commandstats")
    return sum(v["calls"] for k, v in stats.items() if k != "cmdstat_info")


def test_send_and_receive_are_one_command_each_once_the_queue_has_its_ttl(make_layer, client):
    layer = make_layer(stats_prefix="")
    layer.send("one.cmd", {"n": 0})  # the first push of a process renews the TTL with it
    before = total_commands(client)
    for n in range(1, 21):
        layer.send("one.cmd", {"n": n})
    assert total_commands(client) - before == 20
    before, scripts = total_commands(client), evalsha_calls(client)
    for n in range(21):
        assert layer.receive(["one.cmd"], block=True) == ("one.cmd", {"n": n})
    assert total_commands(client) - before == 21
    assert evalsha_calls(client) == scripts


def test_a_queue_created_again_by_a_plain_push_gets_its_ttl_within_a_second(layer, client):
    key = layer.prefix + "again.chan"
    layer.send("again.chan", {})
    assert layer.receive(["again.chan"]) == ("again.chan", {})
    assert not client.exists(key)
    layer.send("again.chan", {"n": 2})  # created anew; this process renewed the TTL just now
    deadline = time.monotonic() + 3
    while client.pttl(key) < 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert 60_000 < client.pttl(key) <= layer._queue_ttl_ms
    assert layer.receive(["again.chan"]) == ("again.chan", {"n": 2})


def test_a_queue_created_by_a_process_that_exits_at_once_still_gets_its_ttl(
    layer, client, redis_url
):
    import subprocess
    import sys

    script = (
        "from asgi_redis import RedisChannelLayer\n"
        f"layer = RedisChannelLayer(hosts=[{redis_url!r}], prefix={layer.prefix!r},"
        f" stats_prefix={layer.stats_prefix!r})\n"
        "layer.send('exit.chan', {})\n"
        "layer.receive(['exit.chan'])\n"
        "for n in range(3):\n"
        "    layer.send('exit.chan', {'n': n})\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=30)
    assert client.llen(layer.prefix + "exit.chan") == 3
    assert client.pttl(layer.prefix + "exit.chan") > 60_000
    # Its counts were written at exit too.
    assert layer.channel_statistics("exit.chan")["messages_count"] == 4


def test_capacity_holds_exactly_with_concurrent_senders(make_layer, client):
    import threading

    layers = [make_layer(capacity=50) for _ in range(4)]
    for other in layers[1:]:
        other.prefix = layers[0].prefix
    refused = []

    def fill(layer):
        for n in range(40):
            try:
                layer.send("race.chan", {"n": n})
            except layer.ChannelFull:
                refused.append(n)

    threads = [threading.Thread(target=fill, args=(layer,)) for layer in layers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert client.llen(layers[0].prefix + "race.chan") == 50
    assert len(refused) == 4 * 40 - 50


def test_statistics_of_other_layers_arrive_within_about_a_second(make_layer, layer):
    reader = make_layer(prefix=layer.prefix, stats_prefix=layer.stats_prefix)
    for _ in range(5):
        layer.send("late.stats", {})
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        if reader.global_statistics()["messages_count"] == 5:
            break
        time.sleep(0.1)
    assert reader.global_statistics()["messages_count"] == 5
    assert reader.channel_statistics("late.stats")["messages_count"] == 5


def test_send_batch_is_one_write_and_one_command_per_message(make_layer, client, monkeypatch):
    from asgi_redis._link import Link

    layer = make_layer(stats_prefix="")
    layer.send("sb.chan", {"n": -1})  # the first push of a process renews the TTL with it
    layer.send("sb.proc!x", {"n": -1})
    writes = []
    real_write = Link.write
    monkeypatch.setattr(
        Link, "write", lambda link, data: writes.append(data) or real_write(link, data)
    )
    before = total_commands(client)
    outcome = layer.send_batch(
        [("sb.chan", {"n": n}) for n in range(10)] + [("sb.proc!x", {"n": 0})]
    )
    assert outcome == [None] * 11
    assert len(writes) == 1
    assert total_commands(client) - before == 11
    assert [m["n"] for _, m in drain(layer, "sb.chan")] == list(range(-1, 10))


def test_receive_batch_pops_several_messages_in_one_command(layer, client):
    for n in range(6):
        layer.send("rb.chan", {"n": n})
    before = total_commands(client)
    first = layer.receive_batch(["rb.chan"], block=True, limit=4)
    second = layer.receive_batch(["rb.chan"], limit=4)
    assert total_commands(client) - before == 2
    assert [m["n"] for _, m in first + second] == list(range(6))
    assert not client.exists(layer.prefix + "rb.chan")


def test_receive_batch_skips_expired_messages(make_layer):
    layer = make_layer(expiry=1)
    layer.send("rbx.chan", {"n": "old"})
    time.sleep(1.1)
    layer.send("rbx.chan", {"n": "new"})
    assert layer.receive_batch(["rbx.chan"], limit=8) == [("rbx.chan", {"n": "new"})]


def test_send_batch_over_capacity_keeps_order_when_expired_messages_make_room(make_layer):
    layer = make_layer(expiry=1, capacity=2)
    layer.send("sbx.chan", {"n": "old"})
    layer.send("sbx.chan", {"n": "old"})
    time.sleep(1.1)
    outcome = layer.send_batch([("sbx.chan", {"n": n}) for n in range(3)])
    assert outcome[:2] == [None, None]
    assert isinstance(outcome[2], layer.ChannelFull)
    assert [m["n"] for _, m in drain(layer, "sbx.chan")] == [0, 1]
