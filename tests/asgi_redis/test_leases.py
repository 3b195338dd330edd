"""The ``leases`` extension against a real Redis: renewal, expiry of every
key, and exactly one reaper per dead lease."""

from __future__ import annotations

import threading
import time

import pytest

from asgi import _leases
from asgi_redis._leases import LEASE_GRACE

pytestmark = pytest.mark.integration


def wait_until_claimed(layer, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        claimed = layer.lease_claim()
        if claimed:
            return claimed
        time.sleep(0.05)
    raise AssertionError("no lease ran out")


def test_a_lease_that_ran_out_is_claimed_with_its_entries(make_layer):
    layer = make_layer()
    assert layer.lease_renew("d1!", 0.2, {"d1!a": "1 /chat", "d1!b": "4 /room/é"}) is False
    assert layer.lease_claim() == []  # still running
    claimed = wait_until_claimed(layer)
    assert claimed == [("d1!", {"d1!a": "1 /chat", "d1!b": "4 /room/é"})]
    assert layer.lease_claim() == []  # gone once claimed
    assert layer.connection(0).exists(f"{layer.prefix}lease:d1!") == 0


def test_renewal_applies_changes_and_reports_the_lease_held(make_layer):
    layer = make_layer()
    layer.lease_renew("d1!", 10, {"d1!a": "1 /a", "d1!b": "1 /b"})
    assert layer.lease_renew("d1!", 10, {"d1!c": "1 /c", "d1!a": "3 /a"}, ["d1!b"]) is True
    client = layer.connection(0)
    assert client.hgetall(f"{layer.prefix}lease:d1!") == {b"d1!a": b"3 /a", b"d1!c": b"1 /c"}


def test_a_full_renewal_replaces_the_whole_lease(make_layer):
    layer = make_layer()
    layer.lease_renew("d1!", 10, {"d1!a": "1 /a", "d1!b": "1 /b"})
    layer.lease_renew("d1!", 10, {"d1!c": "1 /c"}, full=True)
    client = layer.connection(0)
    assert client.hgetall(f"{layer.prefix}lease:d1!") == {b"d1!c": b"1 /c"}


def test_renewing_thousands_of_entries_goes_past_lua_unpack_limits(make_layer):
    layer = make_layer()
    changed = {f"d1!{i}": f"1 /{i}" for i in range(20000)}
    layer.lease_renew("d1!", 10, changed)
    layer.lease_renew("d1!", 10, {}, [f"d1!{i}" for i in range(10000)])
    assert layer.connection(0).hlen(f"{layer.prefix}lease:d1!") == 10000


def test_every_lease_key_expires_a_grace_period_after_its_deadline(make_layer):
    layer = make_layer()
    layer.lease_renew("d1!", 5, {"d1!a": "1 /a"})
    client = layer.connection(0)
    for key in (f"{layer.prefix}leases", f"{layer.prefix}lease:d1!"):
        ttl = client.pttl(key)
        assert 0 < ttl <= (5 + LEASE_GRACE) * 1000, key


def test_a_released_lease_is_never_claimed(make_layer):
    layer = make_layer()
    layer.lease_renew("d1!", 0.1, {"d1!a": "1 /a"})
    layer.lease_release("d1!")
    time.sleep(0.2)
    assert layer.lease_claim() == []
    assert layer.connection(0).exists(f"{layer.prefix}lease:d1!") == 0


def test_a_lease_that_was_reaped_is_reported_not_held_on_renewal(make_layer):
    layer = make_layer()
    layer.lease_renew("d1!", 0.1, {"d1!a": "1 /a"})
    wait_until_claimed(layer)
    assert layer.lease_renew("d1!", 10, {"d1!a": "1 /a"}) is False


def test_two_concurrent_reapers_send_each_disconnect_exactly_once(make_layer):
    layer = make_layer(capacity=10000)
    reapers = [make_layer(prefix=layer.prefix, capacity=10000) for _ in range(2)]
    for owner in range(20):
        entries = {f"d{owner}!{i}": f"{i + 1} /p{i}" for i in range(50)}
        layer.lease_renew(f"d{owner}!", 0.1, entries)
    time.sleep(0.2)
    counts = [0, 0]
    start = threading.Barrier(2)

    def run(i):
        start.wait()
        counts[i] = _leases.reap(reapers[i], batch=3)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(counts) == 1000
    got = layer.receive_batch(["websocket.disconnect"], limit=2000)
    while len(got) < 1000:
        more = layer.receive_batch(["websocket.disconnect"], limit=2000)
        assert more, len(got)
        got += more
    channels = [message["reply_channel"] for _, message in got]
    assert len(set(channels)) == 1000
    assert {message["code"] for _, message in got} == {1006}
    assert layer.receive(["websocket.disconnect"]) == (None, None)


def test_leases_on_several_shards_are_all_claimed(make_layer, shard_servers):
    layer = make_layer(hosts=[server.url for server in shard_servers])
    for owner in range(12):
        layer.lease_renew(f"d{owner}!", 0.1, {f"d{owner}!a": "1 /a"})
    time.sleep(0.2)
    owners = {owner for owner, _ in layer.lease_claim()}
    assert owners == {f"d{owner}!" for owner in range(12)}


def test_a_reaper_retries_disconnects_refused_while_the_channel_is_full(make_layer):
    layer = make_layer(capacity=5)
    layer.lease_renew("d1!", 0.1, {f"d1!{i}": f"1 /p{i}" for i in range(8)})
    time.sleep(0.2)
    got = []

    def drain():
        deadline = time.monotonic() + 5
        while len(got) < 8 and time.monotonic() < deadline:
            got.extend(layer.receive_batch(["websocket.disconnect"], limit=8))
            time.sleep(0.05)

    drainer = threading.Thread(target=drain)
    drainer.start()
    assert _leases.reap(layer) == 8
    drainer.join()
    assert len(got) == 8


def test_a_claimed_lease_leaves_its_owner_a_record_of_the_reaped_sockets(make_layer):
    from asgi_redis._leases import LEASE_REAPED_KEEP

    layer = make_layer()
    layer.lease_renew("d1!", 0.2, {"d1!b": "1 /b", "d1!a": "3 /a"})
    wait_until_claimed(layer)
    record = f"{layer.prefix}lease-reaped:d1!"
    ttl_ms = layer.connection(0).pttl(record)
    assert LEASE_REAPED_KEEP * 1000 - 5000 < ttl_ms <= LEASE_REAPED_KEEP * 1000
    assert layer.lease_reaped("d1!") == ["d1!a", "d1!b"]
    assert layer.lease_reaped("d1!") == []  # read once
    assert layer.connection(0).exists(record) == 0


def test_no_record_is_left_for_a_released_or_never_reaped_lease(make_layer):
    layer = make_layer()
    layer.lease_renew("d2!", 5, {"d2!a": "1 /a"})
    assert layer.lease_reaped("d2!") == []  # live lease: nothing reaped
    layer.lease_release("d2!")
    assert layer.lease_reaped("d2!") == []
    # an empty lease that runs out is claimed but leaves no record
    layer.lease_renew("d3!", 0.2, {})
    assert wait_until_claimed(layer) == [("d3!", {})]
    assert layer.connection(0).exists(f"{layer.prefix}lease-reaped:d3!") == 0
