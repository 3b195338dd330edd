"""The ``channels`` Django app (SPEC 5.1): wiring done once Django is ready."""

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
        # Data binding is an optional feature module; register its classes
        # only when it is present.
        try:
            from .binding.base import BindingMetaclass
        except ImportError:
            return
        BindingMetaclass.register_all()
