"""Settings for ``runserver`` subprocesses: in-memory layer, test routing."""

from tests.settings import *  # noqa: F403

DEBUG = True
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "asgi.inmemory.ChannelLayer",
        "ROUTING": "tests.channels.core.routing.channel_routing",
    }
}
