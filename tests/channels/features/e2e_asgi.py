"""``daphne tests.channels.features.e2e_asgi:channel_layer``."""

import os

from channels.asgi import get_channel_layer

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.channels.features.e2e_settings")

channel_layer = get_channel_layer()
