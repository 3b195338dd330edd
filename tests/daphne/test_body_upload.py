"""BodyUpload: which body-channel message goes next, when to retry, when to give up."""

import io

import pytest

from asgi import www
from daphne._body_upload import BodyUpload, Retry, Step, UploadPhase
from daphne._http_state import RequestBody
from daphne.exceptions import IllegalTransition

pytestmark = pytest.mark.unit

CLOSED = www.http_request_body_chunk(closed=True)


def upload(size=30, send_timeout=1.0):
    """An upload of ``size`` bytes in 10-byte chunks (the first goes inline)."""
    body = RequestBody(io.BytesIO(b"b" * size), size, 10, 10)
    body.first()
    return BodyUpload(body, send_timeout)


def test_chunks_go_one_at_a_time_and_the_last_finishes_the_upload():
    up = upload()
    first = up.message()
    assert first == www.http_request_body_chunk(b"b" * 10, more_content=True)
    assert up.message() is None, "nothing more while a chunk is in flight"
    assert up.landed(0) is Step.NEXT
    assert up.message()["more_content"] is False
    assert up.landed(0) is Step.FINISHED
    assert up.phase is UploadPhase.DONE and up.message() is None


def test_a_full_channel_is_retried_with_growing_pauses_up_to_the_send_timeout():
    up = upload(send_timeout=1.0)
    chunk = up.message()
    delays = []
    now = 0.0
    while isinstance(step := up.refused(now, full=True), Retry):
        delays.append(step.delay)
        now += step.delay
        assert up.message() == chunk, "the same chunk again"
    assert delays[:3] == [0.05, 0.1, 0.2] and sum(delays) == pytest.approx(1.0)
    assert step is Step.ABORTED and up.reason == "full"
    assert up.message() == CLOSED


def test_a_landed_chunk_resets_the_retry_pause_and_time_limit():
    up = upload(size=40, send_timeout=1.0)
    up.message()
    up.refused(0.0, full=True)
    up.message()
    up.refused(0.9, full=True)
    up.message()
    assert up.landed(0.95) is Step.NEXT
    up.message()
    assert up.refused(1.5, full=True) == Retry(0.05)


def test_a_failed_send_aborts_at_once_and_the_closed_chunk_is_retried_on_any_error():
    up = upload(send_timeout=1.0)
    up.message()
    assert up.refused(0.0, full=False) is Step.ABORTED and up.reason == "failed"
    assert up.message() == CLOSED
    assert up.refused(0.0, full=False) == Retry(0.05)
    assert up.message() == CLOSED
    assert up.landed(0.05) is Step.FINISHED
    assert up.phase is UploadPhase.ENDED and up.message() is None


def test_a_closed_chunk_refused_for_the_send_timeout_is_given_up():
    up = upload(send_timeout=0.5)
    up.message()
    up.refused(0.0, full=False)
    up.message()
    assert isinstance(up.refused(0.2, full=True), Retry)
    up.message()
    assert up.refused(0.5, full=True) is Step.GAVE_UP
    assert up.phase is UploadPhase.ENDED and up.message() is None


def test_abandon_makes_the_closed_chunk_next_even_with_a_chunk_in_flight():
    up = upload()
    up.message()
    assert up.abandon(0.0) is True and up.in_flight
    assert up.message() is None
    assert up.landed(0.0) is Step.NEXT
    assert up.message() == CLOSED


def test_abandon_with_a_refused_chunk_in_flight_sends_closed_instead():
    up = upload()
    up.message()
    up.abandon(0.0)
    assert up.refused(0.0, full=True) is Step.NEXT
    assert up.message() == CLOSED


def test_abandon_after_the_body_is_delivered_or_given_up_sends_nothing():
    done = upload(size=20)
    done.message()
    done.landed(0)
    assert done.abandon(0) is False and done.message() is None
    closing = upload()
    closing.abandon(0)
    assert closing.abandon(0) is False, "one closed chunk only"


@pytest.mark.parametrize("event", ["landed", "refused"])
def test_an_outcome_without_a_message_in_flight_is_an_illegal_transition(event):
    up = upload()
    with pytest.raises(IllegalTransition, match=f"BodyUpload cannot handle '{event}'"):
        if event == "landed":
            up.landed(0)
        else:
            up.refused(0, full=True)
