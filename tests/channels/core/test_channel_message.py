"""Channel, Group, Message and consumer atomicity.

See docs/reference/channels.rst.
"""

import pytest

from asgi.inmemory import ChannelLayer
from channels import Channel, Group
from channels.asgi import ChannelLayerWrapper, channel_layers
from channels.message import Message, PendingMessageStore, pending_message_store
from channels.signals import consumer_finished, consumer_started

pytestmark = pytest.mark.unit


@pytest.fixture
def layer():
    wrapper = ChannelLayerWrapper(ChannelLayer(), "default", [])
    old = channel_layers.set("default", wrapper)
    yield wrapper
    channel_layers.set("default", old)


@pytest.fixture
def in_consumer():
    consumer_started.send(sender=None, environ={})
    yield
    if pending_message_store.active:
        pending_message_store.discard()


def test_channel_send_outside_a_consumer_goes_out_at_once(layer):
    Channel("tests.out").send({"n": 1})
    assert layer.receive(["tests.out"]) == ("tests.out", {"n": 1})


def test_channel_uses_the_named_alias_or_the_given_layer(layer):
    other = ChannelLayer()
    assert Channel("x").channel_layer is layer
    assert Channel("x", channel_layer=other).channel_layer is other


def test_channel_name_bytes_are_decoded_and_str_gives_the_name(layer):
    channel = Channel(b"tests.bytes")
    assert channel.name == "tests.bytes" and str(channel) == "tests.bytes"


def test_channel_name_of_another_type_is_a_type_error(layer):
    with pytest.raises(TypeError, match="Channel name must be a str"):
        Channel(42)


def test_channel_send_of_a_non_dict_is_a_type_error(layer):
    with pytest.raises(TypeError, match="only send dicts"):
        Channel("tests.x").send(["not", "a", "dict"])


def test_group_send_of_a_non_dict_is_a_value_error(layer):
    with pytest.raises(ValueError, match="only send dicts"):
        Group("g").send("text")


def test_group_add_send_and_discard_accept_channels_and_names(layer):
    group = Group("tests-g")
    group.add(Channel("tests.a!1"))
    group.add("tests.b!2")
    group.send({"hello": "all"})
    assert layer.receive(["tests.a!"]) == ("tests.a!1", {"hello": "all"})
    assert layer.receive(["tests.b!"]) == ("tests.b!2", {"hello": "all"})
    group.discard("tests.a!1")
    group.discard(Channel("tests.b!2"))
    assert group.channels() == []


def test_sends_inside_a_consumer_wait_for_its_end(layer, in_consumer):
    Channel("tests.later").send({"n": 1})
    Group("tests-g").add("tests.member!x")
    Group("tests-g").send({"n": 2})
    assert layer.receive(["tests.later"]) == (None, None)
    assert layer.receive(["tests.member!"]) == (None, None)
    consumer_finished.send(sender=None)
    assert layer.receive(["tests.later"]) == ("tests.later", {"n": 1})
    assert layer.receive(["tests.member!"]) == ("tests.member!x", {"n": 2})


def test_immediately_sends_inside_a_consumer_at_once(layer, in_consumer):
    Channel("tests.now").send({"n": 1}, immediately=True)
    assert layer.receive(["tests.now"]) == ("tests.now", {"n": 1})


def test_pending_sends_go_out_in_order(layer, in_consumer):
    for n in range(5):
        Channel("tests.order").send({"n": n})
    consumer_finished.send(sender=None)
    assert [layer.receive(["tests.order"])[1]["n"] for _ in range(5)] == [0, 1, 2, 3, 4]


def test_store_is_active_only_inside_a_consumer(layer):
    assert not pending_message_store.active
    consumer_started.send(sender=None, environ={})
    assert pending_message_store.active
    consumer_finished.send(sender=None)
    assert not pending_message_store.active


def test_discard_drops_pending_sends(layer, in_consumer):
    Channel("tests.dropped").send({"n": 1})
    assert pending_message_store.discard() == 1
    consumer_finished.send(sender=None)
    assert layer.receive(["tests.dropped"]) == (None, None)


def test_append_outside_a_consumer_is_an_error():
    with pytest.raises(RuntimeError, match="outside a consumer"):
        PendingMessageStore().append(None, {})


def test_flush_into_a_full_channel_retries_then_names_the_channel():
    layer = ChannelLayerWrapper(ChannelLayer(capacity=1), "tests", [])
    store = PendingMessageStore()
    store.retry_time, store.retry_interval = 0.2, 0.05
    store.prepare()
    store.append(Channel("tests.full", channel_layer=layer), {"n": 1})
    store.append(Channel("tests.full", channel_layer=layer), {"n": 2})
    with pytest.raises(RuntimeError, match="tests.full"):
        store.send_and_flush()
    assert not store.active
    assert layer.receive(["tests.full"]) == ("tests.full", {"n": 1})


def test_flush_succeeds_once_a_full_channel_drains():
    import threading

    layer = ChannelLayerWrapper(ChannelLayer(capacity=1), "tests", [])
    layer.send("tests.busy", {"n": 0})
    store = PendingMessageStore()
    store.retry_time, store.retry_interval = 30, 0.05
    store.prepare()
    store.append(Channel("tests.busy", channel_layer=layer), {"n": 1})
    drain = threading.Timer(0.2, lambda: layer.receive(["tests.busy"]))
    drain.start()
    store.send_and_flush()
    drain.join()
    assert layer.receive(["tests.busy"]) == ("tests.busy", {"n": 1})


def test_message_is_dict_like_with_channel_and_reply_channel(layer):
    message = Message({"reply_channel": "tests.reply!1", "text": "hi"}, "tests.in", layer)
    assert message["text"] == "hi" and "text" in message and message.get("nope", 3) == 3
    message["extra"] = 1
    assert set(message.keys()) == {"reply_channel", "text", "extra"}
    assert dict(message.items())["extra"] == 1 and 1 in message.values()
    assert message.channel.name == "tests.in" and message.channel_layer is layer
    assert message.reply_channel.name == "tests.reply!1"


@pytest.mark.parametrize("content", [{}, {"reply_channel": None}, {"reply_channel": ""}])
def test_message_without_reply_channel_has_none(layer, content):
    assert Message(content, "tests.in", layer).reply_channel is None


def test_message_copy_is_deep(layer):
    message = Message({"nested": {"a": [1]}}, "tests.in", layer)
    clone = message.copy()
    clone["nested"]["a"].append(2)
    assert message["nested"] == {"a": [1]}
    assert clone.channel.name == "tests.in"


def test_reply_channel_send_reaches_the_layer(layer):
    message = Message({"reply_channel": "tests.reply!abc"}, "tests.in", layer)
    message.reply_channel.send({"ok": True})
    assert layer.receive(["tests.reply!"]) == ("tests.reply!abc", {"ok": True})


def test_group_name_of_another_type_is_a_type_error(layer):
    with pytest.raises(TypeError, match="Group name must be a str"):
        Group(["g"])


def test_group_add_of_a_non_channel_is_a_type_error(layer):
    with pytest.raises(TypeError, match="Channel name must be a str"):
        Group("g").add(42)
