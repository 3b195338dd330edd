"""Bad calls to the Redis layer raise named exceptions whose messages say what was wrong."""

from __future__ import annotations

import uuid

import pytest

from asgi.exceptions import InvalidChannelName, InvalidMessage, MessageTooLarge
from asgi_redis import RedisChannelLayer

pytestmark = pytest.mark.integration


@pytest.fixture
def layer(redis_url):
    layer = RedisChannelLayer(hosts=[redis_url], prefix=f"le{uuid.uuid4().hex[:8]}:")
    yield layer
    layer.flush()


@pytest.mark.parametrize(
    "name", ["", "has space", "a" * 200, "bad/char", "ünïcode", 42, b"bytes.name"]
)
def test_an_invalid_channel_name_raises_invalid_channel_name_naming_it(layer, name):
    with pytest.raises((InvalidChannelName, TypeError)) as raised:
        layer.send(name, {"text": "x"})
    assert str(raised.value)
    assert isinstance(raised.value, TypeError)


@pytest.mark.parametrize("message", [None, "text", ["list"], b"bytes", 42])
def test_a_message_that_is_not_a_dict_raises_invalid_message(layer, message):
    with pytest.raises(InvalidMessage) as raised:
        layer.send("test.channel", message)
    assert "dict" in str(raised.value)


@pytest.mark.parametrize(
    "value", [object(), {1, 2}, 1.5j, {"nested": object()}, [b"ok", object()], 2**70]
)
def test_an_unserializable_value_raises_invalid_message_naming_the_type(layer, value):
    with pytest.raises(InvalidMessage) as raised:
        layer.send("test.channel", {"value": value})
    assert str(raised.value)


def test_an_oversized_message_raises_message_too_large_with_the_sizes(layer):
    with pytest.raises(MessageTooLarge) as raised:
        layer.send("test.channel", {"bytes": b"x" * (layer.max_message_size + 1)})
    assert str(layer.max_message_size) in str(raised.value) or "large" in str(raised.value)
    # nothing was queued
    assert layer.receive(["test.channel"], block=False) == (None, None)


def test_an_invalid_group_name_raises_invalid_channel_name(layer):
    with pytest.raises(InvalidChannelName):
        layer.group_add("bad group", "test.channel")
    with pytest.raises(InvalidChannelName):
        layer.send_group("bad group", {"text": "x"})
