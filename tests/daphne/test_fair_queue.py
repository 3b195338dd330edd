"""FairQueue: per-connection order, round-robin turns, waiting in line for a
full channel, the wait limit, gapless ``order`` after a failure, drain notices."""

import pytest

from daphne import _fair_queue
from daphne._fair_queue import MIN_BACKOFF, FairQueue, Job

pytestmark = pytest.mark.unit


class Full(Exception):
    pass


def frame(owner, order, on_error=None):
    message = {"reply_channel": owner, "order": order, "text": f"{owner}{order}"}
    return Job("websocket.receive", message, owner, on_error, retry_full=True)


def disconnect(owner, order):
    message = {"reply_channel": owner, "order": order, "code": 1000}
    return Job("websocket.disconnect", message, owner)


def serve(queue, now, room=None):
    """Take and send every job due at ``now``; ``room`` limits websocket.receive
    (None: unlimited). Returns the texts (or disconnect orders) sent, in order."""
    sent = []
    while (job := queue.take(now)) is not None:
        if job.channel == "websocket.receive" and room is not None and room[0] == 0:
            queue.done(job, now, Full(), full=True)
            continue
        if job.channel == "websocket.receive" and room is not None:
            room[0] -= 1
        queue.done(job, now)
        message = job.message
        sent.append(message.get("text") or ("disconnect", message["order"]))
    return sent


def test_one_connections_jobs_keep_their_order_and_connections_take_turns():
    queue = FairQueue()
    for n in range(1, 5):
        queue.push(frame("a", n), 0)
    queue.push(frame("b", 1), 0)
    queue.push(frame("c", 1), 0)
    queue.push(frame("b", 2), 0)
    assert serve(queue, 0) == ["a1", "b1", "c1", "a2", "b2", "a3", "a4"]
    assert len(queue) == 0 and queue.take(0) is None and queue.next_due(0) is None


def test_a_full_channel_makes_later_connections_wait_in_line_instead_of_jumping_it():
    queue = FairQueue()
    room = [0]
    queue.push(frame("a", 1), 0)
    assert serve(queue, 0, room) == []
    assert queue.waiting("websocket.receive") == 1
    queue.push(frame("b", 1), 0.001)
    # b is not tried while the channel is known to be full: it queues behind a
    assert queue.take(0.001) is None and queue.waiting("websocket.receive") == 2
    assert queue.next_due(0.001) == pytest.approx(MIN_BACKOFF - 0.001)
    room[0] = 2
    assert serve(queue, MIN_BACKOFF, room) == ["a1", "b1"]
    assert queue.waiting("websocket.receive") == 0


def test_a_flooding_connection_gets_one_slot_in_turn_with_a_quiet_one():
    queue = FairQueue()
    room = [0]
    for n in range(1, 101):
        queue.push(frame("flood", n), 0)
    serve(queue, 0, room)
    queue.push(frame("quiet", 1), 0.001)
    sent = []
    now = 0.001
    while len(sent) < 6:
        room[0] = 1  # a worker took one message off the channel
        now += 0.1
        sent += serve(queue, now, room)
    assert sent[:3] == ["flood1", "quiet1", "flood2"]


def test_a_job_that_waits_past_the_timeout_fails_and_its_connection_later_frames_are_dropped():
    errors = []
    queue = FairQueue(full_timeout=2, full_error=lambda channel: Full(channel))
    room = [1]
    for n in range(1, 5):
        queue.push(frame("a", n, errors.append), 0)
    assert serve(queue, 0, room) == ["a1"]
    assert queue.expire(1.9) == [] and errors == []
    notices = queue.expire(2.0)
    for notice in notices:
        notice()
    assert len(errors) == 1 and isinstance(errors[0], Full)
    assert queue.dropped == 2 and queue.backlog("a") == 0
    # a frame queued before the handler closed the socket is dropped too
    assert queue.push(frame("a", 5, errors.append), 2.0) is False
    # the disconnect follows the last frame delivered (1), not the last counted (5)
    queue.push(disconnect("a", 6), 2.0)
    assert serve(queue, 2.0, [10]) == [("disconnect", 2)]


def test_a_refused_job_that_may_not_retry_fails_at_once():
    errors = []
    queue = FairQueue()
    job = Job("http.request", {"reply_channel": "r"}, "r", errors.append)
    queue.push(job, 0)
    taken = queue.take(0)
    for notice in queue.done(taken, 0, Full(), full=True):
        notice()
    assert len(errors) == 1 and queue.waiting("http.request") == 0 and len(queue) == 0


def test_the_probe_backoff_doubles_while_the_channel_stays_full_and_resets_after_a_send():
    queue = FairQueue()
    room = [0]
    queue.push(frame("a", 1), 0)
    serve(queue, 0, room)
    now, waits = 0.0, []
    for _ in range(4):
        wait = queue.next_due(now)
        waits.append(round(wait, 4))
        now += wait
        serve(queue, now, room)
    assert waits == [0.005, 0.01, 0.02, 0.04]
    room[0] = 1
    now += queue.next_due(now)
    queue.push(frame("a", 2), now)
    assert serve(queue, now, room) == ["a1"]
    assert queue.next_due(now) == pytest.approx(MIN_BACKOFF)


def test_a_drain_watch_fires_once_when_the_backlog_falls_to_its_mark():
    queue = FairQueue()
    fired = []
    for n in range(1, 6):
        queue.push(frame("a", n), 0)
    assert queue.watch("a", 2, lambda: fired.append(True)) is True
    notices = []
    for _ in range(3):
        notices += queue.done(queue.take(0), 0)
    assert len(notices) == 1
    notices[0]()
    assert fired == [True]
    assert queue.done(queue.take(0), 0) == []
    assert queue.watch("a", 2, lambda: fired.append(True)) is False


# -- deliver: disconnects are held and retried, never given up while the layer answers


class Unreachable(ConnectionError):
    pass


def must_deliver(owner, errors=None):
    message = {"reply_channel": owner, "order": 1, "code": 1000}
    on_error = None if errors is None else errors.append
    return Job("websocket.disconnect", message, owner, on_error, deliver=True)


def serve_disconnects(queue, now, room, error=None):
    """Take every job due at ``now``: refuse it with ``error`` (full when None
    and ``room[0]`` is 0), else send it. Returns the owners sent, in order."""
    sent = []
    while (job := queue.take(now)) is not None:
        if error is not None:
            queue.done(job, now, error, unavailable=True)
        elif room[0] == 0:
            queue.done(job, now, Full(), full=True)
        else:
            room[0] -= 1
            queue.done(job, now)
            sent.append(job.owner)
    return sent


def test_a_disconnect_refused_as_full_is_held_past_the_full_timeout_until_there_is_room():
    queue = FairQueue(full_timeout=10)
    errors = []
    room = [0]
    queue.push(must_deliver("a", errors), 0)
    assert serve_disconnects(queue, 0, room) == []
    assert queue.held() == 1
    assert queue.expire(60) == [] and errors == []
    room[0] = 1
    assert serve_disconnects(queue, 60, room) == ["a"]
    assert queue.held() == 0 and len(queue) == 0 and errors == []


def test_held_disconnects_are_retried_in_the_order_they_came_with_backoff():
    queue = FairQueue()
    room = [0]
    for owner in "abc":
        queue.push(must_deliver(owner), 0)
    assert serve_disconnects(queue, 0, room) == []
    queue.push(must_deliver("d"), 0.001)
    # d queues behind the held ones rather than jumping the line
    assert queue.take(0.001) is None and queue.held() == 4
    assert queue.next_due(0) == pytest.approx(MIN_BACKOFF * 4)  # backed off after 3 refusals
    room[0] = 4
    assert serve_disconnects(queue, 1, room) == ["a", "b", "c", "d"]


def test_held_disconnects_are_given_up_only_after_the_layer_stays_unreachable_past_the_limit():
    queue = FairQueue(deliver_timeout=30)
    errors = []
    queue.push(must_deliver("a", errors), 0)
    queue.push(must_deliver("b", errors), 0)
    assert serve_disconnects(queue, 0, [0], error=Unreachable("refused")) == []
    assert queue.next_due(0) == pytest.approx(MIN_BACKOFF * 2)  # two refusals
    assert serve_disconnects(queue, 20, [0], error=Unreachable("refused")) == []
    assert queue.expire(29.9) == [] and queue.held() == 2
    notices = queue.expire(30)
    for notice in notices:
        notice()
    assert queue.gave_up == 2 and queue.held() == 0 and len(queue) == 0
    assert [str(e) for e in errors] == ["the channel layer stayed unreachable for 30s"] * 2


def test_a_layer_that_answers_again_restarts_the_outage_clock():
    queue = FairQueue(deliver_timeout=30)
    queue.push(must_deliver("a"), 0)
    assert serve_disconnects(queue, 0, [0], error=Unreachable()) == []
    # at 20 s the layer answers "full": reachable, so no deadline any more
    assert serve_disconnects(queue, 20, [0]) == []
    assert queue.expire(100) == [] and queue.held() == 1
    assert serve_disconnects(queue, 100, [1]) == ["a"]


def test_a_disconnect_that_fails_for_another_reason_is_not_held():
    queue = FairQueue()
    errors = []
    queue.push(must_deliver("a", errors), 0)
    job = queue.take(0)
    for notice in queue.done(job, 0, ValueError("too large")):
        notice()
    assert queue.held() == 0 and len(queue) == 0 and [str(e) for e in errors] == ["too large"]


def test_no_more_than_max_held_disconnects_are_held_the_next_fail_and_are_counted():
    queue = FairQueue(max_held=2)
    errors = []
    for owner in "abc":
        queue.push(must_deliver(owner, errors), 0)
    notices = []
    while (job := queue.take(0)) is not None:
        notices += queue.done(job, 0, Full(), full=True)
    for notice in notices:
        notice()
    assert queue.held() == 2 and queue.overflowed == 1 and len(errors) == 1


# -- the send fast path: idle() and first_try_failed()


def refuse_all(queue, now):
    """Take every job due at ``now`` and refuse it as full."""
    while (job := queue.take(now)) is not None:
        queue.done(job, now, Full(), full=True)


def test_a_connection_is_idle_only_with_nothing_queued_no_line_and_no_broken_mark():
    queue = FairQueue(full_timeout=2)
    assert queue.idle("a", "websocket.receive") is True
    queue.push(frame("a", 1), 0)
    assert queue.idle("a", "websocket.receive") is False  # a has a job queued
    assert queue.idle("b", "websocket.receive") is True
    refuse_all(queue, 0)
    assert queue.idle("b", "websocket.receive") is False  # the channel has a line
    assert queue.idle("b", "http.request") is True
    queue.expire(2)  # a's frame fails: a is broken, the line is gone
    assert queue.idle("b", "websocket.receive") is True
    assert queue.idle("a", "http.request") is False  # a's sends must be renumbered


def test_a_failed_first_try_of_a_frame_waits_in_line_from_that_moment():
    errors = []
    queue = FairQueue(full_timeout=2)
    job = frame("a", 1, errors.append)
    assert queue.first_try_failed(job, 5, Full(), full=True) == []
    assert queue.waiting("websocket.receive") == 1 and queue.backlog("a") == 1
    assert queue.next_due(5) == pytest.approx(MIN_BACKOFF)
    assert queue.expire(6.9) == [] and errors == []
    for notice in queue.expire(7):
        notice()
    assert len(errors) == 1 and len(queue) == 0


def test_a_failed_first_try_that_is_not_a_refusal_fails_the_job_at_once():
    errors = []
    queue = FairQueue()
    job = frame("a", 1, errors.append)
    for notice in queue.first_try_failed(job, 0, ValueError("too large")):
        notice()
    assert [str(e) for e in errors] == ["too large"] and len(queue) == 0
    assert queue.waiting("websocket.receive") == 0
    held = must_deliver("b", errors)
    for notice in queue.first_try_failed(held, 0, ValueError("bad")):
        notice()
    assert queue.held() == 0 and [str(e) for e in errors] == ["too large", "bad"]


def test_a_disconnect_whose_first_try_met_an_unreachable_layer_is_held():
    queue = FairQueue()
    job = must_deliver("a")
    assert queue.first_try_failed(job, 0, Unreachable(), unavailable=True) == []
    assert queue.held() == 1 and queue.undelivered() == 1
    assert serve_disconnects(queue, 1, [1]) == ["a"]
    assert queue.held() == 0 and queue.undelivered() == 0


# -- counters, defaults and boundaries


def test_push_says_whether_the_job_was_queued_and_counts_every_drop():
    queue = FairQueue(full_timeout=1)
    assert queue.push(frame("a", 1), 0) is True
    assert queue.push(frame("a", 2), 0) is True  # behind a1
    assert queue.push(disconnect("a", 3), 0) is True
    refuse_all(queue, 0)
    queue.expire(1)  # a1 fails: a2 is dropped, the disconnect is kept
    assert queue.dropped == 1 and queue.backlog("a") == 1
    assert queue.push(frame("a", 4), 1) is False
    assert queue.push(frame("a", 5), 1) is False
    assert queue.dropped == 3


def test_drops_add_up_across_connections():
    queue = FairQueue(full_timeout=1)
    for owner in "ab":
        for n in (1, 2, 3):
            queue.push(frame(owner, n), 0)
    refuse_all(queue, 0)
    queue.expire(1)
    assert queue.dropped == 4 and len(queue) == 0


def test_the_default_full_timeout_is_ten_seconds():
    errors = []
    queue = FairQueue()
    queue.push(frame("a", 1, errors.append), 0)
    refuse_all(queue, 0)
    assert queue.expire(9.99) == []
    for notice in queue.expire(10):
        notice()
    assert len(errors) == 1


def test_the_full_error_is_made_for_the_channel_that_was_full():
    errors = []
    queue = FairQueue(full_timeout=1, full_error=lambda channel: Full(channel))
    queue.push(frame("a", 1, errors.append), 0)
    refuse_all(queue, 0)
    for notice in queue.expire(1):
        notice()
    assert [e.args for e in errors] == [("websocket.receive",)]


def test_next_due_is_zero_when_a_job_is_ready():
    queue = FairQueue()
    queue.push(frame("a", 1), 3)
    assert queue.next_due(3) == 0.0


def test_undelivered_counts_deliver_jobs_queued_behind_others():
    queue = FairQueue()
    queue.push(frame("a", 1), 0)
    queue.push(must_deliver("a"), 0)
    queue.push(must_deliver("b"), 0)
    queue.push(disconnect("c", 1), 0)  # not a deliver job
    assert queue.undelivered() == 2
    queue.done(queue.take(0), 0)  # a1
    assert queue.undelivered() == 2


def test_a_watch_at_the_current_backlog_is_already_met():
    queue = FairQueue()
    queue.push(frame("a", 1), 0)
    queue.push(frame("a", 2), 0)
    assert queue.watch("a", 2, lambda: None) is False
    assert queue.watch("a", 1, lambda: None) is True


# -- a frame refused again in line, and the wait limit


def test_a_frame_refused_again_before_its_full_timeout_keeps_waiting_from_when_it_joined():
    errors = []
    queue = FairQueue(full_timeout=10)
    queue.push(frame("a", 1, errors.append), 5)
    refuse_all(queue, 5)  # joins the line at 5
    refuse_all(queue, 14.9)  # refused again: 9.9 s waited, it stays
    assert queue.backlog("a") == 1 and queue.waiting("websocket.receive") == 1


def test_a_frame_refused_again_at_its_full_timeout_fails_and_its_line_is_gone():
    errors = []
    queue = FairQueue(full_timeout=10, full_error=lambda channel: Full(channel))
    queue.push(frame("a", 1, errors.append), 5)
    queue.push(frame("a", 2, errors.append), 5)
    refuse_all(queue, 5)
    job = queue.take(15)
    assert job.message["order"] == 1
    refused = Full("refused at the deadline")
    for notice in queue.done(job, 15, refused, full=True):
        notice()
    assert errors == [refused] and queue.dropped == 1 and len(queue) == 0
    assert queue.waiting("websocket.receive") == 0
    assert queue.idle("b", "websocket.receive") is True
    assert queue.next_due(15) is None


def test_a_line_emptied_by_sends_is_forgotten():
    queue = FairQueue()
    queue.push(frame("a", 1), 0)
    refuse_all(queue, 0)
    assert serve(queue, 1, [1]) == ["a1"]
    assert queue.idle("b", "websocket.receive") is True
    queue.push(frame("b", 1), 1)
    assert queue.take(1).owner == "b"  # from the ready ring, not a line


def test_the_backoff_starts_again_for_a_channel_whose_line_expired():
    queue = FairQueue(full_timeout=1)
    queue.push(frame("a", 1), 0)
    for now in (0, 0.005, 0.015, 0.035):
        refuse_all(queue, now)  # backoff 0.005 -> 0.01 -> 0.02 -> 0.04
    queue.expire(1)
    assert queue.idle("b", "websocket.receive") is True
    queue.push(frame("b", 1), 2)
    refuse_all(queue, 2)
    assert queue.next_due(2) == pytest.approx(MIN_BACKOFF)


def test_frames_behind_a_failed_connect_join_the_line_with_their_own_deadline():
    errors = []
    queue = FairQueue(full_timeout=10, full_error=lambda channel: Full(channel))
    connect = Job("websocket.connect", {"reply_channel": "a"}, "a", errors.append)
    queue.push(connect, 0)
    queue.push(frame("a", 1, errors.append), 0)
    queue.push(frame("b", 1), 0)
    assert queue.take(0) is connect  # being sent...
    refuse_all(queue, 0)  # ...while b's frame is refused: websocket.receive has a line
    for notice in queue.done(connect, 3, ValueError("refused")):
        notice()
    assert queue.waiting("websocket.receive") == 2
    queue.expire(12.9)  # b's frame, waiting from 0, fails
    assert queue.waiting("websocket.receive") == 1 and [str(e) for e in errors] == ["refused"]
    for notice in queue.expire(13):
        notice()
    assert [str(e) for e in errors] == ["refused", "websocket.receive"]


# -- broken connections: renumbering and clearing the mark


def test_a_disconnect_queued_behind_frames_before_a_failure_is_still_sent_renumbered():
    queue = FairQueue(full_timeout=1)
    queue.push(frame("a", 1), 0)
    queue.done(queue.take(0), 0)  # a1 delivered
    for n in (2, 3, 4):
        queue.push(frame("a", n), 0)
    queue.push(disconnect("a", 5), 0)
    refuse_all(queue, 0)
    queue.expire(1)  # a2 fails: a3 and a4 are dropped
    assert queue.dropped == 2 and queue.backlog("a") == 1
    assert serve(queue, 1) == [("disconnect", 2)]


@pytest.mark.parametrize(
    "failed_order, disconnect_order, sent_order",
    [(2, 9, 2), (2, 2, 2), (5, 3, 3)],
    ids=["higher-renumbered", "equal-kept", "lower-kept"],
)
def test_only_an_order_after_the_failed_one_is_renumbered(
    failed_order, disconnect_order, sent_order
):
    queue = FairQueue(full_timeout=1)
    queue.push(frame("a", failed_order), 0)
    refuse_all(queue, 0)
    queue.expire(1)
    queue.push(disconnect("a", disconnect_order), 1)
    assert serve(queue, 1) == [("disconnect", sent_order)]


def test_a_failed_job_without_an_order_leaves_later_orders_alone():
    queue = FairQueue(full_timeout=1)
    unordered = Job("websocket.receive", {"reply_channel": "a"}, "a", retry_full=True)
    queue.push(unordered, 0)
    refuse_all(queue, 0)
    queue.expire(1)
    assert queue.push(frame("a", 2), 1) is False  # still broken
    queue.push(disconnect("a", 7), 1)
    assert serve(queue, 1) == [("disconnect", 7)]


def test_a_held_disconnect_of_a_broken_connection_is_renumbered_when_taken_from_its_line():
    queue = FairQueue(full_timeout=1)
    queue.push(must_deliver("b"), 0)
    serve_disconnects(queue, 0, [0])  # b is held: websocket.disconnect has a line
    queue.push(frame("a", 1), 0)
    queue.done(queue.take(0), 0)  # a1 delivered
    queue.push(frame("a", 2), 0)
    refuse_all(queue, 0)
    queue.expire(1)  # a2 fails
    job = Job("websocket.disconnect", {"reply_channel": "a", "order": 8}, "a", deliver=True)
    queue.push(job, 1)  # joins the held line directly
    assert queue.held() == 2
    taken = [queue.take(2), queue.take(2)]
    assert [(j.owner, j.message["order"]) for j in taken] == [("b", 1), ("a", 2)]


def test_a_delivered_disconnect_clears_the_broken_mark():
    queue = FairQueue(full_timeout=1)
    queue.push(frame("a", 1), 0)
    refuse_all(queue, 0)
    queue.expire(1)
    assert queue.push(frame("a", 2), 1) is False
    queue.push(disconnect("a", 2), 1)
    assert serve(queue, 1) == [("disconnect", 1)]
    # a reused owner (a new socket on the same reply channel) starts afresh
    assert queue.idle("a", "websocket.receive") is True
    assert queue.push(frame("a", 1), 1) is True
    assert serve(queue, 1) == ["a1"]


def test_a_failed_disconnect_clears_the_broken_mark_too():
    queue = FairQueue(full_timeout=1)
    queue.push(frame("a", 1), 0)
    refuse_all(queue, 0)
    queue.expire(1)
    queue.push(disconnect("a", 2), 1)
    queue.done(queue.take(1), 1, ValueError("too large"))
    assert queue.idle("a", "websocket.receive") is True


def test_a_delivered_frame_does_not_clear_the_broken_mark_of_its_connection():
    queue = FairQueue(full_timeout=1)
    queue.push(frame("a", 1), 0)
    queue.push(frame("a", 2), 0)
    refuse_all(queue, 0)
    # a2 is handed out while a1 fails: the dropped-after-failure rule does not
    # reach a job already taken
    queue.expire(1)
    assert queue.idle("a", "http.request") is False


def test_the_oldest_broken_marks_are_forgotten_first(monkeypatch):
    monkeypatch.setattr(_fair_queue, "MAX_BROKEN", 3)
    queue = FairQueue(full_timeout=1)
    for n, owner in enumerate("abcd"):
        queue.push(frame(owner, 1), 10 * n)
        refuse_all(queue, 10 * n)
        queue.expire(10 * n + 1)
    # a, the oldest, is forgotten; b, c and d are still broken
    assert [queue.idle(owner, "http.request") for owner in "abcd"] == [True, False, False, False]


def test_breaking_a_connection_again_makes_its_mark_the_newest(monkeypatch):
    monkeypatch.setattr(_fair_queue, "MAX_BROKEN", 2)
    queue = FairQueue(full_timeout=1)
    for n, owner in enumerate("aba"):
        queue.push(Job("websocket.receive", {}, owner, retry_full=True, deliver=False), 0)
        refuse_all(queue, 10 * n)
        queue.expire(10 * n + 1)
        if owner == "a" and n == 0:
            # a new socket could reuse the name only after its disconnect
            queue.push(disconnect("a", 1), 1)
            serve(queue, 1)
    queue.push(frame("c", 1), 30)
    refuse_all(queue, 30)
    queue.expire(31)
    assert [queue.idle(owner, "http.request") for owner in "abc"] == [False, True, False]


# -- held deliver jobs: boundaries


def test_the_outage_limit_counts_from_the_first_unreachable_refusal():
    errors = []
    queue = FairQueue(deliver_timeout=30)
    queue.push(must_deliver("a", errors), 5)
    queue.push(must_deliver("b", errors), 5)
    serve_disconnects(queue, 5, [0], error=Unreachable())  # outage from 5
    serve_disconnects(queue, 34.9, [0], error=Unreachable())
    assert queue.held() == 2 and queue.expire(34.9) == [] and errors == []
    notices = []
    while (job := queue.take(35)) is not None:
        notices += queue.done(job, 35, Unreachable("still"), unavailable=True)
    for notice in notices:
        notice()
    assert [str(e) for e in errors] == ["still"] * 2 and queue.gave_up == 2 and queue.held() == 0
    assert queue.idle("c", "websocket.disconnect") is True


def test_expire_gives_held_jobs_up_at_the_outage_limit_counted_from_its_start():
    queue = FairQueue(deliver_timeout=30)
    queue.push(must_deliver("a"), 5)
    serve_disconnects(queue, 5, [0], error=Unreachable())
    assert queue.expire(34.9) == [] and queue.held() == 1
    queue.expire(35)
    assert queue.gave_up == 1 and queue.held() == 0
    assert queue.idle("b", "websocket.disconnect") is True


def test_a_job_queued_behind_a_given_up_disconnect_gets_its_own_full_timeout():
    errors = []
    queue = FairQueue(full_timeout=10, deliver_timeout=30)
    queue.push(frame("b", 1), 0)
    refuse_all(queue, 0)  # websocket.receive has a line
    queue.push(must_deliver("a", errors), 0)
    queue.push(frame("a", 9, errors.append), 0)
    serve_disconnects(queue, 0, [0], error=Unreachable())
    for notice in queue.expire(30):  # the disconnect is given up...
        notice()
    # ...and a's frame joins the line at 30 (b's frame, from 0, expired at once)
    assert queue.waiting("websocket.receive") == 1 and len(errors) == 1
    assert queue.expire(39.9) == []
    for notice in queue.expire(40):
        notice()
    assert len(errors) == 2 and len(queue) == 0


def test_a_held_job_does_not_inherit_the_deadline_of_an_earlier_frame():
    errors = []
    queue = FairQueue(full_timeout=10)
    queue.push(frame("a", 1), 0)
    refuse_all(queue, 0)  # a waits in line from 0
    assert serve(queue, 1, [1]) == ["a1"]
    queue.push(must_deliver("a", errors), 2)
    serve_disconnects(queue, 2, [0])  # held
    assert queue.expire(20) == [] and errors == [] and queue.undelivered() == 1


def test_a_held_job_does_not_inherit_the_deadline_of_a_frame_that_failed():
    queue = FairQueue(full_timeout=10)
    queue.push(frame("a", 1), 0)
    refuse_all(queue, 0)
    job = queue.take(10)
    queue.done(job, 10, Full(), full=True)  # fails at its deadline
    errors = []
    queue.push(must_deliver("a", errors), 11)
    serve_disconnects(queue, 11, [0])
    assert queue.expire(30) == [] and errors == [] and queue.undelivered() == 1


def test_a_disconnect_arriving_when_max_held_are_held_is_tried_at_once():
    queue = FairQueue(max_held=1)
    queue.push(must_deliver("a"), 0)
    serve_disconnects(queue, 0, [0])
    assert queue.held() == 1
    queue.push(must_deliver("b"), 0.001)
    job = queue.take(0.001)  # before a's probe is due
    assert job is not None and job.owner == "b"


def test_overflowed_disconnects_are_all_counted():
    queue = FairQueue(max_held=1)
    for owner in "abc":
        queue.push(must_deliver(owner), 0)
    while (job := queue.take(0)) is not None:
        queue.done(job, 0, Full(), full=True)
    assert queue.overflowed == 2 and queue.held() == 1


def test_a_disconnect_joining_a_held_line_is_counted_and_uncounted_once_sent():
    queue = FairQueue()
    queue.push(must_deliver("a"), 0)
    serve_disconnects(queue, 0, [0])
    queue.push(must_deliver("b"), 0.001)
    assert queue.held() == 2
    assert serve_disconnects(queue, 1, [2]) == ["a", "b"]
    assert queue.held() == 0 and len(queue) == 0


def test_a_line_emptied_by_a_failure_other_than_full_is_forgotten():
    # The last job in a line failing for another reason (here: the layer went
    # away while it waited) leaves no line behind: later sends to the channel
    # are neither held nor kept off the fast path.
    queue = FairQueue()
    queue.push(frame("a", 1), 0)
    refuse_all(queue, 0)
    job = queue.take(1)
    queue.done(job, 1, Unreachable(), unavailable=True)
    assert queue.waiting("websocket.receive") == 0
    assert queue.idle("b", "websocket.receive") is True
    queue.push(must_deliver("c"), 1)
    serve_disconnects(queue, 1, [0], error=Unreachable())
    held = queue.take(2)
    queue.done(held, 2, ValueError("too large"))
    assert queue.held() == 0 and queue.idle("e", "websocket.disconnect") is True
    queue.push(must_deliver("d"), 2)
    assert queue.held() == 0 and queue.take(2).owner == "d"
