"""``daphne tests.reliability.project.asgi:channel_layer``."""

import os

from channels.asgi import get_channel_layer

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.reliability.project.settings")

channel_layer = get_channel_layer()
