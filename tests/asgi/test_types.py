"""The ChannelLayer protocol: our layers and the Django wrapper have its members."""

import pytest

from asgi.inmemory import ChannelLayer as InMemoryChannelLayer
from asgi.types import ChannelLayer, LeasingLayer
from asgi_redis import RedisChannelLayer
from channels.asgi import ChannelLayerWrapper

pytestmark = pytest.mark.unit


def test_the_in_memory_layer_is_a_channel_layer_without_leases():
    layer = InMemoryChannelLayer()
    assert isinstance(layer, ChannelLayer)
    assert not isinstance(layer, LeasingLayer)


def test_the_redis_layer_is_a_leasing_channel_layer():
    # Building the layer does not connect, so no server is needed here.
    layer = RedisChannelLayer(hosts=["redis://127.0.0.1:1"])
    assert isinstance(layer, ChannelLayer)
    assert isinstance(layer, LeasingLayer)


def test_the_django_wrapper_passes_for_the_layer_it_wraps():
    wrapper = ChannelLayerWrapper(InMemoryChannelLayer(), "default", [])
    assert isinstance(wrapper, ChannelLayer)


def test_an_object_without_receive_is_not_a_channel_layer():
    class SendOnly:
        extensions: list[str] = []
        ChannelFull = MessageTooLarge = Exception

        def send(self, channel, message):
            pass

        def new_channel(self, pattern):
            return pattern

    assert not isinstance(SendOnly(), ChannelLayer)
