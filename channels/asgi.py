"""The registry of configured channel layers.

See docs/reference/channels.rst, "channels.asgi" and "Settings".

``channel_layers[alias]`` builds the layer named in ``CHANNEL_LAYERS`` on
first use and wraps it with its router. ``get_channel_layer()`` is what a
project's ``asgi.py`` hands to daphne. A project with no ``CHANNEL_LAYERS``
setting at all gets an in-memory ``default`` layer with default routing, so
``runserver`` works on a plain Django project.
"""

from __future__ import annotations

from typing import Any

import django
from django.utils.module_loading import import_string

from asgi.types import ChannelLayer

from ._aliases import DEFAULT_CHANNEL_LAYER

__all__ = [
    "ChannelLayerManager",
    "ChannelLayerWrapper",
    "InvalidChannelLayerError",
    "channel_layers",
    "get_channel_layer",
]

#: Used for ``default`` when the project has no CHANNEL_LAYERS setting.
IMPLICIT_DEFAULT = {"BACKEND": "asgi.inmemory.ChannelLayer", "ROUTING": []}


class InvalidChannelLayerError(ValueError):
    """A ``CHANNEL_LAYERS`` entry is missing, incomplete or not importable."""


class ChannelLayerManager:
    """Lazily builds and caches one wrapped layer per alias."""

    def __init__(self) -> None:
        self.backends: dict[str, ChannelLayerWrapper] = {}

    @property
    def configs(self) -> dict:
        # Read each time (not at import) so override_settings works in tests.
        from django.conf import settings

        configs = getattr(settings, "CHANNEL_LAYERS", None)
        if configs is None:
            return {DEFAULT_CHANNEL_LAYER: IMPLICIT_DEFAULT}
        return configs

    def make_backend(self, name: str) -> ChannelLayerWrapper:
        """Build the layer ``name`` from its ``CONFIG``."""
        config = self._config(name).get("CONFIG", {})
        return self._make_backend(name, config)

    def make_test_backend(self, name: str) -> ChannelLayerWrapper:
        """Build the layer ``name`` from its ``TEST_CONFIG`` (for live-server tests)."""
        try:
            config = self._config(name)["TEST_CONFIG"]
        except KeyError:
            raise InvalidChannelLayerError(
                f"CHANNEL_LAYERS[{name!r}] has no TEST_CONFIG; add one to test against it"
            ) from None
        return self._make_backend(name, config)

    def _config(self, name: str) -> dict:
        try:
            return self.configs[name]
        except KeyError:
            raise InvalidChannelLayerError(
                f"No channel layer {name!r} in CHANNEL_LAYERS (configured: {sorted(self.configs)})"
            ) from None

    def _make_backend(self, name: str, config: dict) -> ChannelLayerWrapper:
        entry = self._config(name)
        backend_path = entry.get("BACKEND")
        if not backend_path:
            raise InvalidChannelLayerError(f"CHANNEL_LAYERS[{name!r}] has no BACKEND")
        try:
            backend_class = import_string(backend_path)
        except ImportError as exc:
            raise InvalidChannelLayerError(
                f"Cannot import BACKEND {backend_path!r} of channel layer {name!r}: {exc}"
            ) from exc
        if "ROUTING" not in entry:
            raise InvalidChannelLayerError(
                f"CHANNEL_LAYERS[{name!r}] has no ROUTING; set it to a dotted path "
                "such as 'myproject.routing.channel_routing', or to []"
            )
        if not isinstance(config, dict):
            raise InvalidChannelLayerError(
                f"CHANNEL_LAYERS[{name!r}] CONFIG must be a dict of keyword arguments, "
                f"got {config!r}"
            )
        return ChannelLayerWrapper(backend_class(**config), name, entry["ROUTING"])

    def __getitem__(self, key: str) -> ChannelLayerWrapper:
        try:
            return self.backends[key]
        except KeyError:
            self.backends[key] = self.make_backend(key)
            return self.backends[key]

    def __contains__(self, key: object) -> bool:
        return key in self.configs

    def set(self, key: str, layer: ChannelLayerWrapper | None) -> ChannelLayerWrapper | None:
        """Replace the layer for ``key`` (tests); return the one it replaced."""
        old = self.backends.get(key)
        if layer is None:
            self.backends.pop(key, None)
        else:
            self.backends[key] = layer
        return old


class ChannelLayerWrapper:
    """A raw ASGI layer plus its alias and router; other attributes go to the layer."""

    def __init__(self, channel_layer: ChannelLayer, alias: str, routing: Any) -> None:
        from .routing import Router

        self.channel_layer = channel_layer
        self.alias = alias
        self.routing = routing
        self.router = Router(self.routing)

    def __getattr__(self, name: str) -> Any:
        if name == "channel_layer":  # not set yet (copy, pickle): avoid recursion
            raise AttributeError(name)
        return getattr(self.channel_layer, name)

    def __str__(self) -> str:
        layer_class = type(self.channel_layer)
        return f"{self.alias} ({layer_class.__module__}.{layer_class.__name__})"

    def local_only(self) -> bool:
        """True for layers that only reach this process (the in-memory layer)."""
        return "inmemory" in type(self.channel_layer).__module__


def get_channel_layer(alias: str = DEFAULT_CHANNEL_LAYER) -> ChannelLayer:
    """Set Django up and return the raw layer ``alias``, for ``daphne project.asgi:channel_layer``."""
    django.setup(set_prefix=False)
    return channel_layers[alias].channel_layer


#: The process-wide registry.
channel_layers = ChannelLayerManager()
