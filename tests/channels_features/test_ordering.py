"""``enforce_ordering``: strict order without spin loops or stuck messages.

See docs/topics/sessions.rst, "Strict ordering".
"""

from __future__ import annotations

import logging
import random
import threading
import time

import pytest
from django.core.cache import cache
from django.db import close_old_connections
from django.test import override_settings

from channels.message import Message
from channels.routing import route
from channels.sessions import enforce_ordering, wait_channel_name
from channels.signals import consumer_finished, consumer_started
from channels.worker import Worker

from .conftest import Socket

pytestmark = pytest.mark.django_db

CACHE_SESSIONS = {
    "CHANNEL_SESSION_ENGINE": "django.contrib.sessions.backends.cache",
    "CACHES": {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
}


class Recorder:
    """Ordered consumers that note each order they ran and reply with it."""

    def __init__(self):
        self.seen = []
        self.lock = threading.Lock()

        @enforce_ordering
        def consumer(message):
            with self.lock:
                self.seen.append(message["order"])
            message.reply_channel.send({"text": str(message["order"])})

        self.consumer = consumer

    def routes(self):
        return [
            route("websocket.connect", self.consumer),
            route("websocket.receive", self.consumer),
            route("websocket.disconnect", self.consumer),
        ]


def out_of_order(harness, sock, orders):
    """Send receive frames with the given orders, in that sequence."""
    for order in orders:
        sock.order = order
        sock.receive(f"frame {order}")


def test_out_of_order_frames_run_in_order(harness):
    recorder = Recorder()
    harness.route(recorder.routes())
    sock = Socket(harness)
    sock.connect()
    out_of_order(harness, sock, [3, 1, 2])
    harness.run_all()
    assert recorder.seen == [0, 1, 2, 3]


def test_replies_leave_in_the_order_of_the_frames(harness):
    recorder = Recorder()
    harness.route(recorder.routes())
    sock = Socket(harness)
    out_of_order(harness, sock, [2, 1])
    sock.connect()
    harness.run_all()
    assert [r["text"] for r in sock.replies()] == ["0", "1", "2"]


def test_each_parked_frame_is_handled_once_more_at_most(harness):
    recorder = Recorder()
    harness.route(recorder.routes())
    sock = Socket(harness)
    out_of_order(harness, sock, list(range(20, 0, -1)))
    sock.connect()
    handled = harness.run_all()
    assert recorder.seen == list(range(21))
    # 21 deliveries plus one re-delivery per parked frame: no busy re-queueing.
    assert handled <= 21 + 20


def test_frames_after_a_missing_one_wait_parked_without_spinning(harness):
    recorder = Recorder()
    harness.route(recorder.routes())
    sock = Socket(harness)
    sock.connect()
    out_of_order(harness, sock, [2, 3])
    assert harness.run_all() == 3
    assert recorder.seen == [0]
    prefix = wait_channel_name(sock.reply_channel)
    for order in (2, 3):
        _channel, parked = harness.layer.receive([f"{prefix}.{order}"], block=False)
        assert parked["order"] == order


@override_settings(CHANNELS_ORDERING_MAX_WAIT=0.05)
def test_a_missing_frame_is_given_up_on_after_the_bounded_wait(harness, caplog):
    recorder = Recorder()
    harness.route(recorder.routes())
    sock = Socket(harness)
    sock.connect()
    out_of_order(harness, sock, [2, 3])
    harness.run_all()
    assert recorder.seen == [0]
    time.sleep(0.2)
    with caplog.at_level(logging.WARNING, logger="channels.sessions"):
        out_of_order(harness, sock, [4])
        harness.run_all()
        assert recorder.seen == [0, 2, 3, 4]
        assert "Gave up waiting for messages 1 to 1" in caplog.text
        out_of_order(harness, sock, [1])
        harness.run_all()
    assert recorder.seen == [0, 2, 3, 4, 1]
    assert "arrived after the connection moved on" in caplog.text


def test_process_specific_reply_channels_park_on_a_single_reader_wait_channel(harness):
    assert wait_channel_name("websocket.send!abc") == "__wait__.websocket.send?abc"
    recorder = Recorder()
    harness.route(recorder.routes())
    sock = Socket(harness)
    sock.reply_channel = "websocket.send!conn1"
    out_of_order(harness, sock, [1])
    sock.connect()
    harness.run_all()
    assert recorder.seen == [0, 1]


def test_a_failing_consumer_does_not_block_its_successors(harness):
    seen = []

    @enforce_ordering
    def consumer(message):
        seen.append(message["order"])
        if message["order"] == 1:
            raise RuntimeError("boom")

    harness.route([route("websocket.connect", consumer), route("websocket.receive", consumer)])
    sock = Socket(harness)
    out_of_order(harness, sock, [2, 1])
    sock.connect()
    harness.run_all()
    assert seen == [0, 1, 2]


def test_slight_ordering_is_a_clear_value_error():
    with pytest.raises(ValueError, match="Slight ordering is no longer supported"):
        enforce_ordering(slight=True)
    with pytest.raises(ValueError, match="Slight ordering"):
        enforce_ordering(lambda message: None, slight=True)


def test_message_without_order_is_a_value_error(harness):
    recorder = Recorder()
    message = Message({"reply_channel": "websocket.send.x"}, "chat.message", harness.layer)
    with pytest.raises(ValueError, match="'order'"):
        recorder.consumer(message)


def test_enforce_ordering_works_as_a_decorator_factory_and_on_methods(harness):
    class Consumer:
        def __init__(self):
            self.seen = []

        @enforce_ordering()
        def handle(self, message):
            self.seen.append(message["order"])

    consumer = Consumer()
    harness.route(
        [route("websocket.connect", consumer.handle), route("websocket.receive", consumer.handle)]
    )
    sock = Socket(harness)
    out_of_order(harness, sock, [2, 1])
    sock.connect()
    harness.run_all()
    assert consumer.seen == [0, 1, 2]


@override_settings(**CACHE_SESSIONS)
def test_two_worker_threads_run_shuffled_frames_of_many_connections_in_order(harness):
    cache.clear()
    recorders = {}

    @enforce_ordering
    def consumer(message):
        recorders.setdefault(message.reply_channel.name, []).append(message["order"])

    harness.route([route("websocket.connect", consumer), route("websocket.receive", consumer)])
    sockets = [Socket(harness) for _ in range(4)]
    messages = []
    for sock in sockets:
        messages.append(("websocket.connect", sock.connect_message()))
        sock.order = 1
        messages.extend(("websocket.receive", sock.receive_message(str(i))) for i in range(15))
    random.Random(7).shuffle(messages)
    for channel, content in messages:
        harness.send(channel, content)

    expected_total = len(messages)
    stop = threading.Event()

    def work():
        worker = Worker(harness.layer, signal_handlers=False)
        channels = worker.listen_channels()
        while not stop.is_set():
            channel, content = harness.layer.receive(channels, block=True)
            if channel is not None:
                worker.handle(channel, content)

    uid = "channels.close_old_connections"
    consumer_started.disconnect(dispatch_uid=uid)
    consumer_finished.disconnect(dispatch_uid=uid)
    threads = [threading.Thread(target=work, daemon=True) for _ in range(2)]
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while sum(map(len, recorders.values())) < expected_total:
            assert time.monotonic() < deadline, f"stuck: {recorders}"
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)
        consumer_started.connect(close_old_connections, dispatch_uid=uid)
        consumer_finished.connect(close_old_connections, dispatch_uid=uid)
    for sock in sockets:
        assert recorders[sock.reply_channel] == list(range(16))
