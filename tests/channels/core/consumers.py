"""Consumers the channels core tests route to (importable by dotted path)."""

import threading

from channels import Channel, Group
from channels.exceptions import ConsumeLater, DenyConnection, WebsocketCloseException


def echo(message, **kwargs):
    message.reply_channel.send({"text": message["text"], "kwargs": kwargs})


def accept(message, **kwargs):
    message.reply_channel.send({"accept": True})


def deny(message, **kwargs):
    raise DenyConnection()


def close_4001(message, **kwargs):
    raise WebsocketCloseException(4001)


def send_then_fail(message, **kwargs):
    message.reply_channel.send({"text": "never"})
    raise RuntimeError("consumer bug")


def consume_later(message, **kwargs):
    Channel("tests.side-effect").send({"attempt": message.get("__retries__", 0)})
    raise ConsumeLater()


def group_join(message, **kwargs):
    Group("tests-group").add(message.reply_channel)
    message.reply_channel.send({"accept": True})


def record(message, **kwargs):
    Channel("tests.recorded").send({"channel": message.channel.name, "kwargs": kwargs})


class RecordingClassConsumer:
    """A minimal class-based consumer for route_class."""

    @classmethod
    def channel_names(cls):
        return {"tests.class-a", "tests.class-b"}

    def __init__(self, message, **kwargs):
        Channel("tests.recorded").send({"channel": message.channel.name, "kwargs": kwargs})


routing = [
    {"tests.dict": record},
]
dict_routing = {"tests.dict": "tests.channels.core.consumers.record"}


def full_reply(message, **kwargs):
    # The reply channel is full (capacity 1 and a message already waits).
    message.reply_channel.send({"text": "one"})
    message.reply_channel.send({"text": "two"})


def deny_on_receive(message, **kwargs):
    raise DenyConnection()


def rendezvous(message, **kwargs):
    BARRIER.wait()
    message.reply_channel.send({"text": "met"})


def slow(message, **kwargs):
    import time

    SLOW_STARTED.set()
    time.sleep(float(message.get("seconds", 1)))
    message.reply_channel.send({"text": "slow done"})


BARRIER = None
SLOW_STARTED = threading.Event()


def slow_who(message, **kwargs):
    """Takes 50 ms, then says which worker thread ran it."""
    import time

    time.sleep(0.05)
    message.reply_channel.send({"text": threading.current_thread().name})


#: Set by a test: ``gated`` waits for it on "hold", calls ``STOP`` on "stop".
GATE = None
STOP = None


def gated(message, **kwargs):
    if message["text"] == "hold":
        GATE.wait(10)
    elif message["text"] == "stop":
        STOP()
    message.reply_channel.send({"text": message["text"]})


def three_in_order(message, **kwargs):
    """Three replies to one channel, with a group send between them."""
    for n in range(3):
        message.reply_channel.send({"text": f"{message['text']}-{n}"})
        if n == 1:
            Group("three-in-order").send({"text": "group"})


def five_in_order(message, **kwargs):
    for n in range(5):
        message.reply_channel.send({"text": f"{message['text']}-{n}"})
