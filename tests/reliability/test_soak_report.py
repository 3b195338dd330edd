"""The soak's bookkeeping without processes: the chaos bag, outage windows and the targets."""

import time

import pytest

from tests.support.chaos import OUTAGE_MARGIN, ChaosEvent, ChaosLoop
from tests.support.soak import LostDisconnect, SoakReport

pytestmark = pytest.mark.unit

KINDS = ("kill-worker", "restart-redis", "fill-redis")


def chaos_with(*events: ChaosEvent) -> ChaosLoop:
    chaos = ChaosLoop(stack=None, redis=None, seed=1)
    chaos.events.extend(events)
    return chaos


def test_each_group_of_three_chaos_events_has_every_kind_once():
    chaos = ChaosLoop(stack=None, redis=None, seed=7)
    drawn = [chaos.next_kind() for _ in range(12)]
    for start in range(0, 12, 3):
        assert sorted(drawn[start : start + 3]) == sorted(KINDS), drawn


def test_the_same_seed_draws_the_same_chaos():
    first = ChaosLoop(stack=None, redis=None, seed=3)
    second = ChaosLoop(stack=None, redis=None, seed=3)
    assert [first.next_kind() for _ in range(9)] == [second.next_kind() for _ in range(9)]


def test_redis_restarts_and_fills_are_outages_with_margins_and_worker_kills_are_not():
    chaos = chaos_with(
        ChaosEvent("restart-redis", 100.0, 102.0),
        ChaosEvent("fill-redis", 200.0, 203.0),
        ChaosEvent("kill-worker", 300.0, 301.0),
    )
    assert chaos.in_outage(100.0 - OUTAGE_MARGIN)
    assert chaos.in_outage(101.0)
    assert chaos.in_outage(203.0 + OUTAGE_MARGIN)
    assert not chaos.in_outage(100.0 - OUTAGE_MARGIN - 0.1)
    assert not chaos.in_outage(150.0)
    assert not chaos.in_outage(300.5)
    assert chaos.near("kill-worker", 300.5)


def test_an_outage_still_running_lasts_until_now():
    chaos = chaos_with(ChaosEvent("restart-redis", time.monotonic() - 60))
    assert chaos.in_outage(time.monotonic())


def test_a_disconnect_lost_outside_an_outage_misses_the_target_and_one_inside_does_not():
    report = SoakReport(seconds=10)
    report.disconnects_lost = [LostDisconnect("/echo/a/", 3.0, "outage")]
    assert report.targets()["0 lost disconnects outside Redis outages"]
    report.disconnects_lost.append(LostDisconnect("/echo/b/", 5.0, "worker-kill"))
    assert not report.targets()["0 lost disconnects outside Redis outages"]
    assert "lost worker-kill: /echo/b/ closed at 5.0s" in report.report()


def test_rss_growth_is_measured_from_the_warm_up_sample_and_short_lives_are_left_out():
    report = SoakReport(seconds=600)
    report.rss_kib = {
        "daphne pid 1": [50_000] + [80_000] * 20 + [83_000],  # warm at 80 000, +3.75 %
        "worker0 pid 2": [50_000, 60_000],
    }
    assert report.rss_growth() == {"daphne pid 1": pytest.approx(0.0375)}
    assert report.targets()["RSS growth under 5 % after warm-up"]
    report.rss_kib["daphne pid 1"][-1] = 84_000
    assert not report.targets()["RSS growth under 5 % after warm-up"]


def test_keys_above_the_baseline_miss_the_target_and_are_listed():
    report = SoakReport(seconds=10, keys_before=2, keys_after=3)
    report.keys_left = ["rel:daphne.response.x! (ttl 27 s)"]
    assert not report.targets()["Redis keys back to baseline"]
    assert "[MISSED] Redis keys back to baseline" in report.report()
    assert "left: rel:daphne.response.x! (ttl 27 s)" in report.report()


def test_a_503_outside_outages_and_worker_kills_misses_the_http_target():
    report = SoakReport(seconds=10, http_failed_outside={"hello": {}, "longpoll": {}})
    assert report.targets()["HTTP all 200 outside Redis outages and worker kills"]
    report.http_failed_outside["hello"] = {"503": 7}
    assert not report.targets()["HTTP all 200 outside Redis outages and worker kills"]
    assert "not 200 outside Redis outages and worker kills: hello 503: 7" in report.report()
