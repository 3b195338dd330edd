"""FairQueue: per-connection order, round-robin turns, waiting in line for a
full channel, the wait limit, gapless ``order`` after a failure, drain notices."""

import pytest

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
