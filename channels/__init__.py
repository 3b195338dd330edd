"""Django Channels 1.x on modern Django: the package root.

See docs/reference/channels.rst, "channels".

It re-exports the names 1.x projects import from ``channels`` directly.
Nothing here reads settings, so ``asgi.py`` files may import it before
``DJANGO_SETTINGS_MODULE`` is set.
"""

from asgi._version import __version__

from ._aliases import DEFAULT_CHANNEL_LAYER

#: Kept for 1.x projects that read it; modern Django finds the config itself.
default_app_config = "channels.apps.ChannelsConfig"

try:
    import django  # noqa: F401
except ImportError:  # pragma: no cover - lets tools import the package without Django
    pass
else:
    from .asgi import channel_layers
    from .channel import Channel, Group
    from .routing import include, route, route_class

__all__ = [
    "DEFAULT_CHANNEL_LAYER",
    "Channel",
    "Group",
    "__version__",
    "channel_layers",
    "include",
    "route",
    "route_class",
]
