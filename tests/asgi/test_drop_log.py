"""The drop log both daphne and the worker use: rate limit, fields, observers."""

from __future__ import annotations

import logging

import pytest

from asgi._drop_log import DropLimiter, DropLog, general_name

pytestmark = pytest.mark.unit


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def drop_log(clock):
    logger = logging.getLogger("tests.drop_log")
    logger.setLevel(logging.DEBUG)
    return DropLog(logger, clock=clock, interval=1.0, levels={"client_gone": logging.DEBUG})


def drop_records(caplog):
    return [r for r in caplog.records if r.name == "tests.drop_log"]


def test_the_first_drop_of_a_reason_is_admitted_with_nothing_suppressed():
    limiter = DropLimiter(1.0)
    assert limiter.admit("channel_full", 3, 0.0) == 0


def test_drops_within_the_interval_are_counted_and_reported_by_the_next_admitted_line():
    limiter = DropLimiter(1.0)
    limiter.admit("channel_full", 1, 0.0)
    assert limiter.admit("channel_full", 2, 0.3) is None
    assert limiter.admit("channel_full", 5, 0.9) is None
    assert limiter.admit("channel_full", 1, 1.0) == 7
    assert limiter.admit("channel_full", 1, 1.5) is None


def test_each_reason_has_its_own_budget():
    limiter = DropLimiter(1.0)
    limiter.admit("channel_full", 1, 0.0)
    assert limiter.admit("timeout", 1, 0.1) == 0
    assert limiter.admit("channel_full", 1, 0.2) is None


def test_a_negative_interval_is_refused_with_a_message():
    with pytest.raises(ValueError, match="interval must be >= 0"):
        DropLimiter(-1)


def test_a_drop_is_one_warning_with_reason_channel_and_count_as_fields_and_text(drop_log, caplog):
    with caplog.at_level(logging.DEBUG, "tests.drop_log"):
        drop_log.report("channel_full", "http.request", 2)
    (record,) = drop_records(caplog)
    assert record.levelno == logging.WARNING
    assert (record.reason, record.channel, record.count, record.suppressed) == (
        "channel_full",
        "http.request",
        2,
        0,
    )
    text = record.getMessage()
    assert "channel_full" in text and "http.request" in text and "2 message" in text


def test_a_flood_writes_one_line_per_second_and_the_next_says_how_many_were_left_out(
    drop_log, clock, caplog
):
    with caplog.at_level(logging.DEBUG, "tests.drop_log"):
        for _ in range(1000):
            drop_log.report("timeout", "http.request")
            clock.now += 0.0005
        clock.now += 1.0
        drop_log.report("timeout", "http.request")
    records = drop_records(caplog)
    assert len(records) == 2
    assert records[1].suppressed == 999
    assert "999 more" in records[1].getMessage()


def test_observers_see_every_drop_even_those_the_log_leaves_out(drop_log, caplog):
    seen = []
    drop_log.add_observer(lambda *args: seen.append(args))
    with caplog.at_level(logging.DEBUG, "tests.drop_log"):
        for _ in range(5):
            drop_log.report("rate_limit", "websocket.receive", 1)
    assert seen == [("rate_limit", "websocket.receive", 1)] * 5
    assert len(drop_records(caplog)) == 1


def test_a_failing_observer_is_logged_and_does_not_stop_the_others(drop_log, caplog):
    seen = []

    def broken(*args):
        raise RuntimeError("observer bug")

    drop_log.add_observer(broken)
    drop_log.add_observer(lambda *args: seen.append(args))
    with caplog.at_level(logging.DEBUG, "tests.drop_log"):
        drop_log.report("layer_down", "http.request")
    assert seen == [("layer_down", "http.request", 1)]
    assert any("observer" in r.getMessage() and r.exc_info for r in drop_records(caplog))


def test_a_removed_observer_is_no_longer_called(drop_log):
    seen = []

    def observer(*args):
        seen.append(args)

    drop_log.add_observer(observer)
    drop_log.remove_observer(observer)
    drop_log.remove_observer(observer)  # not there any more: no error
    drop_log.report("timeout", None)
    assert seen == []


def test_a_reason_can_have_its_own_level(drop_log, caplog):
    with caplog.at_level(logging.DEBUG, "tests.drop_log"):
        drop_log.report("client_gone", "http.response!")
    (record,) = drop_records(caplog)
    assert record.levelno == logging.DEBUG


def test_a_process_specific_channel_is_reported_under_its_general_name(drop_log, caplog):
    seen = []
    drop_log.add_observer(lambda *args: seen.append(args))
    with caplog.at_level(logging.DEBUG, "tests.drop_log"):
        drop_log.report("slow_reader", "daphne.response.AbC!xYz")
    assert seen == [("slow_reader", "daphne.response.AbC!", 1)]
    assert drop_records(caplog)[0].channel == "daphne.response.AbC!"
    assert general_name("http.request") == "http.request" and general_name(None) is None
