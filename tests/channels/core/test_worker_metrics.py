"""The worker's counting for ``runworker --metrics-port``, read back as a scrape would.

Workers handle real messages from the in-memory layer; the counts are read
through ``WorkerCollector`` and the exposition text it makes (parsed with
``prometheus_client.parser``). The real endpoint of real worker processes is
in ``test_runworker_metrics``.
"""

import logging
import sys

import pytest
from django.core.management import CommandError
from prometheus_client import CollectorRegistry, generate_latest

from asgi.inmemory import ChannelLayer
from channels import _drops, _retry
from channels._metrics_exporter import WorkerCollector
from channels._worker_metrics import FullRetries, WorkerMetrics
from channels.asgi import ChannelLayerWrapper
from channels.management.commands import runworker
from channels.routing import route
from channels.worker import Worker
from tests.support.metrics import Samples

pytestmark = pytest.mark.unit


def ok_consumer(message):
    message.reply_channel.send({"text": "ok"})


def broken_consumer(message):
    raise RuntimeError("a consumer bug (the test asked for it)")


def make_worker():
    layer = ChannelLayerWrapper(
        ChannelLayer(),
        "default",
        [route("websocket.receive", ok_consumer), route("websocket.connect", broken_consumer)],
    )
    worker = Worker(layer, signal_handlers=False)
    return layer, worker


def scrape(collector) -> Samples:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return Samples(generate_latest(registry).decode())


def message(reply="daphne.response.t!x"):
    return {"reply_channel": reply, "path": "/", "order": 1, "text": "hi"}


def test_a_worker_without_metrics_counts_nothing():
    _, worker = make_worker()
    assert worker.metrics is None
    worker.handle("websocket.receive", message())  # and it still works
    assert _retry.full_observer is None


def test_messages_durations_and_exceptions_are_counted_per_channel_and_consumer(caplog):
    _, worker = make_worker()
    worker.metrics = WorkerMetrics()
    collector = WorkerCollector([worker.metrics], FullRetries())
    _drops.add_drop_observer(collector.dropped)
    try:
        for _ in range(3):
            worker.handle("websocket.receive", message())
        with caplog.at_level(logging.CRITICAL):
            worker.handle("websocket.connect", message())
    finally:
        _drops.remove_drop_observer(collector.dropped)
    samples = scrape(collector)
    assert samples.get("channels_worker_messages_total", channel="websocket.receive") == 3
    assert samples.get("channels_worker_messages_total", channel="websocket.connect") == 1
    ok = f"{__name__}.ok_consumer"
    broken = f"{__name__}.broken_consumer"
    assert samples.get("channels_worker_consumer_seconds_count", consumer=ok) == 3
    assert samples.get("channels_worker_consumer_exceptions_total", consumer=broken) == 1
    assert (
        samples.get("channels_worker_consumer_exceptions_total", consumer=ok, default=None) is None
    )
    # the consumer's error also reaches the drop counts (through the drop log), by reason
    assert (
        samples.get(
            "channels_worker_drops_total", reason="consumer_error", channel="websocket.connect"
        )
        == 1
    )


def test_threads_are_added_up_and_batches_sized():
    first, second = WorkerMetrics(clock=lambda: 100.0), WorkerMetrics(clock=lambda: 130.0)
    first.batch(1)
    first.batch(5)
    second.batch(32)
    first.consumed("http.request", ok_consumer, 0.01, failed=False)
    second.consumed("http.request", ok_consumer, 0.02, failed=False)
    collector = WorkerCollector([first, second], FullRetries(), clock=lambda: 135.0)
    samples = scrape(collector)
    assert samples.get("channels_worker_messages_total", channel="http.request") == 2
    assert samples.get("channels_worker_batch_size_bucket", le="1.0") == 1
    assert samples.get("channels_worker_batch_size_bucket", le="8.0") == 2
    assert samples.get("channels_worker_batch_size_bucket", le="32.0") == 3
    assert samples["channels_worker_batch_size_sum"] == 38
    # the latest of the threads' last messages: 135 - 130
    assert samples["channels_worker_seconds_since_last_message"] == 5
    assert samples["channels_worker_threads"] == 2


def test_before_any_message_the_idle_time_counts_from_the_start():
    now = [50.0]
    collector = WorkerCollector([WorkerMetrics()], FullRetries(), clock=lambda: now[0])
    now[0] = 62.5
    assert scrape(collector)["channels_worker_seconds_since_last_message"] == 12.5


def test_channel_full_retries_are_counted_while_observed(monkeypatch):
    retries = FullRetries()
    monkeypatch.setattr(_retry, "full_observer", retries)
    layer = ChannelLayer(capacity=1)
    layer.send("busy", {"n": 1})
    sent = _retry.retry_while_full(
        lambda: layer.send("busy", {"n": 2}),
        layer.ChannelFull,
        attempts=3,
        interval=0,
        sleep=lambda s: None,
    )
    assert sent is False
    samples = scrape(WorkerCollector([], retries))
    assert samples["channels_worker_channel_full_retries_total"] == 3


def test_runworker_without_the_extra_names_the_package_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    monkeypatch.setitem(sys.modules, "prometheus_client.core", None)
    command = runworker.Command()
    command.logger = logging.getLogger("test")
    _, worker = make_worker()
    with pytest.raises(CommandError, match=r"pip install channels-classic\[metrics\]"):
        command._start_metrics(worker, {"metrics_port": 0})
    assert worker.metrics is None


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"metrics_port": 70000}, "from 0 to 65535"),
        (
            {"metrics_port": None, "metrics_channels": ["x"]},
            "--metrics-channel needs --metrics-port",
        ),
    ],
)
def test_runworker_refuses_bad_metrics_options(options, error):
    command = runworker.Command()
    command.logger = logging.getLogger("test")
    _, worker = make_worker()
    with pytest.raises(CommandError, match=error):
        command._start_metrics(worker, options)
