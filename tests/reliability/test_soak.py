"""Short soaks in CI (``benchmarks/soak.py`` runs the long one).

Without chaos, mixed traffic (HTTP, echo, groups, connect/close churn,
long-polls) loses nothing, memory stays bounded and Redis holds no more keys at
the end than at the start. Under chaos (a worker killed, Redis restarted, Redis
filled to ``maxmemory``) only what holds reliably in a short run is asserted:
answers are 200 or 503, never 500, every disconnect sent outside an outage
reaches a consumer, and the keys come back to the baseline.
"""

import pytest

from tests.support.chaos import ChaosLoop
from tests.support.soak import run_soak

pytestmark = pytest.mark.integration

SECONDS = 15
CHAOS_SECONDS = 15
#: A group's members expire as fast as its messages, so what an outage leaves goes.
ENV = {"REL_GROUP_EXPIRY": "30"}
#: Under chaos, short expiries: what the outages leave (an accept daphne no longer
#: waits for, a group member whose disconnect was lost) expires within the test
#: (a queue outlives its last message by about 2.5 expiries).
CHAOS_ENV = {"REL_EXPIRY": "5", "REL_GROUP_EXPIRY": "10"}


def test_mixed_traffic_for_fifteen_seconds_loses_nothing_and_leaves_no_keys(
    make_redis_server, make_stack
):
    redis = make_redis_server()
    stack = make_stack([redis.url], workers=2, env=ENV)
    report = run_soak(stack, redis.url, SECONDS)
    print("\n" + report.report())

    assert report.http_requests > 100 and not report.http_failures, report.http_failures[:5]
    assert report.http_by_status["longpoll"].keys() == {"200"}, report.http_by_status
    assert report.http_by_status["longpoll"]["200"] > 10, report.http_by_status
    assert report.ws_echoes > 100 and not report.ws_dropped, report.ws_dropped
    assert not report.group_errors, report.group_errors
    assert report.group_received == [report.group_sent] * 3, report.summary()
    assert report.churn_outcomes.keys() == {"closed by client"}, report.churn_outcomes
    assert report.disconnects_sent > 20, report.summary()
    assert report.disconnects_received == report.disconnects_sent, report.disconnects_lost
    assert report.keys_peak > report.keys_before  # the count does see the traffic's keys
    assert report.keys_after <= report.keys_before, report.summary()
    # Bounded memory: after the first sample (imports and caches warm), no
    # process grows by more than 32 MiB in the run.
    for name, samples in report.rss_kib.items():
        assert max(samples) - samples[1] < 32 * 1024, (name, samples)
    assert all(p.alive() for p in [stack.daphne, *stack.workers]), stack.logs()


def test_under_chaos_answers_are_200_or_503_no_disconnect_is_lost_outside_outages_and_keys_return(
    make_redis_server, make_stack
):
    redis = make_redis_server("--maxmemory", "32mb", "--maxmemory-policy", "noeviction")
    # -t 5: a request whose message Redis lost in a restart gets its 503 within the run;
    # --websocket_timeout -1: the short group expiry must not close the soak's sockets
    daphne_args = ("-t", "5", "--websocket_timeout", "-1")
    stack = make_stack([redis.url], workers=2, env=CHAOS_ENV, daphne_args=daphne_args)
    # seed 149 draws a worker kill at ~2 s, a fill at ~6 s and a Redis restart at ~10 s
    chaos = ChaosLoop(stack, redis, seed=149, every=4, hold=2)
    # a slow machine gets up to 30 s more to run all three events
    report = run_soak(stack, redis.url, CHAOS_SECONDS, chaos=chaos, settle=20, chaos_grace=30)
    print("\n" + report.report())

    kinds = [event.kind for event in chaos.events]
    assert {"kill-worker", "restart-redis", "fill-redis"} <= set(kinds), report.chaos_log
    assert not [e for e in chaos.events if "failed" in e.detail], report.chaos_log
    assert "until OOM" in report.chaos_log, report.chaos_log
    statuses = {o for outcomes in report.http_by_status.values() for o in outcomes}
    assert "500" not in statuses, report.http_by_status
    assert statuses <= {"200", "503"}, report.http_by_status
    assert report.http_by_status["hello"].get("200", 0) > 50, report.http_by_status
    assert report.disconnects_sent > 20, report.summary()
    assert not report.lost("outside"), report.report()
    assert report.keys_after <= report.keys_before, report.report()
    assert stack.daphne.alive(), stack.logs()
