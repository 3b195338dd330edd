"""The worker loop on the in-memory layer.

See docs/topics/workers.rst.
"""

import logging
import threading

import pytest
from django.db import close_old_connections

from asgi import www
from channels.routing import route
from channels.signals import consumer_finished, consumer_started, worker_ready
from channels.worker import Worker, WorkerGroup
from tests.support.worker_thread import Running

from . import consumers

pytestmark = pytest.mark.integration

TIMEOUT = 10


def wait_for(layer, channel):
    """Block until a message arrives on ``channel`` (or fail after TIMEOUT)."""
    for _ in range(TIMEOUT):
        name, content = layer.receive([channel], block=True)
        if name is not None:
            return content
    raise AssertionError(f"nothing arrived on {channel}")


def ws_receive(text="hi", reply="websocket.send!a", path="/"):
    return www.websocket_receive(reply_channel=reply, path=path, order=1, text=text)


def ws_connect(reply="websocket.send!a", path="/"):
    return www.websocket_connect(reply_channel=reply, path=path)


def test_worker_routes_messages_to_consumers_with_kwargs(make_layer, run_worker):
    layer = make_layer([route("websocket.receive", consumers.echo, path=r"^/(?P<room>\w+)/$")])
    run_worker(layer)
    layer.send("websocket.receive", ws_receive("hello", path="/lobby/"))
    assert wait_for(layer, "websocket.send!") == {"text": "hello", "kwargs": {"room": "lobby"}}


def test_worker_survives_a_consumer_exception_and_drops_its_pending_sends(
    make_layer, run_worker, caplog
):
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
    assert "consumer bug" in caplog.text and "1 pending send(s) dropped" in caplog.text


def test_deny_connection_closes_the_handshake(make_layer, run_worker):
    layer = make_layer([route("websocket.connect", consumers.deny)])
    run_worker(layer)
    layer.send("websocket.connect", ws_connect())
    assert wait_for(layer, "websocket.send!") == {"close": True}


def test_deny_connection_outside_connect_is_logged_not_sent(make_layer, run_worker, caplog):
    layer = make_layer(
        [
            route("websocket.receive", consumers.deny_on_receive, path="^/deny/"),
            route("websocket.receive", consumers.echo),
        ]
    )
    run_worker(layer)
    layer.send("websocket.receive", ws_receive("x", path="/deny/"))
    layer.send("websocket.receive", ws_receive("next"))
    assert wait_for(layer, "websocket.send!")["text"] == "next"
    assert "only valid on websocket.connect" in caplog.text


def test_channel_socket_exception_runs(make_layer, run_worker):
    layer = make_layer([route("websocket.receive", consumers.close_4001)])
    run_worker(layer)
    layer.send("websocket.receive", ws_receive())
    assert wait_for(layer, "websocket.send!") == {"close": 4001}


def test_consume_later_requeues_until_the_retry_limit(make_layer, run_worker, caplog):
    layer = make_layer([route("tests.later", consumers.consume_later)])
    run_worker(layer, message_retries=3)
    layer.send("tests.later", {"n": 1})
    # Each attempt's own sends are dropped, so no side effect ever lands...
    worker_done = threading.Event()
    with caplog.at_level(logging.WARNING):
        for _ in range(TIMEOUT * 10):
            if "retried 3 times" in caplog.text:
                worker_done.set()
                break
            threading.Event().wait(0.1)
    assert worker_done.is_set()
    assert layer.receive(["tests.side-effect"]) == (None, None)
    assert layer.receive(["tests.later"]) == (None, None)


def test_requeued_message_counts_retries_and_the_last_one_is_doomed(make_layer):
    layer = make_layer([])
    worker = Worker(layer, message_retries=2, signal_handlers=False)
    seen = []

    def consumer(message, **kwargs):
        seen.append((message.get("__retries__", 0), getattr(message, "__doomed__", False)))
        from channels.exceptions import ConsumeLater

        raise ConsumeLater()

    layer.router.add_route(route("tests.retry", consumer))
    layer.send("tests.retry", {"n": 1})
    for _ in range(3):
        channel, content = layer.receive(["tests.retry"])
        worker.handle(channel, content)
    assert seen == [(0, False), (1, False), (2, True)]
    assert layer.receive(["tests.retry"]) == (None, None)


def test_message_without_a_route_is_logged(make_layer, run_worker, caplog):
    layer = make_layer([route("websocket.receive", consumers.echo, path="^/only/")])
    run_worker(layer)
    layer.send("websocket.receive", ws_receive(path="/other/"))
    layer.send("websocket.receive", ws_receive("routed", path="/only/"))
    assert wait_for(layer, "websocket.send!")["text"] == "routed"
    assert "Could not find match for message on websocket.receive" in caplog.text


def test_full_reply_channel_is_logged_and_the_worker_goes_on(
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
    layer.send("websocket.receive", ws_receive("still alive"))
    assert wait_for(layer, "websocket.send!")["text"] == "still alive"


def wait_for_log(caplog, text):
    for _ in range(TIMEOUT * 10):
        if text in caplog.text:
            return
        threading.Event().wait(0.1)
    raise AssertionError(f"{text!r} never logged")


def test_signals_bracket_every_consumer_and_close_old_connections(
    make_layer, real_connection_signals
):
    assert close_old_connections in [r() for _, r, *_ in consumer_started.receivers]
    assert close_old_connections in [r() for _, r, *_ in consumer_finished.receivers]
    events = []

    def started(**kwargs):
        events.append(("started", kwargs.get("environ")))

    def finished(**kwargs):
        events.append(("finished", None))

    def consumer(message, **kwargs):
        events.append(("consumer", None))
        raise RuntimeError("even when it fails")

    consumer_started.connect(started)
    consumer_finished.connect(finished)
    try:
        layer = make_layer([route("tests.sig", consumer)])
        # In a thread of its own, like a real worker: its own DB connection.
        worker = Worker(layer, signal_handlers=False)
        thread = threading.Thread(target=worker.handle, args=("tests.sig", {}))
        thread.start()
        thread.join(TIMEOUT)
    finally:
        consumer_started.disconnect(started)
        consumer_finished.disconnect(finished)
    assert events == [("started", {}), ("consumer", None), ("finished", None)]


def test_callback_sees_each_message_before_its_consumer(make_layer):
    calls = []
    layer = make_layer([route("tests.cb", lambda message: calls.append("consumer"))])
    worker = Worker(layer, callback=lambda c, m: calls.append(c), signal_handlers=False)
    worker.handle("tests.cb", {})
    assert calls == ["tests.cb", "consumer"]


def test_ready_sends_worker_ready(make_layer):
    seen = []

    def receiver(sender, **kwargs):
        seen.append(sender)

    worker_ready.connect(receiver)
    try:
        worker = Worker(make_layer([]), signal_handlers=False)
        worker.ready()
    finally:
        worker_ready.disconnect(receiver)
    assert seen == [worker]


def test_channel_filters_are_globs(make_layer):
    layer = make_layer(
        [
            route("http.request", consumers.record),
            route(["websocket.connect", "websocket.receive"], consumers.record),
            route("tests.other", consumers.record),
        ]
    )
    only = Worker(layer, only_channels=["websocket.*", "tests.other"], signal_handlers=False)
    assert only.listen_channels() == ["tests.other", "websocket.connect", "websocket.receive"]
    both = Worker(
        layer,
        only_channels=["websocket.*"],
        exclude_channels=["*.connect"],
        signal_handlers=False,
    )
    assert both.listen_channels() == ["websocket.receive"]


def test_excluded_channels_are_left_for_other_workers(make_layer, run_worker):
    layer = make_layer([route("tests.a", consumers.record), route("tests.b", consumers.record)])
    run_worker(layer, exclude_channels=["tests.b"])
    layer.send("tests.b", {"left": True})
    layer.send("tests.a", {})
    assert wait_for(layer, "tests.recorded")["channel"] == "tests.a"
    assert layer.receive(["tests.b"]) == ("tests.b", {"left": True})


def test_worker_with_nothing_to_listen_on_returns(make_layer, caplog):
    layer = make_layer([route("tests.a", consumers.record)])
    Worker(layer, only_channels=["nothing.*"], signal_handlers=False).run()
    assert "no channels to listen on" in caplog.text


def test_idle_worker_blocks_in_receive_instead_of_polling(make_layer):
    layer = make_layer([route("tests.idle", consumers.record)])
    calls = []
    real_receive = layer.channel_layer.receive

    def counting_receive(channels, block=False):
        calls.append(block)
        return real_receive(channels, block=block)

    layer.channel_layer.receive = counting_receive
    running = Running(Worker(layer, signal_handlers=False))
    threading.Event().wait(1.5)
    running.stop()
    # The in-memory layer wakes a blocked receive once a second to let the
    # loop see stop(); a polling loop would have made hundreds of calls.
    assert calls and all(calls) and len(calls) <= 4


def test_worker_group_runs_consumers_in_parallel_threads(make_layer, run_worker):
    consumers.BARRIER = threading.Barrier(3, timeout=TIMEOUT)
    layer = make_layer([route("websocket.receive", consumers.rendezvous)])
    group = run_worker(layer, cls=WorkerGroup, n_threads=3)
    assert len(group.workers) == 2
    for n in range(3):
        layer.send("websocket.receive", ws_receive(reply=f"websocket.send!{n}"))
    replies = [wait_for(layer, "websocket.send!") for _ in range(3)]
    assert replies == [{"text": "met"}] * 3


def test_worker_group_stop_waits_for_the_message_in_progress(make_layer):
    layer = make_layer([route("websocket.receive", consumers.slow)])
    group = WorkerGroup(layer, n_threads=2, signal_handlers=False)
    running = Running(group)
    content = ws_receive()
    content["seconds"] = 0.5
    consumers.SLOW_STARTED.clear()
    layer.send("websocket.receive", content)
    assert consumers.SLOW_STARTED.wait(TIMEOUT)
    running.stop()
    assert layer.receive(["websocket.send!"]) == ("websocket.send!a", {"text": "slow done"})


def test_connect_consumer_that_neither_accepts_nor_rejects_is_warned_about(make_layer, caplog):
    def forgetful(message, **kwargs):
        pass

    layer = make_layer(
        [
            route("websocket.connect", forgetful, path="^/forgot/"),
            route("websocket.connect", consumers.accept),
        ]
    )
    worker = Worker(layer, signal_handlers=False)
    worker.handle("websocket.connect", ws_connect(path="/ok/"))
    assert "returned without answering" not in caplog.text
    worker.handle("websocket.connect", ws_connect(path="/forgot/"))
    assert "returned without answering on websocket.send!a" in caplog.text


def test_malformed_message_is_dropped_and_the_worker_goes_on(make_layer, run_worker, caplog):
    layer = make_layer([route("websocket.receive", consumers.echo)])
    run_worker(layer)
    bad = ws_receive("bad")
    bad["reply_channel"] = 42
    layer.send("websocket.receive", bad)
    layer.send("websocket.receive", ws_receive("good"))
    assert wait_for(layer, "websocket.send!")["text"] == "good"
    assert "Dropping a malformed message on websocket.receive" in caplog.text


def test_requeue_into_a_channel_that_stays_full_is_logged(make_layer, caplog):
    from channels.exceptions import ConsumeLater

    def later(message, **kwargs):
        raise ConsumeLater()

    layer = make_layer([route("tests.full", later)], channel_capacity={"tests.full": 1})
    layer.send("tests.full", {"blocking": True})
    worker = Worker(layer, signal_handlers=False)
    worker.requeue_interval = 0.01
    worker.handle("tests.full", {"n": 1})
    assert "Could not requeue a message on tests.full: the channel stayed full" in caplog.text


def test_requeue_into_a_full_channel_pauses_through_the_injected_sleep(make_layer):
    from channels.exceptions import ConsumeLater

    def later(message, **kwargs):
        raise ConsumeLater()

    layer = make_layer([route("tests.full", later)], channel_capacity={"tests.full": 1})
    layer.send("tests.full", {"blocking": True})
    worker = Worker(layer, signal_handlers=False)
    pauses: list[float] = []
    worker.sleep = pauses.append
    worker.handle("tests.full", {"n": 1})
    # requeue_attempts sends, with a pause between two of them and none after the last.
    assert pauses == [worker.requeue_interval] * (worker.requeue_attempts - 1)
    assert layer.receive(["tests.full"]) == ("tests.full", {"blocking": True})
    assert layer.receive(["tests.full"]) == (None, None)


def test_a_layer_whose_receive_does_not_block_is_polled_with_the_injected_pause():
    class NonBlockingLayer:
        """Returns at once from a blocking receive, as a layer without blocking does."""

        router = type("Router", (), {"channels": {"tests.idle"}})()

        def receive(self, channels, block=False):
            return None, None

    worker = Worker(NonBlockingLayer(), signal_handlers=False)
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 3:
            worker.stop()

    worker.sleep = sleep
    worker.run()
    assert pauses == [worker.idle_pause] * 3


def test_failing_callback_and_failing_socket_exception_are_logged(make_layer, caplog):
    from channels.exceptions import ChannelSocketException

    class Broken(ChannelSocketException):
        def run(self, message):
            raise RuntimeError("run broke")

    def consumer(message, **kwargs):
        raise Broken()

    def callback(channel, message):
        raise RuntimeError("callback broke")

    layer = make_layer([route("tests.broken", consumer)])
    Worker(layer, callback=callback, signal_handlers=False).handle("tests.broken", {})
    assert "Worker callback failed for a message on tests.broken" in caplog.text
    assert "Broken.run() failed on tests.broken" in caplog.text
