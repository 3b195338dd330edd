"""Settings of the end-to-end project: Redis layer (TEST_REDIS_URL), a SQLite file
(FEATURES_DB) shared by the worker, the delay server and the test."""

import os

import django

from tests.settings import *  # noqa: F403

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "tests.channels.features.e2e_urls"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("FEATURES_DB", "/tmp/channels-features-e2e.sqlite3"),
        "OPTIONS": {"timeout": 30},
    }
}
if django.VERSION >= (5, 1):
    # IMMEDIATE: a session merge takes the write lock when it starts, so two
    # worker threads saving one session queue instead of deadlocking.
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
else:
    # Older Django cannot ask SQLite for that: keep channel sessions in Redis.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
        }
    }
    CHANNEL_SESSION_ENGINE = "django.contrib.sessions.backends.cache"
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "asgi_redis.RedisChannelLayer",
        "CONFIG": {"hosts": [os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")]},
        "ROUTING": "tests.channels.features.e2e_routing.channel_routing",
    }
}
CHANNELS_ORDERING_MAX_WAIT = 10
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"channels": {"handlers": ["console"], "level": "INFO"}},
}
