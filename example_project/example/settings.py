"""Settings of the example project.

With no environment set it runs on the in-memory layer, so ``manage.py
runserver`` needs nothing else. Set ``REDIS_URL`` (e.g.
``redis://127.0.0.1:6379/0``) to use Redis, and run ``daphne
example.asgi:channel_layer`` plus ``manage.py runworker`` instead.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-change-me")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]"]

INSTALLED_APPS = [
    "channels",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "example",
    "values",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "example.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("EXAMPLE_DB", BASE_DIR / "db.sqlite3"),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
STATIC_URL = "static/"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/chat/lobby/"

# The bot also posts to Slack (through daphne-slack, which reads the same
# variable) when the bot token is in the environment.
SLACK_ENABLED = bool(os.environ.get("SLACK_BOT_TOKEN"))

# Chat rooms keep their last 100 lines for 5 minutes: a browser that lost
# its connection gets the lines it missed when it reconnects.
CHANNEL_GROUP_HISTORY = {"chat-*": {"size": 100, "ttl": 300}}

if os.environ.get("REDIS_URL"):
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "asgi_redis.RedisChannelLayer",
            "CONFIG": {"hosts": [os.environ["REDIS_URL"]]},
            "ROUTING": "example.routing.channel_routing",
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "asgi.inmemory.ChannelLayer",
            "ROUTING": "example.routing.channel_routing",
        }
    }

# The chat's acknowledged welcome notices are logged by example.chat.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"example.chat": {"handlers": ["console"], "level": "INFO"}},
}
