"""DeadlineSet: many timeouts on one lazily armed timer, over a fake clock."""

import logging

import pytest
from twisted.internet import task

from daphne._deadlines import EPSILON, DeadlineSet

pytestmark = pytest.mark.protocol


def make():
    clock = task.Clock()
    fired = []
    return clock, fired, DeadlineSet(clock, fired.append)


def test_a_key_expires_at_its_deadline_and_not_before():
    clock, fired, deadlines = make()
    deadlines.add("a", 10)
    clock.advance(9.99)
    assert fired == [] and "a" in deadlines
    clock.advance(0.02)
    assert fired == ["a"] and "a" not in deadlines and len(deadlines) == 0


def test_a_discarded_key_never_expires_and_the_timer_then_stops():
    clock, fired, deadlines = make()
    deadlines.add("a", 10)
    deadlines.discard("a")
    deadlines.discard("never added")
    clock.advance(100)
    assert fired == []
    assert clock.getDelayedCalls() == []


def test_adding_a_key_again_moves_its_deadline_later():
    clock, fired, deadlines = make()
    deadlines.add("a", 10)
    clock.advance(8)
    deadlines.add("a", 10)  # activity: due at 18 now
    clock.advance(5)
    assert fired == []
    clock.advance(5.01)
    assert fired == ["a"]


def test_keys_expire_in_deadline_order_each_at_its_own_time():
    clock, fired, deadlines = make()
    for name in "abc":
        deadlines.add(name, 10)
        clock.advance(1)
    clock.advance(7.5)  # t=10.5: only "a" (due 10) is due
    assert fired == ["a"]
    clock.advance(1)
    assert fired == ["a", "b"]
    clock.advance(1)
    assert fired == ["a", "b", "c"]


def test_steady_traffic_keeps_one_reactor_timer_not_one_per_key():
    clock, fired, deadlines = make()
    for n in range(1000):
        deadlines.add(n, 10)
        clock.advance(0.005)
        deadlines.discard(n)  # answered in 5 ms, as nearly every request is
        assert len(clock.getDelayedCalls()) <= 1
    clock.advance(30)
    assert fired == []


def test_an_expiry_callback_may_add_keys_and_older_keys_still_expire_on_time():
    clock = task.Clock()
    fired = []

    def expired(key):
        fired.append((key, clock.seconds()))
        if key == "a":
            deadlines.add("again", 10)  # due at 20

    deadlines = DeadlineSet(clock, expired)
    deadlines.add("a", 10)
    clock.advance(5)
    deadlines.add("b", 10)  # due at 15, older than "again"
    clock.advance(5)
    clock.advance(5)
    clock.advance(5)
    assert fired == [("a", 10), ("b", 15), ("again", 20)]


def test_a_key_added_with_a_shorter_period_expires_no_sooner_than_older_keys():
    clock, fired, deadlines = make()
    deadlines.add("long", 10)
    deadlines.add("short", 2)
    clock.advance(3)
    assert fired == []  # documented: late, never early
    clock.advance(7)
    assert fired == ["long", "short"]


def test_a_failing_callback_is_logged_and_the_other_keys_still_expire(caplog):
    clock = task.Clock()
    fired = []

    def expired(key):
        if key == "bad":
            raise ValueError("boom")
        fired.append(key)

    deadlines = DeadlineSet(clock, expired)
    deadlines.add("bad", 1)
    deadlines.add("good", 1)
    deadlines.add("later", 2)
    with caplog.at_level(logging.ERROR, logger="daphne._deadlines"):
        clock.advance(1)
        clock.advance(1)
    assert fired == ["good", "later"]
    assert "expiry of 'bad' failed" in caplog.text


def test_stop_forgets_everything_and_disarms():
    clock, fired, deadlines = make()
    deadlines.add("a", 1)
    deadlines.stop()
    assert clock.getDelayedCalls() == [] and len(deadlines) == 0
    clock.advance(5)
    assert fired == []


def test_the_failure_is_logged_with_the_key_and_its_traceback(caplog):
    clock = task.Clock()

    def expired(key):
        raise ValueError("boom")

    deadlines = DeadlineSet(clock, expired)
    deadlines.add("bad", 1)
    with caplog.at_level(logging.ERROR, logger="daphne._deadlines"):
        clock.advance(1)
    (record,) = caplog.records
    assert record.getMessage() == "Handling the expiry of 'bad' failed"
    assert record.exc_info[0] is ValueError


def test_a_deadline_within_epsilon_counts_as_reached_and_one_beyond_does_not():
    clock, fired, deadlines = make()
    deadlines.add("now", 0)
    deadlines.add("hair", EPSILON)  # due EPSILON after the timer fires at 0
    deadlines.add("later", 2 * EPSILON)
    clock.advance(0)
    assert fired == ["now", "hair"]
    assert "later" in deadlines


def test_the_timer_is_rearmed_for_the_next_key_even_if_it_is_due_in_under_a_second():
    clock, fired, deadlines = make()
    deadlines.add("a", 10)
    clock.advance(0.25)
    deadlines.add("b", 10)  # due at 10.25
    clock.advance(9.75)
    assert fired == ["a"]
    clock.advance(0.25)
    assert fired == ["a", "b"]


def test_adding_a_key_again_puts_it_behind_keys_added_since():
    clock, fired, deadlines = make()
    deadlines.add("a", 10)
    clock.advance(1)
    deadlines.add("b", 10)  # due at 11
    clock.advance(1)
    deadlines.add("a", 10)  # due at 12 now, after "b"
    clock.advance(9)
    assert fired == ["b"]
    clock.advance(1)
    assert fired == ["b", "a"]


def test_stop_without_a_timer_is_harmless_and_the_set_works_again_after_it():
    clock, fired, deadlines = make()
    deadlines.stop()  # nothing armed yet
    deadlines.add("a", 1)
    deadlines.stop()
    deadlines.stop()
    deadlines.add("b", 1)
    clock.advance(1)
    assert fired == ["b"]
