"""Settings of the reliability project; the channel layer is configured from ``REL_*`` variables.

``REL_REDIS_HOSTS`` holds comma-separated Redis URLs (one per shard),
``REL_PREFIX`` a key prefix private to the test, ``REL_CAPACITY`` the
per-channel capacity, ``REL_EXPIRY`` the message expiry (seconds, default
30), ``REL_GROUP_EXPIRY`` the group membership expiry
(seconds), ``REL_KEYS`` comma-separated symmetric encryption keys,
``REL_EVENTS`` the directory where consumers record what they saw,
``REL_TLS_CA`` a CA file for ``rediss://`` hosts, ``REL_BODY_CAPACITY``
the capacity of the ``http.request.body?`` channels, and ``REL_SPIN_WAIT``
the layer's ``spin_wait`` (seconds); ``REL_PRESENCE=1`` adds the presence and
ack routes (``presence.py``), ``REL_HISTORY=1`` the group history routes
(``history.py``).
"""

import os

SECRET_KEY = "reliability-tests-only-not-secret"
DEBUG = os.environ.get("REL_DEBUG") == "1"
USE_TZ = True
# Origin checks (AllowedHostsOnlyOriginValidator) compare against these.
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "channels",
]
MIDDLEWARE = []
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
ROOT_URLCONF = "tests.reliability.project.urls"
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"


def _layer_config() -> dict:
    config: dict = {
        "hosts": [h for h in os.environ.get("REL_REDIS_HOSTS", "").split(",") if h],
        "prefix": os.environ.get("REL_PREFIX", "rel:"),
        "capacity": int(os.environ.get("REL_CAPACITY", "100")),
        "expiry": int(os.environ.get("REL_EXPIRY", "30")),
    }
    if os.environ.get("REL_GROUP_EXPIRY"):
        config["group_expiry"] = int(os.environ["REL_GROUP_EXPIRY"])
    if os.environ.get("REL_KEYS"):
        config["symmetric_encryption_keys"] = os.environ["REL_KEYS"].split(",")
    if os.environ.get("REL_BODY_CAPACITY"):
        config["channel_capacity"] = {"http.request.body?*": int(os.environ["REL_BODY_CAPACITY"])}
    if os.environ.get("REL_SPIN_WAIT"):
        config["spin_wait"] = float(os.environ["REL_SPIN_WAIT"])
    if os.environ.get("REL_TLS_CA"):
        config["connection_kwargs"] = {"ssl_ca_certs": os.environ["REL_TLS_CA"]}
    return config


CHANNEL_LAYERS = {
    "default": {
        "BACKEND": os.environ.get("REL_BACKEND", "asgi_redis.RedisChannelLayer"),
        "CONFIG": _layer_config(),
        "ROUTING": "tests.reliability.project.routing.channel_routing",
    }
}
if os.environ.get("REL_NO_ROUTING") == "1":
    del CHANNEL_LAYERS["default"]["ROUTING"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "INFO"},
}
