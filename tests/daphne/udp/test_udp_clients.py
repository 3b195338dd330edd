"""daphne.udp._clients.ClientTable: tokens per address, idle expiry, size cap."""

from __future__ import annotations

import pytest

from daphne.udp._clients import ClientTable

pytestmark = pytest.mark.unit


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_an_address_keeps_its_token_and_the_token_finds_the_address():
    table = ClientTable(FakeClock())
    token = table.token_for(("10.0.0.1", 5000))
    assert table.token_for(("10.0.0.1", 5000)) == token
    assert table.address_for(token) == ("10.0.0.1", 5000)
    assert table.token_for(("10.0.0.1", 5001)) != token


def test_a_client_silent_for_longer_than_the_timeout_is_forgotten():
    clock = FakeClock()
    table = ClientTable(clock, idle_timeout=10)
    token = table.token_for(("h", 1))
    clock.now = 10
    assert table.address_for(token) == ("h", 1)
    clock.now = 10.5
    assert table.address_for(token) is None
    assert len(table) == 0
    assert table.token_for(("h", 1)) != token


def test_sending_again_keeps_a_client_alive():
    clock = FakeClock()
    table = ClientTable(clock, idle_timeout=10)
    token = table.token_for(("h", 1))
    for _ in range(5):
        clock.now += 8
        assert table.token_for(("h", 1)) == token


def test_the_least_recently_seen_client_goes_first_when_the_table_is_full():
    clock = FakeClock()
    table = ClientTable(clock, max_clients=2)
    first = table.token_for(("h", 1))
    clock.now = 1
    second = table.token_for(("h", 2))
    clock.now = 2
    table.token_for(("h", 1))  # seen again: now the newest
    third = table.token_for(("h", 3))
    assert len(table) == 2
    assert table.address_for(second) is None
    assert table.address_for(first) == ("h", 1)
    assert table.address_for(third) == ("h", 3)


def test_an_unknown_token_has_no_address():
    assert ClientTable(FakeClock()).address_for("nope") is None


@pytest.mark.parametrize(
    "options, complaint",
    [({"idle_timeout": 0}, "idle_timeout"), ({"max_clients": 0}, "max_clients")],
)
def test_bad_limits_are_refused(options, complaint):
    with pytest.raises(ValueError, match=complaint):
        ClientTable(FakeClock(), **options)
