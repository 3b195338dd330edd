"""The ``channels`` Django app: wiring done once Django is ready."""

from django.apps import AppConfig

__all__ = ["ChannelsConfig"]


class ChannelsConfig(AppConfig):
    name = "channels"
    verbose_name = "Channels"

    def ready(self) -> None:
        from . import checks, hacks

        checks.check_all()
        checks.register()
        hacks.monkeypatch_django()
        self._register_bindings()

    @staticmethod
    def _register_bindings() -> None:
        # Data binding needs django.contrib.auth (and so contenttypes): a
        # project without them, like a bare ``INSTALLED_APPS = ["channels"]``,
        # cannot import it and has no bindings to register.
        from django.apps import apps

        required = ("django.contrib.auth", "django.contrib.contenttypes")
        if not all(apps.is_installed(app) for app in required):
            return
        from .binding.base import BindingMetaclass

        BindingMetaclass.register_all()
