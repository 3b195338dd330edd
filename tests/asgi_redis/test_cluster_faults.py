"""The cluster layer under load while the cluster fails over and reshards.

Each test starts its own private cluster (3 masters, 3 replicas) and runs a
send/receive loop through the layer: one producer thread sending numbered
messages round the process inboxes of the three shards, and one consumer
thread per inbox receiving them (blocking pops), each with its own layer.

* Failover: a master is SIGKILLed; its replica is promoted; meanwhile the
  layer raises ``RedisUnavailable`` (daphne's 503 / close 1013) and nothing
  else, and sends to the moved shard work again within 5 s of the
  promotion. Only messages of the dead master's shard may be lost (those it
  held unreplicated): the count is printed.
* Resharding: one shard's slot is migrated to another master and back,
  staying half-migrated a while each time (clients get ``ASK``), then moved
  (``MOVED``), while a normal channel (its consumer watches all three
  shards at once) and group sends to every inbox are used too: no message
  is lost or duplicated and no call fails.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter

import pytest

from asgi_redis import RedisClusterChannelLayer, RedisUnavailable

pytestmark = pytest.mark.integration


class Load:
    """The send/receive loop over ``inboxes``: process inboxes (``...!``,
    each on one shard) or normal channels (spread over every shard, their
    consumer watching all of them at once)."""

    def __init__(self, make_layer, inboxes: list[str], group_every: int = 0) -> None:
        self.make_layer = make_layer
        #: Every how many sends one is a group send to every process inbox
        #: (0: none); their numbers are in ``group_sent`` and ``group_received``.
        self.group_every = group_every
        self.group_sent: list[int] = []
        self.group_received: dict[str, list[int]] = {inbox: [] for inbox in inboxes}
        self.inboxes = inboxes
        self.sent: dict[str, list[int]] = {inbox: [] for inbox in inboxes}
        #: When each send of ``sent`` was acknowledged (monotonic seconds).
        self.sent_at: dict[str, list[float]] = {inbox: [] for inbox in inboxes}
        self.received: dict[str, list[int]] = {inbox: [] for inbox in inboxes}
        self.errors: list[tuple[float, str, BaseException]] = []
        self.last_ok: dict[str, float] = dict.fromkeys(inboxes, 0.0)
        self.producing = threading.Event()
        self.consuming = threading.Event()
        self.producer_layer = make_layer()
        self.consumer_layers: dict[str, RedisClusterChannelLayer] = {}
        self.threads = [threading.Thread(target=self._produce, daemon=True)] + [
            threading.Thread(target=self._consume, args=(inbox,), daemon=True) for inbox in inboxes
        ]

    def start(self) -> None:
        for inbox in self.inboxes:
            if self.group_every and inbox.endswith("!"):
                self.producer_layer.group_add("everyone", f"{inbox}g")
        self.producing.set()
        self.consuming.set()
        for thread in self.threads:
            thread.start()

    def _produce(self) -> None:
        layer = self.producer_layer
        for seq in itertools.count():
            if not self.producing.is_set():
                return
            if self.group_every and seq % self.group_every == 0:
                self._send_group(layer, seq)
                continue
            inbox = self.inboxes[seq % len(self.inboxes)]
            try:
                layer.send(f"{inbox}s" if inbox.endswith("!") else inbox, {"seq": seq})
            except Exception as exc:  # noqa: BLE001 - every failure is recorded and judged
                self.errors.append((time.monotonic(), inbox, exc))
                time.sleep(0.01)
            else:
                self.sent[inbox].append(seq)
                self.last_ok[inbox] = time.monotonic()
                self.sent_at[inbox].append(self.last_ok[inbox])
            time.sleep(0.002)

    def _send_group(self, layer: RedisClusterChannelLayer, seq: int) -> None:
        try:
            layer.send_group("everyone", {"seq": seq, "group": True})
        except Exception as exc:  # noqa: BLE001 - every failure is recorded and judged
            self.errors.append((time.monotonic(), "everyone", exc))
        else:
            self.group_sent.append(seq)

    def _consume(self, inbox: str) -> None:
        layer = self.consumer_layers[inbox] = self.make_layer()
        try:
            while self.consuming.is_set():
                try:
                    channel, message = layer.receive([inbox], block=True)
                except Exception as exc:  # noqa: BLE001 - every failure is recorded and judged
                    self.errors.append((time.monotonic(), inbox, exc))
                    time.sleep(0.05)
                    continue
                if channel is not None and message.get("group"):
                    self.group_received[inbox].append(message["seq"])
                elif channel is not None:
                    self.received[inbox].append(message["seq"])
        finally:
            layer.close()

    def stop(self, settle: float = 1.5, limit: float = 10.0) -> None:
        """Stop sending, let the consumers take what is left (until nothing
        new arrives for ``settle`` s), then stop them."""
        self.producing.clear()
        self.threads[0].join(5)
        deadline = time.monotonic() + limit
        last, quiet_since = -1, time.monotonic()
        while time.monotonic() < deadline:
            total = sum(len(seqs) for seqs in self.received.values())
            if total != last:
                last, quiet_since = total, time.monotonic()
            elif time.monotonic() - quiet_since > settle:
                break
            time.sleep(0.05)
        self.consuming.clear()
        for thread in self.threads[1:]:
            thread.join(5)
        self.producer_layer.close()

    def lost(self, inbox: str) -> int:
        return len(set(self.sent[inbox]) - set(self.received[inbox]))

    def duplicated(self, inbox: str) -> int:
        return sum(n - 1 for n in Counter(self.received[inbox]).values() if n > 1)


def _inboxes(layer: RedisClusterChannelLayer) -> list[str]:
    """One process inbox name per shard, in shard order."""
    found: dict[int, str] = {}
    for n in itertools.count():
        name = f"p{n}!"
        found.setdefault(layer.consistent_hash(name), name)
        if len(found) == layer.ring_size:
            return [found[index] for index in range(layer.ring_size)]
    raise AssertionError("unreachable")


def _factory(cluster, prefix: str):
    def make() -> RedisClusterChannelLayer:
        layer = RedisClusterChannelLayer(
            hosts=cluster.seeds,
            prefix=prefix,
            stats_prefix="",
            connection_kwargs={"socket_connect_timeout": 1},
        )
        layer.blpop_timeout = 1
        return layer

    return make


def _wait(condition, timeout: float, what: str) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return time.monotonic()
        time.sleep(0.02)
    raise AssertionError(f"{what} did not happen within {timeout} s")


def test_failover_under_load(make_redis_cluster):
    cluster = make_redis_cluster(node_timeout=1000)
    make = _factory(cluster, "fo:")
    probe = make()
    inboxes = _inboxes(probe)
    slot = probe._shards[0].slot
    load = Load(make, inboxes)
    load.start()
    try:
        time.sleep(1.0)
        victim = cluster.master_of(slot)
        assert all(load.sent[inbox] for inbox in inboxes)
        killed_at = time.monotonic()
        victim.kill()
        promoted_at = _wait(
            lambda: cluster.master_of(slot) is not victim, 15, "the replica's promotion"
        )
        recovered_at = _wait(
            lambda: load.last_ok[inboxes[0]] > promoted_at, 10, "a send to the moved shard"
        )
        time.sleep(1.0)
    finally:
        load.stop()
        probe.close()
    outage = [exc for at, _, exc in load.errors if at >= killed_at]
    lost = load.lost(inboxes[0])
    print(
        f"\nfailover: promoted {promoted_at - killed_at:.2f} s after the kill, sends "
        f"to its shard worked again {recovered_at - promoted_at:.2f} s after the promotion; "
        f"{len(outage)} calls raised RedisUnavailable meanwhile; "
        f"{sum(map(len, load.sent.values()))} messages sent, {lost} lost "
        f"(all on the dead master's shard), {load.duplicated(inboxes[0])} delivered twice"
    )
    assert recovered_at - promoted_at < 5.0
    # the outage showed as the layer's usual error, and as nothing else
    assert outage, "no call failed while a master was dead"
    assert [exc for _, _, exc in load.errors if not isinstance(exc, RedisUnavailable)] == []
    # the other masters' shards lost and repeated nothing
    for inbox in inboxes[1:]:
        assert load.lost(inbox) == 0
        assert load.duplicated(inbox) == 0
    # the dead master's shard could only lose what it held unreplicated: a
    # replica on the same machine lags by far less than a second
    just_before = [at for at in load.sent_at[inboxes[0]] if killed_at - 1.0 <= at <= killed_at]
    assert lost <= len(just_before)


def test_resharding_under_load(make_redis_cluster):
    cluster = make_redis_cluster()
    make = _factory(cluster, "rs:")
    probe = make()
    inboxes = _inboxes(probe)
    slot = probe._shards[0].slot
    load = Load(make, [*inboxes, "work"], group_every=7)
    load.start()
    try:
        time.sleep(0.5)
        source = cluster.master_of(slot)
        target = next(node for node in cluster.master_nodes() if node is not source)
        cluster.migrate_slot(slot, target, hold=0.3)
        assert cluster.master_of(slot) is target
        time.sleep(0.5)
        cluster.migrate_slot(slot, source, hold=0.3)
        time.sleep(0.5)
    finally:
        load.stop()
        probe.close()
    redirects = load.producer_layer.topology.redirects
    watcher = load.consumer_layers["work"].topology.redirects
    total = sum(map(len, load.sent.values()))
    print(
        f"\nresharding: {total} messages and {len(load.group_sent)} group messages sent; "
        f"redirects followed by the sender: {redirects}, "
        f"by the consumer watching every shard: {watcher}"
    )
    assert cluster.master_of(slot) is source
    assert [(inbox, repr(exc)) for _, inbox, exc in load.errors] == []
    for inbox in [*inboxes, "work"]:
        assert sorted(load.received[inbox]) == load.sent[inbox], inbox
    assert load.group_sent
    for inbox in inboxes:
        assert sorted(load.group_received[inbox]) == load.group_sent, inbox
    assert redirects["MOVED"] >= 1
    assert redirects["ASK"] >= 1
    assert watcher["MOVED"] >= 1


def test_a_group_send_that_meets_a_half_migrated_slot_reaches_each_member_once(
    make_redis_cluster, monkeypatch
):
    # The slot is MIGRATING, its keys not moved yet: the group's keys are
    # still at the source, so the group send runs there, but one member's
    # queue does not exist there, which Redis answers "non local key". The
    # send is retried once the keys have moved (then ASK takes it to the
    # target), and the member whose queue did exist gets one copy, not two.
    from asgi_redis._cluster_shard import ClusterShard

    cluster = make_redis_cluster()
    layer = _factory(cluster, "hm:")()
    shard = layer._shards[0]
    names = [f"p{n}!" for n in range(200) if layer.consistent_hash(f"p{n}!") == 0][:2]
    waiting, empty = names[0] + "a", names[1] + "b"
    layer.group_add("hm", waiting)  # added first: its queue comes first in the fan-out
    layer.group_add("hm", empty)
    layer.send(waiting, {"n": "before"})  # its queue exists; the other's does not
    source = cluster.master_of(shard.slot)
    target = next(node for node in cluster.master_nodes() if node is not source)
    with cluster.client(target) as to, cluster.client(source) as frm:
        to.execute_command("CLUSTER SETSLOT", shard.slot, "IMPORTING", cluster.node_id(source))
        frm.execute_command("CLUSTER SETSLOT", shard.slot, "MIGRATING", cluster.node_id(target))
    moved = []
    real_follow = ClusterShard.follow

    def follow(self, error, attempt):
        if not moved:  # the first retry: move the keys now, as a reshard would
            moved.append(str(error))
            with cluster.client(source) as frm:
                keys = frm.execute_command("CLUSTER GETKEYSINSLOT", shard.slot, 100)
                frm.execute_command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", *keys)
        return real_follow(self, error, attempt)

    monkeypatch.setattr(ClusterShard, "follow", follow)
    try:
        layer.send_group("hm", {"n": "group"})
    finally:
        monkeypatch.undo()
        cluster.migrate_slot(shard.slot, target)  # finish the move (no keys left to move)
    assert moved and "non local key" in moved[0], moved
    got = {name: [] for name in (waiting, empty)}
    for _ in range(3):
        channel, message = layer.receive([names[0], names[1]], block=True)
        got[channel].append(message["n"])
    assert got == {waiting: ["before", "group"], empty: ["group"]}
    assert layer.receive([names[0], names[1]]) == (None, None)
    layer.close()


def test_a_batch_receive_follows_a_slot_moved_since_the_layer_last_looked(make_redis_cluster):
    cluster = make_redis_cluster()
    layer = _factory(cluster, "mv:")()
    try:
        for n in range(6):
            layer.send("work", {"n": n})
        slot = layer.shard(0).slot
        source = cluster.master_of(slot)
        cluster.migrate_slot(slot, next(n for n in cluster.master_nodes() if n is not source))
        # The layer's slot map still names the old master: its pop there is
        # answered MOVED and sent again to the new one, the others' kept.
        got = []
        for _ in range(6):
            got += [m["n"] for _, m in layer.receive_batch(["work"], limit=6)]
        assert sorted(got) == list(range(6))
        assert layer.topology.redirects["MOVED"] >= 1
    finally:
        layer.close()
