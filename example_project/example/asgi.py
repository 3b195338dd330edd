"""The channel layer daphne serves: ``daphne example.asgi:channel_layer``."""

import os

from channels.asgi import get_channel_layer

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example.settings")
channel_layer = get_channel_layer()
