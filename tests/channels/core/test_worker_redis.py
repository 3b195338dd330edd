"""The worker loop on the Redis layer (a real redis-server)."""

import threading
import time

import pytest

from asgi_redis import RedisChannelLayer
from channels.asgi import ChannelLayerWrapper, channel_layers
from channels.routing import route
from channels.worker import Worker, WorkerGroup

from . import consumers

# The in-memory module's scenarios run again here, on the Redis layer (this
# module's make_layer): pytest collects an imported test with the fixtures of
# the module that imports it.
from .test_worker import (  # noqa: F401 - collected here
    TIMEOUT,
    test_consume_later_requeues_until_the_retry_limit,
    test_deny_connection_closes_the_handshake,
    test_full_reply_channel_is_logged_and_the_worker_goes_on,
    test_worker_group_runs_consumers_in_parallel_threads,
    test_worker_routes_messages_to_consumers_with_kwargs,
    test_worker_survives_a_consumer_exception_and_drops_its_pending_sends,
    wait_for,
    ws_receive,
)

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


def pops(client):
    stats = client.info("commandstats")
    return sum(
        stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in ("blmpop", "blpop", "lmpop")
    )


@pytest.fixture
def client(redis_url):
    import redis

    with redis.Redis.from_url(redis_url) as client:
        yield client


def test_quick_consumers_take_a_backlog_in_batches_and_keep_its_order(
    make_layer, run_worker, client
):
    layer = make_layer([route("websocket.receive", consumers.echo)])
    for n in range(40):
        layer.send("websocket.receive", ws_receive(f"m{n}"))
    before = pops(client)
    worker = run_worker(layer)
    worker.batch_budget = 1.0  # any consumer counts as quick here
    inbox = layer.prefix + "websocket.send!"
    deadline = time.monotonic() + TIMEOUT
    while client.llen(inbox) < 40 and time.monotonic() < deadline:
        time.sleep(0.01)
    taken = pops(client) - before
    assert 40 / worker.batch_size <= taken <= 10, taken
    assert [wait_for(layer, "websocket.send!")["text"] for _ in range(40)] == [
        f"m{n}" for n in range(40)
    ]


def test_slow_consumers_get_one_message_at_a_time_so_idle_threads_share_the_work(
    make_layer, run_worker
):
    layer = make_layer([route("websocket.receive", consumers.slow_who)])
    run_worker(layer, cls=WorkerGroup, n_threads=2)
    for n in range(12):
        layer.send("websocket.receive", ws_receive(reply=f"websocket.send!{n}"))
    ran_on = [wait_for(layer, "websocket.send!")["text"] for _ in range(12)]
    assert len(set(ran_on)) == 2
    assert min(ran_on.count(name) for name in set(ran_on)) >= 4, ran_on


def test_a_stop_during_a_batch_still_handles_every_message_taken(make_layer, client):
    consumers.GATE = threading.Event()
    layer = make_layer([route("websocket.receive", consumers.gated)])
    worker = Worker(layer, signal_handlers=False)
    worker.batch_budget = 100.0  # batches of batch_size whatever the consumer takes
    worker.batch_size = 8  # fewer than the 10 queued below
    consumers.STOP = worker.stop
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    layer.send("websocket.receive", ws_receive("hold"))
    queue = layer.prefix + "websocket.receive"
    deadline = time.monotonic() + TIMEOUT
    while client.llen(queue) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert client.llen(queue) == 0  # the worker holds "hold"
    layer.send_batch(
        [("websocket.receive", ws_receive(text)) for text in ["stop"] + [f"a{n}" for n in range(9)]]
    )
    consumers.GATE.set()
    thread.join(TIMEOUT)
    assert not thread.is_alive()
    replies = []
    while True:
        name, content = layer.receive(["websocket.send!"])
        if name is None:
            break
        replies.append(content["text"])
    left = client.llen(queue)
    assert replies[:2] == ["hold", "stop"]
    assert len(replies) == worker.batch_size + 1  # "hold", then one whole batch
    assert replies[2:] == [f"a{n}" for n in range(worker.batch_size - 1)]
    assert left == 10 - worker.batch_size  # the rest stays queued for other workers


def test_a_consumers_sends_go_out_in_order_around_its_group_send(make_layer, run_worker):
    layer = make_layer([route("websocket.receive", consumers.three_in_order)])
    layer.group_add("three-in-order", "websocket.send!g")
    run_worker(layer)
    layer.send("websocket.receive", ws_receive("x"))
    got = [wait_for(layer, "websocket.send!")["text"] for _ in range(4)]
    assert got == ["x-0", "x-1", "group", "x-2"]


def test_sends_refused_by_a_full_channel_are_retried_in_order(make_layer, run_worker):
    layer = make_layer(
        [route("websocket.receive", consumers.five_in_order)],
        channel_capacity={"websocket.send!*": 2},
    )
    run_worker(layer)
    layer.send("websocket.receive", ws_receive("y"))
    got = []
    deadline = time.monotonic() + TIMEOUT
    while len(got) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)  # a slow reader: the consumer's sends must wait for room
        name, content = layer.receive(["websocket.send!"])
        if name is not None:
            got.append(content["text"])
    assert got == [f"y-{n}" for n in range(5)]
