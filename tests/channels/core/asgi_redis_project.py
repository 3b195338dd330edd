"""The ``asgi.py`` of the Redis test project: ``daphne tests.channels.core.asgi_redis_project:channel_layer``."""

import os

from channels.asgi import get_channel_layer

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.channels.core.settings_redis")

channel_layer = get_channel_layer()
