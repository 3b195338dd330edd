"""The Django app configuration of the delay server."""

from django.apps import AppConfig

__all__ = ["DelayConfig"]


class DelayConfig(AppConfig):
    name = "channels.delay"
    #: 1.x used "channels.delay"; Django requires an identifier.
    label = "channels_delay"
    verbose_name = "Channels Delay"
    default_auto_field = "django.db.models.AutoField"
