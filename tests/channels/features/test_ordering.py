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

from asgi import www
from asgi.inmemory import ChannelLayer as InMemoryChannelLayer
from channels import _ordering
from channels._session_store import ORDER_KEY, channel_session_key, open_session, save_session
from channels.message import Message
from channels.routing import route
from channels.sessions import enforce_ordering, requeue_messages, wait_channel_name
from channels.signals import consumer_finished, consumer_started
from channels.worker import Worker

from .conftest import Socket

pytestmark = [pytest.mark.unit, pytest.mark.django_db]

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


def test_requeue_messages_sends_back_the_parked_message_the_counter_now_expects(harness):
    recorder = Recorder()
    harness.route(recorder.routes())
    sock = Socket(harness)
    sock.connect()
    out_of_order(harness, sock, [2, 3])
    harness.run_all()
    assert recorder.seen == [0]  # 2 and 3 wait for 1
    message = Message({"reply_channel": sock.reply_channel}, "websocket.receive", harness.layer)
    requeue_messages(message)  # the counter says 1: nothing parked for it, nothing moves
    assert harness.run_all() == 0
    # the counter moves past the missing message (as a give-up elsewhere would)
    store, _found = open_session(channel_session_key(sock.reply_channel))
    store[ORDER_KEY] = 2
    save_session(store)
    requeue_messages(message)
    harness.run_all()
    assert recorder.seen == [0, 2, 3]


# -- the waiting clock, the give-up, and what is logged


def messages_logged(caplog, level=logging.WARNING):
    return [r.getMessage() for r in caplog.records if r.levelno >= level]


@override_settings(CHANNELS_ORDERING_MAX_WAIT=0.5)
def test_the_wait_for_a_missing_message_counts_from_when_its_predecessor_finished(harness, caplog):
    recorder = Recorder()
    harness.route(recorder.routes())
    sock = Socket(harness)
    sock.connect()
    harness.run_all()
    time.sleep(0.6)  # 1 has been missing since 0 finished, longer than the limit
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="channels.sessions"):
        out_of_order(harness, sock, [2])
        harness.run_all()
    assert recorder.seen == [0, 2]
    assert time.monotonic() - started < 0.9  # the give-up never blocks on a wait channel
    assert messages_logged(caplog) == [
        f"Gave up waiting for messages 1 to 1 of {sock.reply_channel} after 0.5 s; going on from 2"
    ]


@override_settings(CHANNELS_ORDERING_MAX_WAIT=0.5)
def test_frames_arriving_often_do_not_restart_the_wait_for_a_missing_one(harness):
    recorder = Recorder()
    harness.route(recorder.routes())
    sock = Socket(harness)
    sock.connect()
    harness.run_all()
    out_of_order(harness, sock, [2])
    harness.run_all()
    time.sleep(0.3)
    out_of_order(harness, sock, [3])
    harness.run_all()
    assert recorder.seen == [0]
    time.sleep(0.3)  # each gap is under the limit, the wait for 1 is over it
    out_of_order(harness, sock, [4])
    harness.run_all()
    assert recorder.seen == [0, 2, 3, 4]


@override_settings(CHANNELS_ORDERING_MAX_WAIT=0.5)
def test_frames_of_a_connection_whose_connect_never_came_are_given_up_on_too(harness):
    recorder = Recorder()
    harness.route(recorder.routes())
    sock = Socket(harness)
    out_of_order(harness, sock, [2])
    harness.run_all()
    time.sleep(0.6)
    out_of_order(harness, sock, [3])
    harness.run_all()
    assert recorder.seen == [2, 3]


@override_settings(CHANNELS_ORDERING_MAX_WAIT=0.5)
def test_a_give_up_finds_the_parking_message_itself_when_it_is_the_lowest(harness):
    recorder = Recorder()
    harness.route(recorder.routes())
    sock = Socket(harness)
    sock.connect()
    harness.run_all()
    out_of_order(harness, sock, [3])
    harness.run_all()
    time.sleep(0.6)
    out_of_order(harness, sock, [2])  # 1 is still missing; 2 parks, then is released
    harness.run_all()
    assert recorder.seen == [0, 2, 3]


def test_a_late_message_runs_at_once_and_says_so(harness, caplog):
    recorder = Recorder()
    harness.route(recorder.routes())
    sock = Socket(harness)
    sock.connect()
    out_of_order(harness, sock, [1, 2])
    harness.run_all()
    with caplog.at_level(logging.WARNING, logger="channels.sessions"):
        out_of_order(harness, sock, [1])
        harness.run_all()
    assert recorder.seen == [0, 1, 2, 1]
    assert messages_logged(caplog) == [
        f"Message order 1 of {sock.reply_channel} arrived after the connection moved on "
        "to 3; running it now"
    ]


def test_a_parked_message_is_logged_at_debug(harness, caplog):
    recorder = Recorder()
    harness.route(recorder.routes())
    sock = Socket(harness)
    sock.connect()
    harness.run_all()
    with caplog.at_level(logging.DEBUG, logger="channels.sessions"):
        out_of_order(harness, sock, [2])
        harness.run_all()
    assert f"Parked message order 2 of {sock.reply_channel} until 1 is done" in (
        messages_logged(caplog, logging.DEBUG)
    )


def test_ordered_consumers_get_the_route_kwargs(harness):
    seen = []

    @enforce_ordering
    def consumer(message, room=None):
        seen.append((message["order"], room))

    harness.route(
        [
            route("websocket.connect", consumer, path=r"^/(?P<room>\w+)/$"),
            route("websocket.receive", consumer, path=r"^/(?P<room>\w+)/$"),
        ]
    )
    sock = Socket(harness, path="/lobby/")
    sock.connect()
    out_of_order(harness, sock, [1])
    harness.run_all()
    out_of_order(harness, sock, [1])  # late: runs at once
    harness.run_all()
    assert seen == [(0, "lobby"), (1, "lobby"), (1, "lobby")]


def test_a_message_parked_just_as_its_predecessor_finished_releases_itself(harness):
    recorder = Recorder()
    harness.route(recorder.routes())
    sock = Socket(harness)
    sock.connect()
    harness.run_all()
    key = channel_session_key(sock.reply_channel)
    stale, _found = open_session(key)  # this worker read the counter: 1
    fresh, _found = open_session(key)
    fresh[ORDER_KEY] = 2  # ...then 1 finished on another worker
    save_session(fresh)
    content = www.websocket_receive(reply_channel=sock.reply_channel, path="/", order=2, text="2")
    message = Message(content, "websocket.receive", harness.layer)
    message.channel_session = stale

    def consumer(message):
        recorder.seen.append(message["order"])

    _ordering.run_in_order(consumer, message, (message,), {})
    assert recorder.seen == [0]  # 2 is parked...
    harness.run_all()
    assert recorder.seen == [0, 2]  # ...and released by itself, not left for a give-up


# -- the layer helpers, on a real in-memory layer of capacity 1


def test_the_default_ordering_limits():
    assert _ordering._max_wait() == _ordering.DEFAULT_ORDERING_MAX_WAIT == 10.0
    assert _ordering._fresh_next_order(channel_session_key("websocket.send.never")) == 0


def test_release_says_whether_a_parked_message_was_sent_back():
    layer = InMemoryChannelLayer(capacity=1)
    assert _ordering._release(layer, "websocket.send.r", 4) is False
    content = {"reply_channel": "websocket.send.r", "order": 4, "original_channel": "chat.in"}
    assert _ordering._park(layer, "websocket.send.r", content) is True
    assert _ordering._release(layer, "websocket.send.r", 4) is True
    assert layer.receive(["chat.in"]) == (
        "chat.in",
        {"reply_channel": "websocket.send.r", "order": 4},
    )


def test_a_message_whose_wait_channel_is_full_is_dropped_and_logged(caplog):
    layer = InMemoryChannelLayer(capacity=1)
    content = {"reply_channel": "websocket.send.p", "order": 5}
    assert _ordering._park(layer, "websocket.send.p", content) is True
    with caplog.at_level(logging.ERROR, logger="channels.sessions"):
        assert _ordering._park(layer, "websocket.send.p", dict(content)) is False
    assert messages_logged(caplog) == [
        "Dropped message order 5 of websocket.send.p: its wait channel is full"
    ]


def test_a_released_message_waits_for_room_on_its_channel():
    layer = InMemoryChannelLayer(capacity=1)
    layer.send("chat.in", {"first": True})
    timer = threading.Timer(0.3, layer.receive, args=(["chat.in"],))
    timer.start()
    started = time.monotonic()
    _ordering._send_back(layer, {"order": 3, "original_channel": "chat.in"})
    timer.join()
    assert time.monotonic() - started < 1.5
    assert layer.receive(["chat.in"]) == ("chat.in", {"order": 3})


def test_a_released_message_whose_channel_stays_full_for_two_seconds_is_dropped(caplog):
    layer = InMemoryChannelLayer(capacity=1)
    layer.send("chat.in", {"first": True})
    started = time.monotonic()
    content = {"order": 3, "reply_channel": "websocket.send.f", "original_channel": "chat.in"}
    with caplog.at_level(logging.ERROR, logger="channels.sessions"):
        _ordering._send_back(layer, content)
    assert 2.0 <= time.monotonic() - started < 2.5
    assert messages_logged(caplog) == [
        "Dropped message order 3 of websocket.send.f: channel chat.in stayed full"
    ]
    assert content["original_channel"] == "chat.in"  # the caller's dict is left alone
