"""The worker reports every message it drops to ``channels/_drops.py``: the
``channels.drops`` log line and its observers."""

import logging

import pytest

from asgi._drop_log import DropLimiter
from channels import _drops
from channels.exceptions import ConsumeLater
from channels.routing import route
from channels.worker import Worker

from . import consumers
from .test_worker import ws_receive

pytestmark = pytest.mark.integration


@pytest.fixture
def drops(monkeypatch):
    monkeypatch.setattr(_drops._LOG, "limiter", DropLimiter())
    seen = []

    def observer(reason, channel, count):
        seen.append((reason, channel, count))

    _drops.add_drop_observer(observer)
    yield seen
    _drops.remove_drop_observer(observer)


def later(message, **kwargs):
    raise ConsumeLater()


def test_a_message_without_a_route_is_reported_as_no_route(make_layer, drops, caplog):
    layer = make_layer([route("websocket.receive", consumers.echo, path="^/only/")])
    worker = Worker(layer, signal_handlers=False)
    with caplog.at_level(logging.WARNING, "channels.drops"):
        worker.handle("websocket.receive", ws_receive(path="/other/"))
    assert drops == [(_drops.NO_ROUTE, "websocket.receive", 1)]
    (line,) = [r for r in caplog.records if r.name == "channels.drops"]
    assert (line.reason, line.channel, line.count) == ("no_route", "websocket.receive", 1)


def test_a_consumer_error_counts_the_message_and_its_pending_sends(make_layer, drops):
    layer = make_layer([route("websocket.receive", consumers.send_then_fail)])
    Worker(layer, signal_handlers=False).handle("websocket.receive", ws_receive("x"))
    assert drops == [(_drops.CONSUMER_ERROR, "websocket.receive", 2)]


def test_a_malformed_message_is_reported(make_layer, drops):
    layer = make_layer([route("websocket.receive", consumers.echo)])
    bad = ws_receive("bad")
    bad["reply_channel"] = 42
    Worker(layer, signal_handlers=False).handle("websocket.receive", bad)
    assert drops == [(_drops.MALFORMED, "websocket.receive", 1)]


def test_a_requeue_into_a_channel_that_stays_full_is_reported_as_channel_full(make_layer, drops):
    layer = make_layer([route("tests.full", later)], channel_capacity={"tests.full": 1})
    layer.send("tests.full", {"blocking": True})
    worker = Worker(layer, signal_handlers=False)
    worker.requeue_interval = 0.0
    worker.handle("tests.full", {"n": 1})
    assert drops == [(_drops.CHANNEL_FULL, "tests.full", 1)]


def test_a_message_past_its_retries_is_reported_as_retries_exhausted(make_layer, drops):
    layer = make_layer([route("tests.later", later)])
    Worker(layer, message_retries=2, signal_handlers=False).handle(
        "tests.later", {"n": 1, "__retries__": 2}
    )
    assert drops == [(_drops.RETRIES_EXHAUSTED, "tests.later", 1)]


def test_a_reply_channel_that_stays_full_is_reported_under_its_general_name(
    make_layer, drops, monkeypatch
):
    from channels.message import pending_message_store

    monkeypatch.setattr(pending_message_store, "retry_time", 0.1)
    layer = make_layer(
        [route("websocket.receive", consumers.full_reply)],
        channel_capacity={"websocket.send!*": 1},
    )
    Worker(layer, signal_handlers=False).handle(
        "websocket.receive", ws_receive(reply="websocket.send!abc")
    )
    assert drops == [(_drops.CHANNEL_FULL, "websocket.send!", 1)]
