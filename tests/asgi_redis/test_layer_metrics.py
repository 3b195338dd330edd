"""The ``asgi_layer_*`` collector against a real redis-server.

Messages and group members are put into a real Redis layer and the
collector's families are rendered and parsed as a scrape would; the cache
is driven by an injected clock.
"""

import time

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from asgi._layer_metrics import LayerCollector
from asgi.inmemory import ChannelLayer
from tests.support.metrics import Samples

pytestmark = pytest.mark.integration


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def scrape(collector) -> Samples:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return Samples(generate_latest(registry).decode())


def test_queue_depth_and_oldest_age_follow_the_messages(make_layer):
    layer = make_layer(capacity=50)
    collector = LayerCollector(layer, ["jobs.work"], cache_seconds=0)
    empty = scrape(collector)
    assert empty["asgi_layer_up"] == 1
    assert empty.get("asgi_layer_channel_depth", channel="jobs.work") == 0
    assert empty.get("asgi_layer_channel_oldest_message_age_seconds", channel="jobs.work") == 0
    for number in range(3):
        layer.send("jobs.work", {"n": number})
    layer.send("http.request", {"n": 0})
    time.sleep(0.2)
    samples = scrape(collector)
    assert samples.get("asgi_layer_channel_depth", channel="jobs.work") == 3
    assert samples.get("asgi_layer_channel_depth", channel="http.request") == 1
    assert samples.get("asgi_layer_channel_depth", channel="websocket.receive") == 0
    assert samples.get("asgi_layer_channel_capacity", channel="jobs.work") == 50
    age = samples.get("asgi_layer_channel_oldest_message_age_seconds", channel="jobs.work")
    assert 0.15 <= age < 30
    layer.receive(["jobs.work"])
    assert scrape(collector).get("asgi_layer_channel_depth", channel="jobs.work") == 2


def test_group_counts(make_layer):
    layer = make_layer()
    collector = LayerCollector(layer, cache_seconds=0)
    assert scrape(collector)["asgi_layer_groups"] == 0
    for group, channel in (("room", "a!1"), ("room", "b!2"), ("lobby", "a!1")):
        layer.group_add(group, channel)
    samples = scrape(collector)
    assert samples["asgi_layer_groups"] == 2
    assert samples["asgi_layer_group_members"] == 3
    assert samples["asgi_layer_group_largest_size"] == 2


def test_each_shard_reports_its_reachability_and_round_trip(make_layer, make_redis_server):
    first, second = make_redis_server(), make_redis_server()
    layer = make_layer(hosts=[first.url, second.url])
    collector = LayerCollector(layer, cache_seconds=0)
    samples = scrape(collector)
    shards = samples.series("asgi_layer_shard_up")
    assert sorted(shards.values()) == [1, 1]
    latencies = samples.series("asgi_layer_shard_latency_seconds")
    assert len(latencies) == 2 and all(0 < value < 5 for value in latencies.values())
    second.stop()
    samples = scrape(collector)
    assert sorted(samples.series("asgi_layer_shard_up").values()) == [0, 1]
    # the reachable shard still has a latency; the lost one has none
    assert len(samples.series("asgi_layer_shard_latency_seconds")) == 1


def test_scrapes_within_the_cache_period_do_not_reach_redis(make_layer):
    clock = FakeClock()
    layer = make_layer()
    collector = LayerCollector(layer, cache_seconds=5, clock=clock)
    scrape(collector)
    layer.send("http.request", {"n": 1})
    clock.now += 4.9
    cached = scrape(collector)
    assert collector.inspections == 1
    assert cached.get("asgi_layer_channel_depth", channel="http.request") == 0
    clock.now += 0.2
    fresh = scrape(collector)
    assert collector.inspections == 2
    assert fresh.get("asgi_layer_channel_depth", channel="http.request") == 1


def test_an_unreachable_layer_gives_up_0_instead_of_a_failed_scrape(make_layer, make_redis_server):
    server = make_redis_server()
    layer = make_layer(hosts=[server.url])
    collector = LayerCollector(layer, cache_seconds=0)
    assert scrape(collector)["asgi_layer_up"] == 1
    server.stop()
    samples = scrape(collector)
    assert samples["asgi_layer_up"] == 0
    assert list(samples.series("asgi_layer_shard_up").values()) == [0]


def test_a_layer_without_the_inspect_extension_is_refused_by_name():
    class Plain(ChannelLayer):
        extensions = ["groups", "flush"]

    with pytest.raises(ValueError, match="'inspect' extension"):
        LayerCollector(Plain())
