"""In-memory layer behaviour beyond the conformance suite."""

import threading
import time

import pytest

from asgi.inmemory import ChannelLayer

pytestmark = pytest.mark.unit


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_a_member_whose_message_expires_unread_leaves_its_groups():
    clock = FakeClock()
    layer = ChannelLayer(expiry=10, clock=clock)
    layer.group_add("room", "alive")
    layer.group_add("room", "dead")
    layer.send("dead", {"n": 1})
    clock.now += 11
    layer.send("alive", {"n": 2})
    assert layer.receive(["dead"]) == (None, None)
    assert set(layer.group_channels("room")) == {"alive"}


def test_group_members_expire_after_group_expiry_since_last_add():
    clock = FakeClock()
    layer = ChannelLayer(group_expiry=100, clock=clock)
    layer.group_add("room", "a")
    clock.now += 60
    layer.group_add("room", "a")  # re-adding refreshes membership
    layer.group_add("room", "b")
    clock.now += 50
    assert set(layer.group_channels("room")) == {"a", "b"}
    clock.now += 60
    assert layer.group_channels("room") == []


def test_channel_capacity_is_honoured():
    layer = ChannelLayer(capacity=10, channel_capacity={"small": 1})
    layer.send("small", {})
    try:
        layer.send("small", {})
    except layer.ChannelFull:
        pass
    else:
        raise AssertionError("the second send to a capacity-1 channel should be refused")


def test_idle_blocking_receive_sleeps_instead_of_spinning():
    layer = ChannelLayer()
    layer.blocking_timeout = 0.5
    started_cpu = time.thread_time()
    thread_cpu = {}

    def receive():
        begin = time.thread_time()
        layer.receive(["nothing"], block=True)
        thread_cpu["used"] = time.thread_time() - begin

    thread = threading.Thread(target=receive)
    thread.start()
    thread.join(5)
    assert started_cpu >= 0
    # A polling loop would burn most of the half second; a wait burns ~nothing.
    assert thread_cpu["used"] < 0.05


def test_new_channel_names_are_unique_and_valid():
    layer = ChannelLayer()
    names = {layer.new_channel("http.request.body?") for _ in range(100)}
    assert len(names) == 100
    assert all(layer.valid_channel_name(n) for n in names)
