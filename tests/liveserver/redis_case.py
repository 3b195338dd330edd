"""The live-server test case of these tests: real daphne and worker processes on
the session's Redis (``LIVESERVER_REDIS_URL``), with a routing and key prefix of
the subclass's choosing."""

import os

from django.test import override_settings

from channels.test.liveserver import ChannelLiveServerTestCase


def redis_layers(
    routing: str = "tests.liveserver.routing.channel_routing", prefix: str = "liveserver:"
) -> dict:
    url = os.environ["LIVESERVER_REDIS_URL"]
    return {
        "default": {
            "BACKEND": "asgi_redis.RedisChannelLayer",
            "CONFIG": {"hosts": [url]},
            "TEST_CONFIG": {"hosts": [url], "prefix": prefix},
            "ROUTING": routing,
        }
    }


class RedisLiveServerTestCase(ChannelLiveServerTestCase):
    """Applies the Redis layer settings (``routing``, ``prefix``) before the servers start."""

    routing = "tests.liveserver.routing.channel_routing"
    prefix = "liveserver:"

    @classmethod
    def setUpClass(cls):
        cls._layers = override_settings(
            CHANNEL_LAYERS=redis_layers(cls.routing, cls.prefix),
            ROOT_URLCONF="tests.liveserver.urls",
        )
        cls._layers.enable()
        try:
            super().setUpClass()
        except BaseException:
            cls._layers.disable()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls._layers.disable()
