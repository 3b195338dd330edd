"""The Redis layer's group history against real servers: the keys it writes,
offsets across processes, bounds, expiry, and one script call per shard.

See asgi_redis/_history.py and docs/topics/history.rst.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import pytest
import redis

from asgi._history import OFFSET_MARK
from asgi_redis import RedisChannelLayer
from asgi_redis._history import number

pytestmark = pytest.mark.integration


def numbered(text):
    return {"text": f"{text}@{OFFSET_MARK}"}


def offset_of(message):
    return int(message["text"].split("@", 1)[1])


@pytest.fixture
def client(redis_url):
    with redis.Redis.from_url(redis_url) as client:
        yield client


class Monitor:
    """The commands clients send a server (MONITOR), without those a script runs."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url)
        self.monitor = self.client.monitor()
        self.monitor.__enter__()

    def commands(self) -> list[str]:
        """Every top-level command since the last call (an ECHO marks the end)."""
        marker = uuid.uuid4().hex
        self.client.echo(marker)
        seen = []
        while True:
            entry = self.monitor.next_command()
            if marker in entry["command"]:
                return seen
            if entry.get("client_type") != "lua":
                seen.append(entry["command"].split()[0].upper())

    def close(self) -> None:
        self.monitor.__exit__(None, None, None)
        self.client.close()


SENDER = """
import sys
from asgi_redis import RedisChannelLayer
from asgi._history import OFFSET_MARK
layer = RedisChannelLayer(hosts=[sys.argv[1]], prefix=sys.argv[2], stats_prefix="")
offsets = [layer.send_group_history("shared", {"text": OFFSET_MARK}, 1000, 60) for _ in range(200)]
print(",".join(map(str, offsets)))
layer.close()
"""


def test_offsets_from_two_processes_are_unique_consecutive_and_increase_in_each(
    make_layer, redis_url
):
    layer = make_layer(stats_prefix="")
    other = subprocess.Popen(
        [sys.executable, "-c", SENDER, redis_url, layer.prefix],
        stdout=subprocess.PIPE,
        text=True,
    )
    mine = [layer.send_group_history("shared", {"text": OFFSET_MARK}, 1000, 60) for _ in range(200)]
    out, _ = other.communicate(timeout=60)
    theirs = [int(n) for n in out.strip().split(",")]
    for offsets in (mine, theirs):
        assert offsets == sorted(offsets)
    every = sorted(mine + theirs)
    assert every == list(range(every[0], every[0] + 400))
    kept, gap, last = layer.group_history("shared", 0)
    assert [offset for offset, _ in kept] == every
    assert [offset_of({"text": "@" + m["text"]}) for _, m in kept] == every
    assert (gap, last) == (False, every[-1])


def test_history_is_a_capped_list_and_a_counter_that_both_expire(make_layer, client):
    layer = make_layer(stats_prefix="")
    offsets = [layer.send_group_history("kept", numbered(n), 5, 30) for n in range(12)]
    history_key, counter_key = layer.prefix + "history:kept", layer.prefix + "history-offset:kept"
    assert client.llen(history_key) == 5
    assert int(client.get(counter_key)) == offsets[-1]
    for key in (history_key, counter_key):
        assert 29_000 < client.pttl(key) <= 30_000
    layer.send_group_history("brief", numbered("x"), 5, 0.3)
    time.sleep(0.5)
    assert client.exists(layer.prefix + "history:brief", layer.prefix + "history-offset:brief") == 0


def test_an_offset_older_than_the_history_is_a_gap_with_the_rest_in_order(make_layer):
    writer, reader = make_layer(stats_prefix=""), make_layer(stats_prefix="")
    reader.prefix = writer.prefix
    offsets = [writer.send_group_history("g", numbered(n), 3, 30) for n in range(6)]
    messages, gap, last = reader.group_history("g", offsets[1])
    assert gap is True
    assert [offset for offset, _ in messages] == offsets[3:]
    assert [m["text"].split("@")[0] for _, m in messages] == ["3", "4", "5"]
    assert last == offsets[-1]


def test_a_history_send_is_one_command_on_one_server(make_layer, redis_url):
    layer = make_layer(stats_prefix="")
    layer.group_add("one.trip", "one.trip.member!a")
    layer.send_group_history("one.trip", numbered("warm"), 10, 30)  # loads the script
    monitor = Monitor(redis_url)
    try:
        monitor.commands()
        for n in range(10):
            layer.send_group_history("one.trip", numbered(n), 10, 30)
        assert monitor.commands() == ["EVALSHA"] * 10
    finally:
        monitor.close()


def test_with_three_shards_each_server_runs_one_script_and_every_member_gets_the_offset(
    shard_servers,
):
    hosts = [server.url for server in shard_servers]
    layer = RedisChannelLayer(hosts=hosts, prefix=f"h{uuid.uuid4().hex[:6]}:", stats_prefix="")
    clients = [redis.Redis.from_url(url) for url in hosts]
    try:
        members = [f"shard{i}.proc!x" for i in range(12)]
        assert {layer.consistent_hash(m.split("!")[0] + "!") for m in members} == {0, 1, 2}
        for member in members:
            layer.group_add("spread", member)
        layer.send_group_history("spread", numbered("warm"), 10, 30)
        for member in members:
            layer.receive([member.split("!")[0] + "!"])
        monitors = [Monitor(url) for url in hosts]
        try:
            for monitor in monitors:
                monitor.commands()
            offset = layer.send_group_history("spread", numbered("hello"), 10, 30)
            assert [monitor.commands() for monitor in monitors] == [["EVALSHA"]] * 3
        finally:
            for monitor in monitors:
                monitor.close()
        for member in members:
            channel, message = layer.receive([member.split("!")[0] + "!"])
            assert channel == member
            assert offset_of(message) == offset
        home = layer.consistent_hash("spread")
        stored = [c.llen(layer.prefix + "history:spread") for c in clients]
        assert stored == [2 if i == home else 0 for i in range(3)]
    finally:
        layer.flush()
        layer.close()
        for c in clients:
            c.close()


def test_an_encrypted_layer_offers_no_history_and_says_why(make_layer):
    layer = make_layer(symmetric_encryption_keys=["secret"])
    assert "history" not in layer.extensions
    with pytest.raises(NotImplementedError, match="symmetric_encryption_keys"):
        layer.send_group_history("g", numbered("x"), 5, 30)


def test_every_mark_of_a_message_gets_the_offset_in_redis_and_in_the_client(make_layer):
    layer = make_layer(stats_prefix="")
    layer.group_add("marks", "marks.member")
    message = {"text": f"[{OFFSET_MARK}]", "extra": {"again": OFFSET_MARK}}
    offset = layer.send_group_history("marks", message, 5, 30)
    _, got = layer.receive(["marks.member"])
    padded = str(offset).ljust(len(OFFSET_MARK))
    assert got == {"text": f"[{padded}]", "extra": {"again": padded}}
    payload = layer.serialize(message)
    assert layer.deserialize(number(payload, offset)) == got
