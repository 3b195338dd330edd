"""FairQueue.take_batch: the jobs sent together in one round trip by the
threaded and on-reactor drivers of ``LayerSender``."""

import pytest

from daphne._fair_queue import MIN_BACKOFF, FairQueue, Job

pytestmark = pytest.mark.unit


class Full(Exception):
    pass


def frame(owner, order):
    message = {"reply_channel": owner, "order": order, "text": f"{owner}{order}"}
    return Job("websocket.receive", message, owner, retry_full=True)


def texts(jobs):
    return [job.message["text"] for job in jobs]


def test_a_batch_takes_one_job_per_connection_in_turn():
    queue = FairQueue()
    for owner in "abc":
        for order in range(3):
            queue.push(frame(owner, order), 0)
    assert texts(queue.take_batch(0, 10)) == ["a0", "b0", "c0"]


def test_a_batch_stops_at_its_limit_and_the_rest_waits_for_the_next():
    queue = FairQueue()
    for owner in "abcd":
        queue.push(frame(owner, 0), 0)
    first = queue.take_batch(0, 2)
    assert texts(first) == ["a0", "b0"]
    for job in first:
        queue.done(job, 0)
    assert texts(queue.take_batch(0, 2)) == ["c0", "d0"]


def test_a_connection_is_taken_again_only_after_its_job_is_done():
    queue = FairQueue()
    queue.push(frame("a", 0), 0)
    queue.push(frame("a", 1), 0)
    (job,) = queue.take_batch(0, 10)
    assert queue.take_batch(0, 10) == []
    queue.done(job, 0)
    assert texts(queue.take_batch(0, 10)) == ["a1"]


def test_a_probe_of_a_full_channel_is_sent_alone():
    queue = FairQueue()
    queue.push(frame("a", 0), 0)
    queue.push(frame("b", 0), 0)
    (refused, _other) = queue.take_batch(0, 10)
    queue.done(refused, 0, Full(), full=True)  # "a" waits in line for the channel
    queue.push(Job("http.request", {"reply_channel": "c"}, "c"), 0)
    probe = queue.take_batch(MIN_BACKOFF, 10)
    assert texts(probe) == ["a0"] and probe[0].waited


def test_an_empty_queue_gives_an_empty_batch():
    assert FairQueue().take_batch(0, 64) == []
