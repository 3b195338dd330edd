"""The command deadlines of one reactor-owned Redis connection, on a fake
clock and transport: one timer watches every command; the first command
left unanswered past its own deadline fails all that wait."""

from __future__ import annotations

import pytest
from twisted.internet import task
from twisted.internet.testing import StringTransport

from asgi_redis import RedisUnavailable
from asgi_redis._reactor_io import ReactorConnection

pytestmark = pytest.mark.protocol

PING = b"*1\r\n$4\r\nPING\r\n"


def connection():
    clock = task.Clock()
    conn = ReactorConnection("test:6379", clock)
    transport = StringTransport()
    conn.makeConnection(transport)
    return clock, conn, transport


def outcome(deferred) -> list:
    seen: list = []
    deferred.addBoth(seen.append)
    return seen


def test_commands_answered_in_time_keep_one_timer_and_never_fail():
    clock, conn, transport = connection()
    results = []
    for _ in range(500):
        results.append(outcome(conn.command(PING, 5)))
        clock.advance(0.01)
        conn.dataReceived(b"+PONG\r\n")
        assert len(clock.getDelayedCalls()) <= 1
    clock.advance(60)
    assert all(r == [b"PONG"] for r in results)
    assert not conn.lost and clock.getDelayedCalls() == []


def test_a_short_command_behind_a_long_one_fails_both_at_its_own_deadline():
    clock, conn, transport = connection()
    long_pop = outcome(conn.command(PING, 10))  # a blocking pop's long deadline
    short = outcome(conn.command(PING, 1))
    clock.advance(0.99)
    assert long_pop == [] and short == []
    clock.advance(0.02)
    for seen in (long_pop, short):
        assert len(seen) == 1 and seen[0].check(RedisUnavailable)
        assert "did not answer in time" in str(seen[0].value)
    assert conn.lost and transport.disconnecting


def test_a_command_written_after_an_answered_one_is_timed_from_its_own_write():
    clock, conn, transport = connection()
    first = outcome(conn.command(PING, 2))
    clock.advance(1.5)
    conn.dataReceived(b"+PONG\r\n")
    second = outcome(conn.command(PING, 2))  # due at 3.5, the timer at 2.0
    clock.advance(1.9)  # t=3.4: the timer fired at 2.0 and re-armed
    assert first == [b"PONG"] and second == [] and not conn.lost
    clock.advance(0.2)
    assert len(second) == 1 and second[0].check(RedisUnavailable)


def test_a_lost_connection_fails_what_waits_and_leaves_no_timer():
    clock, conn, transport = connection()
    waiting = outcome(conn.pipeline(PING + PING, 2, 5))
    conn.connectionLost(None)
    assert len(waiting) == 1 and waiting[0].check(RedisUnavailable)
    assert clock.getDelayedCalls() == []
    late = outcome(conn.command(PING, 5))
    assert late[0].check(RedisUnavailable)
