"""Settings for ``runworker`` and daphne subprocesses on Redis (TEST_REDIS_URL)."""

import os

from tests.settings import *  # noqa: F403

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "asgi_redis.RedisChannelLayer",
        "CONFIG": {"hosts": [os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")]},
        "ROUTING": "tests.channels.core.routing.channel_routing",
    }
}
