"""The one ``ChannelFull`` retry loop and the doubling pause (``channels._retry``),
driven by a fake clock whose pauses advance it: nothing here waits."""

import pytest

from channels._retry import backoff, retry_while_full

pytestmark = pytest.mark.unit


class Full(Exception):
    """Stands in for a layer's ``ChannelFull``."""


class FakeTime:
    """A clock that only moves when ``sleep`` is called; records every pause."""

    def __init__(self) -> None:
        self.now = 100.0
        self.pauses: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


class Channel:
    """Refuses the first ``refusals`` sends with ``Full``; records when each was tried."""

    def __init__(self, time: FakeTime, refusals: int) -> None:
        self.time = time
        self.refusals = refusals
        self.tries: list[float] = []

    def send(self) -> None:
        self.tries.append(self.time.now)
        if len(self.tries) <= self.refusals:
            raise Full()


def run(channel: Channel, fake: FakeTime, **bound) -> bool:
    return retry_while_full(
        channel.send, Full, interval=0.25, sleep=fake.sleep, clock=fake.clock, **bound
    )


def test_a_send_that_goes_through_at_once_never_pauses():
    fake = FakeTime()
    channel = Channel(fake, refusals=0)
    assert run(channel, fake, timeout=2.0) is True
    assert channel.tries == [100.0] and fake.pauses == []


def test_a_channel_that_drains_before_the_deadline_gets_the_message():
    fake = FakeTime()
    channel = Channel(fake, refusals=3)
    assert run(channel, fake, timeout=2.0) is True
    assert channel.tries == [100.0, 100.25, 100.5, 100.75]
    assert fake.pauses == [0.25, 0.25, 0.25]


def test_the_deadline_gives_up_on_the_first_refusal_past_it_without_a_last_pause():
    fake = FakeTime()
    channel = Channel(fake, refusals=1000)
    assert run(channel, fake, timeout=1.0) is False
    # Refused at 100.0 ... 101.0 (not past the deadline yet), then at 101.25.
    assert channel.tries == [100.0, 100.25, 100.5, 100.75, 101.0, 101.25]
    assert fake.pauses == [0.25] * 5


def test_an_attempt_bound_tries_that_many_times_and_pauses_only_between_them():
    fake = FakeTime()
    channel = Channel(fake, refusals=1000)
    assert run(channel, fake, attempts=4) is False
    assert len(channel.tries) == 4 and fake.pauses == [0.25] * 3


def test_an_attempt_bound_succeeds_on_its_last_attempt():
    fake = FakeTime()
    channel = Channel(fake, refusals=3)
    assert run(channel, fake, attempts=4) is True
    assert len(channel.tries) == 4


def test_zero_attempts_sends_nothing():
    fake = FakeTime()
    channel = Channel(fake, refusals=0)
    assert run(channel, fake, attempts=0) is False
    assert channel.tries == []


def test_an_error_other_than_full_propagates_at_once():
    fake = FakeTime()

    def send() -> None:
        raise ConnectionError("shard down")

    with pytest.raises(ConnectionError, match="shard down"):
        retry_while_full(send, Full, interval=0.25, timeout=5, sleep=fake.sleep, clock=fake.clock)
    assert fake.pauses == []


def test_full_may_be_a_tuple_of_exception_classes():
    fake = FakeTime()
    refusals = [Full(), KeyError("also full")]

    def send() -> None:
        if refusals:
            raise refusals.pop(0)

    assert retry_while_full(send, (Full, KeyError), interval=0.1, attempts=3, sleep=fake.sleep)
    assert fake.pauses == [0.1, 0.1]


@pytest.mark.parametrize("bound", [{}, {"timeout": 1.0, "attempts": 2}])
def test_exactly_one_bound_is_required(bound):
    with pytest.raises(TypeError, match="exactly one of timeout= and attempts="):
        retry_while_full(lambda: None, Full, interval=0.1, **bound)


def test_backoff_doubles_from_the_first_pause_up_to_the_cap():
    assert [backoff(0.1, n, 2.0) for n in range(7)] == pytest.approx(
        [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    )


def test_backoff_in_integer_milliseconds_stays_an_integer():
    pauses = [backoff(1000, n, 30_000) for n in range(6)]
    assert pauses == [1000, 2000, 4000, 8000, 16000, 30_000]
    assert all(type(pause) is int for pause in pauses)


def test_backoff_after_a_very_long_outage_stays_at_the_cap_instead_of_overflowing():
    # 0.1 * 2**1024 cannot be a float: a worker cut off for ~35 minutes
    # (1025 failed receives at the 2 s cap) would have crashed on it.
    assert backoff(0.1, 5000, 2.0) == 2.0
