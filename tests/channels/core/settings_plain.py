"""Settings of a plain Django project: no CHANNEL_LAYERS at all."""

from tests.settings import *  # noqa: F403

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
del CHANNEL_LAYERS  # noqa: F821
