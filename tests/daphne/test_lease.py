"""This daphne's socket lease: what it writes and when (unit and protocol tiers)."""

from __future__ import annotations

import logging
import time
from types import SimpleNamespace

import pytest
from twisted.internet import defer, task

from daphne import _lease
from daphne._lease import LeaseBook, LeaseKeeper, snapshot
from daphne._ws_state import WebSocketState

pytestmark = pytest.mark.protocol


def make_socket(reply_channel, path="/ws/", frames=0, closed=False):
    """A socket whose state got there through its events: accepted, ``frames``
    frames received, and (``closed``) its own disconnect reported."""
    state = WebSocketState()
    state.reply({"accept": True})
    for _ in range(frames):
        state.frame_received()
    if closed:
        state.closed(1000)
    return SimpleNamespace(reply_channel=reply_channel, path=path, ws_state=state)


def test_a_snapshot_lists_sockets_the_workers_know_with_their_next_order():
    sockets = [
        make_socket("d!a", "/chat/", frames=3),
        make_socket(None),  # websocket.connect never went out
        make_socket("d!c", closed=True),  # it sent its own disconnect
    ]
    assert snapshot(sockets) == {"d!a": "4 /chat/"}


def test_the_first_renewal_writes_the_whole_lease():
    renewal = LeaseBook().renewal({"d!a": "1 /a"})
    assert (renewal.changed, renewal.removed, renewal.full) == ({"d!a": "1 /a"}, [], True)


def test_later_renewals_write_only_what_changed():
    book = LeaseBook()
    book.written_ok(book.renewal({"d!a": "1 /a", "d!b": "1 /b"}), held=False)
    renewal = book.renewal({"d!a": "2 /a", "d!c": "1 /c"})
    assert renewal.full is False
    assert renewal.changed == {"d!a": "2 /a", "d!c": "1 /c"}
    assert renewal.removed == ["d!b"]
    book.written_ok(renewal, held=True)
    assert book.renewal({"d!a": "2 /a", "d!c": "1 /c"}).changed == {}


def test_after_a_failed_write_the_next_one_is_whole():
    book = LeaseBook()
    book.written_ok(book.renewal({"d!a": "1 /a"}), held=False)
    book.write_failed()
    assert book.renewal({"d!a": "1 /a"}).full is True


def test_a_lease_found_gone_is_logged_and_written_whole_next(caplog):
    book = LeaseBook()
    assert book.written_ok(book.renewal({"d!a": "1 /a"}), held=False) is False  # first write
    with caplog.at_level(logging.WARNING, logger="daphne._lease"):
        assert book.written_ok(book.renewal({"d!a": "1 /a", "d!b": "1 /b"}), held=False) is True
    assert "lease ran out before it was renewed" in caplog.text
    assert "disconnects for 1 sockets" in caplog.text
    assert book.renewal({"d!a": "1 /a"}).full is True


class FakeLayer:
    extensions = ["leases"]

    def __init__(self):
        self.renewals = []
        self.released = []
        self.claims = 0
        self.fail = None

    def lease_renew(self, owner, ttl, changed, removed=(), full=False):
        if self.fail:
            raise self.fail
        self.renewals.append((owner, ttl, dict(changed), list(removed), full))
        return len(self.renewals) > 1

    def lease_claim(self, limit=16):
        self.claims += 1
        return []

    def lease_release(self, owner):
        self.released.append(owner)


def make_keeper(layer, sockets, **kwargs):
    clock = task.Clock()
    keeper = LeaseKeeper(
        layer, "d!", lambda: sockets, clock, in_thread=defer.maybeDeferred, **kwargs
    )
    return keeper, clock


class ReapedLayer(FakeLayer):
    """Its second renewal finds the lease gone, claimed by a survivor."""

    def __init__(self, reaped):
        super().__init__()
        self.reaped = reaped
        self.asked = []

    def lease_renew(self, owner, ttl, changed, removed=(), full=False):
        super().lease_renew(owner, ttl, changed, removed, full)
        return False

    def lease_reaped(self, owner):
        self.asked.append(owner)
        return self.reaped


def test_a_lost_lease_hands_the_sockets_survivors_reported_gone_to_on_reaped():
    layer, told = ReapedLayer(["d!a", "d!b"]), []
    keeper, clock = make_keeper(layer, [make_socket("d!a")], ttl=3, on_reaped=told.append)
    keeper.start()  # first renewal: nothing was held, nothing was lost
    assert layer.asked == [] and told == []
    clock.advance(1)  # second renewal finds the lease gone
    assert layer.asked == ["d!"]
    assert told == [["d!a", "d!b"]]
    assert layer.renewals[-1][4] is False  # the lost write is followed by a whole one
    clock.advance(1)
    assert layer.renewals[-1][4] is True


def test_nothing_is_closed_when_no_socket_was_reaped_or_the_layer_cannot_tell(caplog):
    layer, told = ReapedLayer([]), []
    keeper, clock = make_keeper(layer, [], ttl=3, on_reaped=told.append)
    keeper.start()
    clock.advance(1)
    assert layer.asked == ["d!"] and told == []

    class Unaware(ReapedLayer):
        lease_reaped = None  # a leases layer without the record

    keeper, clock = make_keeper(Unaware(["d!a"]), [], ttl=3, on_reaped=told.append)
    keeper.start()
    clock.advance(1)
    assert told == []

    class Failing(ReapedLayer):
        def lease_reaped(self, owner):
            raise ConnectionError("gone again")

    keeper, clock = make_keeper(Failing(["d!a"]), [], ttl=3, on_reaped=told.append)
    keeper.start()
    with caplog.at_level(logging.WARNING, logger="daphne._lease"):
        clock.advance(1)
    assert told == []
    assert "Could not learn which sockets survivors reported gone: gone again" in caplog.text


def test_the_keeper_renews_every_third_of_the_ttl_and_reaps_each_time():
    layer, sockets = FakeLayer(), [make_socket("d!a")]
    keeper, clock = make_keeper(layer, sockets, ttl=15)
    keeper.start()
    assert layer.renewals == [("d!", 15, {"d!a": "1 /ws/"}, [], True)]
    sockets.append(make_socket("d!b", "/b"))
    clock.advance(4.9)
    assert len(layer.renewals) == 1
    clock.advance(0.1)
    assert layer.renewals[1] == ("d!", 15, {"d!b": "1 /b"}, [], False)
    assert layer.claims == 2


def test_a_renewal_or_reap_still_running_is_not_started_again():
    layer = FakeLayer()
    clock = task.Clock()
    calls = []

    def in_thread(function, *args):
        calls.append(function.__name__)
        return defer.Deferred()  # never finishes

    keeper = LeaseKeeper(layer, "d!", list, clock, ttl=3, in_thread=in_thread)
    keeper.start()
    clock.advance(1)
    clock.advance(1)
    assert sorted(calls) == ["_reap", "_renew"]


def test_a_slow_reap_never_holds_up_the_renewals():
    layer, clock = FakeLayer(), task.Clock()

    def in_thread(function, *args):
        if function.__name__ == "_reap":
            return defer.Deferred()  # stuck retrying a full channel
        return defer.maybeDeferred(function, *args)

    keeper = LeaseKeeper(layer, "d!", list, clock, ttl=3, in_thread=in_thread)
    keeper.start()
    clock.advance(1)
    clock.advance(1)
    assert len(layer.renewals) == 3


def test_a_failed_renewal_is_logged_and_retried_whole(caplog):
    layer, sockets = FakeLayer(), [make_socket("d!a")]
    keeper, clock = make_keeper(layer, sockets, ttl=3)
    keeper.start()
    layer.fail = ConnectionError("redis down")
    with caplog.at_level(logging.WARNING, logger="daphne._lease"):
        clock.advance(1)
    assert "Renewing this server's lease failed: redis down" in caplog.text
    layer.fail = None
    clock.advance(1)
    assert layer.renewals[-1][-1] is True  # full


def test_stopping_releases_the_lease_and_stops_renewing():
    layer = FakeLayer()
    keeper, clock = make_keeper(layer, [], ttl=3)
    keeper.start()
    done = defer.ensureDeferred(keeper.stop())
    assert done.called and layer.released == ["d!"]
    clock.advance(10)
    assert len(layer.renewals) == 1


@pytest.mark.parametrize(
    ("ttl", "interval", "message"),
    [(0, None, "lease ttl must be positive"), (3, 3, r"lease interval must be in \(0, ttl=3\)")],
)
def test_a_bad_ttl_or_interval_is_refused(ttl, interval, message):
    with pytest.raises(ValueError, match=message):
        LeaseKeeper(FakeLayer(), "d!", list, task.Clock(), ttl=ttl, interval=interval)


def test_the_default_ttl_is_15_seconds():
    assert _lease.DEFAULT_LEASE_TTL == 15


class LeasingInMemoryLayer(FakeLayer):
    """Enough of a layer for Server.start(): the methods daphne calls."""

    def send(self, channel, message):
        pass

    def receive(self, channels, block=False):
        # A blocking receive waits, as a real layer's does: the inbox threads
        # of the servers these tests start would otherwise spin for the rest
        # of the test session (and skew every CPU-time test after them).
        if block:
            time.sleep(0.5)
        return None, None

    def new_channel(self, pattern):
        return pattern + "x"


def start_server(layer, monkeypatch, **options):
    from twisted.internet.testing import MemoryReactorClock

    from daphne.server import Server

    # the memory reactor has no thread pool: renew in the test's thread
    monkeypatch.setattr(
        LeaseKeeper, "_default_in_thread", lambda self, f, *a: defer.maybeDeferred(f, *a)
    )

    server = Server(
        layer, endpoints=["tcp:0"], reactor=MemoryReactorClock(), signal_handlers=False, **options
    )
    server.start()
    return server


def test_a_server_leases_its_sockets_only_on_a_layer_with_the_extension(caplog, monkeypatch):
    layer = LeasingInMemoryLayer()
    with caplog.at_level(logging.INFO, logger="daphne.server"):
        server = start_server(layer, monkeypatch, lease_ttl=6)
    assert layer.renewals == [(server.send_channel, 6, {}, [], True)]
    assert server.lease is not None and server.lease.interval == 2
    assert server.lease.owner == server.send_channel
    assert "Leasing this server's sockets for 6 s, renewed every 2 s" in caplog.text
    plain = LeasingInMemoryLayer()
    plain.extensions = ["groups"]
    assert start_server(plain, monkeypatch).lease is None


def test_a_lease_ttl_of_zero_turns_leases_off(monkeypatch):
    assert start_server(LeasingInMemoryLayer(), monkeypatch, lease_ttl=0).lease is None
