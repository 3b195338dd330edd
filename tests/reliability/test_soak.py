"""A short soak in CI (20 s; ``benchmarks/soak.py`` runs the long one): mixed traffic loses nothing,
memory stays bounded and Redis holds no more keys at the end than at the start."""

import pytest

from tests.support.soak import run_soak

pytestmark = pytest.mark.integration

SECONDS = 20


def test_mixed_traffic_for_twenty_seconds_loses_nothing_and_leaves_no_keys(
    make_redis_server, make_stack
):
    redis = make_redis_server()
    stack = make_stack([redis.url], workers=2)
    report = run_soak(stack, redis.url, SECONDS)
    print("\n" + report.summary())

    assert report.http_requests > 100 and not report.http_failures, report.http_failures[:5]
    assert report.ws_echoes > 100 and not report.ws_dropped, report.ws_dropped
    assert not report.group_errors, report.group_errors
    assert report.group_received == [report.group_sent] * 3, report.summary()
    assert report.keys_peak > report.keys_before  # the count does see the traffic's keys
    assert report.keys_after <= report.keys_before, report.summary()
    # Bounded memory: after the first sample (imports and caches warm), no
    # process grows by more than 32 MiB in the run.
    for name, samples in report.rss_kib.items():
        assert max(samples) - samples[1] < 32 * 1024, (name, samples)
    assert all(p.alive() for p in [stack.daphne, *stack.workers]), stack.logs()
