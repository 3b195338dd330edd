"""The worker loop on the Redis layer (a real redis-server)."""

import threading

import pytest

from asgi_redis import RedisChannelLayer
from channels.asgi import ChannelLayerWrapper, channel_layers
from channels.routing import route
from channels.worker import Worker, WorkerGroup

from . import consumers
from .test_worker import TIMEOUT, Running, wait_for, wait_for_log, ws_connect, ws_receive

pytestmark = pytest.mark.integration


@pytest.fixture
def make_layer(redis_url):
    old = channel_layers.backends.get("default")
    made = []

    def make(routing, **config):
        raw = RedisChannelLayer(hosts=[redis_url], **config)
        raw.blpop_timeout = 1  # stop() is noticed within a second
        raw.flush()
        wrapper = ChannelLayerWrapper(raw, "default", routing)
        channel_layers.set("default", wrapper)
        made.append(raw)
        return wrapper

    yield make
    channel_layers.set("default", old)
    for raw in made:
        raw.flush()


@pytest.fixture
def run_worker():
    running = []

    def start(layer, cls=Worker, **kwargs):
        worker = cls(layer, signal_handlers=False, **kwargs)
        running.append(Running(worker))
        return worker

    yield start
    for item in running:
        item.stop()


def test_worker_consumes_from_redis_and_replies(make_layer, run_worker):
    layer = make_layer([route("websocket.receive", consumers.echo, path=r"^/(?P<room>\w+)/$")])
    run_worker(layer)
    layer.send("websocket.receive", ws_receive("over redis", path="/lobby/"))
    assert wait_for(layer, "websocket.send!") == {"text": "over redis", "kwargs": {"room": "lobby"}}


def test_worker_survives_consumer_errors_on_redis(make_layer, run_worker, caplog):
    layer = make_layer(
        [
            route("websocket.receive", consumers.send_then_fail, path="^/fail/"),
            route("websocket.receive", consumers.echo),
        ]
    )
    run_worker(layer)
    layer.send("websocket.receive", ws_receive("x", path="/fail/"))
    layer.send("websocket.receive", ws_receive("after"))
    assert wait_for(layer, "websocket.send!")["text"] == "after"
    assert "consumer bug" in caplog.text


def test_deny_connection_on_redis(make_layer, run_worker):
    layer = make_layer([route("websocket.connect", consumers.deny)])
    run_worker(layer)
    layer.send("websocket.connect", ws_connect())
    assert wait_for(layer, "websocket.send!") == {"close": True}


def test_consume_later_requeues_on_redis_until_the_limit(make_layer, run_worker, caplog):
    layer = make_layer([route("tests.later", consumers.consume_later)])
    run_worker(layer, message_retries=2)
    layer.send("tests.later", {"n": 1})
    wait_for_log(caplog, "retried 2 times")
    assert layer.receive(["tests.side-effect"]) == (None, None)


def test_full_reply_channel_on_redis_does_not_kill_the_worker(
    make_layer, run_worker, caplog, monkeypatch
):
    from channels.message import pending_message_store

    monkeypatch.setattr(pending_message_store, "retry_time", 0.2)
    layer = make_layer(
        [
            route("websocket.receive", consumers.full_reply, path="^/full/"),
            route("websocket.receive", consumers.echo),
        ],
        channel_capacity={"websocket.send!*": 1},
    )
    run_worker(layer)
    layer.send("websocket.receive", ws_receive(path="/full/"))
    wait_for_log(caplog, "stayed full")
    assert wait_for(layer, "websocket.send!") == {"text": "one"}
    layer.send("websocket.receive", ws_receive("alive"))
    assert wait_for(layer, "websocket.send!")["text"] == "alive"


def test_worker_group_threads_share_one_redis_layer(make_layer, run_worker):
    consumers.BARRIER = threading.Barrier(3, timeout=TIMEOUT)
    layer = make_layer([route("websocket.receive", consumers.rendezvous)])
    run_worker(layer, cls=WorkerGroup, n_threads=3)
    for n in range(3):
        layer.send("websocket.receive", ws_receive(reply=f"websocket.send!{n}"))
    assert [wait_for(layer, "websocket.send!") for _ in range(3)] == [{"text": "met"}] * 3
